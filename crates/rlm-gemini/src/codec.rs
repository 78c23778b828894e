//! The `generateContent` wire format: request bodies out, responses in. Pure functions, no
//! HTTP, so they are tested against recorded fixtures.

use rlm_core::{CompletionRequest, CompletionResponse, FinishReason, LlmError, Role, Usage};
use rlm_http::codec;
use rlm_http::merge_patch::encode_json_with_extra;
use serde::{Deserialize, Serialize};

use crate::error_body::{self, ErrorInfo};

/// `finishReason` values that mean a safety or policy filter withheld the answer.
const FILTER_REASONS: &[&str] = &[
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
];

#[derive(Serialize)]
struct WireRequest<'a> {
    contents: Vec<WireContent>,
    #[serde(rename = "systemInstruction", skip_serializing_if = "Option::is_none")]
    system_instruction: Option<WireSystem>,
    #[serde(rename = "generationConfig", skip_serializing_if = "Option::is_none")]
    generation_config: Option<WireConfig<'a>>,
}

#[derive(Serialize)]
struct WireContent {
    role: &'static str,
    parts: [WirePart; 1],
}

#[derive(Serialize)]
struct WireSystem {
    parts: [WirePart; 1],
}

#[derive(Serialize)]
struct WirePart {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<WireThinking>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireThinking {
    thinking_budget: u32,
}

/// Serialises `request` as a `generateContent` body (the model goes in the URL, not the body):
/// `{"contents": [{"role": "user"|"model", "parts": [{"text"}]}], "systemInstruction":
/// {"parts": [{"text"}]}, "generationConfig": {"temperature", "topP", "maxOutputTokens",
/// "stopSequences", "seed", "thinkingConfig": {"thinkingBudget"}}}`, then applies the provider
/// extras (`sampling.extra_body`, a JSON Merge Patch: they win over every field above, and
/// an object such as `{"generationConfig": {"topK": 40}}` merges into the one built here).
///
/// - System messages, wherever they are, become `systemInstruction` (joined by a blank line).
/// - Assistant messages have the role `model`; consecutive messages of the same role are merged
///   into one (joined by a blank line).
/// - `generationConfig` is left out when no sampling value is set.
/// - A reasoning effort is a thinking budget of [`rlm_core::ReasoningEffort::budget_tokens`]
///   tokens (1,024, 8,192 or 24,576). Gemini 3's `thinkingLevel` goes through the extras
///   (with `"thinkingBudget": null`: the API refuses both).
///
/// Fails with [`LlmError::Config`] when there is no user or model message, a sampling value is
/// not finite, or the seed does not fit the API's 32-bit integer.
pub fn encode_request(request: &CompletionRequest) -> Result<Vec<u8>, LlmError> {
    codec::check_sampling(request)?;
    let sampling = &request.sampling;
    let seed = match sampling.seed {
        None => None,
        Some(seed) => Some(i32::try_from(seed).map_err(|_| {
            codec::config_error(format!(
                "seed {seed} does not fit Gemini's 32-bit seed (at most {})",
                i32::MAX
            ))
        })?),
    };
    let codec::SystemAndTurns { system, turns } = codec::system_and_turns(
        request,
        "the request has no user or model message (generateContent needs one)",
    )?;
    let contents = turns
        .into_iter()
        .map(|(role, text)| WireContent {
            role: if role == Role::Assistant {
                "model"
            } else {
                "user"
            },
            parts: [WirePart { text }],
        })
        .collect();
    let generation = WireConfig {
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        max_output_tokens: sampling.max_tokens,
        stop_sequences: &sampling.stop,
        seed,
        thinking_config: sampling.reasoning_effort.map(|effort| WireThinking {
            thinking_budget: effort.budget_tokens(),
        }),
    };
    let has_config = generation.temperature.is_some()
        || generation.top_p.is_some()
        || generation.max_output_tokens.is_some()
        || !generation.stop_sequences.is_empty()
        || generation.seed.is_some()
        || generation.thinking_config.is_some();
    let wire = WireRequest {
        contents,
        system_instruction: system.map(|text| WireSystem {
            parts: [WirePart { text }],
        }),
        generation_config: has_config.then_some(generation),
    };
    encode_json_with_extra(&wire, &sampling.extra_body)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    candidates: Option<Vec<WireCandidate>>,
    prompt_feedback: Option<WireFeedback>,
    usage_metadata: Option<WireUsage>,
    model_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate {
    content: Option<WireResponseContent>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireResponseContent {
    parts: Option<Vec<WireResponsePart>>,
}

#[derive(Deserialize)]
struct WireResponsePart {
    text: Option<String>,
    /// A thought summary of a thinking model: not part of the answer.
    thought: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    cached_content_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
}

/// Maps a `finishReason` to a [`FinishReason`]: `STOP` is [`FinishReason::Stop`], `MAX_TOKENS`
/// [`FinishReason::Length`], the safety and policy stops (`SAFETY`, `RECITATION`, `BLOCKLIST`,
/// `PROHIBITED_CONTENT`, `SPII`, `IMAGE_SAFETY`, ...) [`FinishReason::ContentFilter`], a missing
/// one or `FINISH_REASON_UNSPECIFIED` [`FinishReason::Unknown`], anything else (`LANGUAGE`,
/// `OTHER`, `MALFORMED_FUNCTION_CALL`, ...) [`FinishReason::Other`].
pub fn finish_reason(raw: Option<&str>) -> FinishReason {
    match raw {
        None | Some("" | "FINISH_REASON_UNSPECIFIED") => FinishReason::Unknown,
        Some("STOP") => FinishReason::Stop,
        Some("MAX_TOKENS") => FinishReason::Length,
        Some(r) if FILTER_REASONS.contains(&r) => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_string()),
    }
}

/// Decodes the body of an HTTP 2xx response. HTTP 200 is not yet success:
///
/// - a body that is not JSON: [`LlmError::InvalidResponse`] with the first 2 KiB;
/// - an error object (`{"error": {"code", "message", "status"}}`): classified like a status
///   error (see [`error_body::classify_body_error`]);
/// - `promptFeedback.blockReason` (the prompt itself was blocked) or a safety `finishReason`:
///   [`LlmError::ContentFilter`]; `MAX_TOKENS`: [`LlmError::Truncated`];
/// - no candidate, or no text: [`LlmError::EmptyCompletion`].
///
/// The text is the first candidate's `parts[].text` joined, thought summaries left out. Usage:
/// `promptTokenCount` in, `candidatesTokenCount + thoughtsTokenCount` out (thinking is billed
/// as output), `cachedContentTokenCount` cached. `requested_model` fills in `model` when the
/// response has no `modelVersion`.
pub fn decode_response(body: &[u8], requested_model: &str) -> Result<CompletionResponse, LlmError> {
    let wire: WireResponse =
        codec::decode_json(body, "a generateContent response", |value, text| {
            ErrorInfo::from_json(value).map(|info| error_body::classify_body_error(&info, text))
        })?;
    let usage = wire.usage_metadata.unwrap_or_default();
    let usage = Usage {
        input_tokens: usage.prompt_token_count.unwrap_or(0),
        output_tokens: usage
            .candidates_token_count
            .unwrap_or(0)
            .saturating_add(usage.thoughts_token_count.unwrap_or(0)),
        cached_tokens: usage.cached_content_token_count.unwrap_or(0),
        cost: None,
        calls: 1,
    };
    let candidate = wire.candidates.and_then(|c| c.into_iter().next());
    let Some(candidate) = candidate else {
        if wire
            .prompt_feedback
            .and_then(|f| f.block_reason)
            .is_some_and(|r| !r.is_empty() && r != "BLOCK_REASON_UNSPECIFIED")
        {
            return Err(LlmError::ContentFilter);
        }
        return Err(LlmError::EmptyCompletion {
            finish_reason: "unknown (no candidates)".into(),
        });
    };
    let raw_reason = candidate.finish_reason.filter(|r| !r.is_empty());
    let finish = finish_reason(raw_reason.as_deref());
    codec::check_finish(&finish, || {
        "finishReason MAX_TOKENS: maxOutputTokens was reached".into()
    })?;
    let text: String = candidate
        .content
        .and_then(|c| c.parts)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.thought != Some(true))
        .filter_map(|p| p.text)
        .collect();
    codec::completion(
        wire.model_version,
        requested_model,
        text,
        raw_reason,
        finish,
        usage,
    )
}
