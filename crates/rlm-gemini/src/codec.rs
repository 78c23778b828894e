//! The `generateContent` wire format: request bodies out, responses in. Pure functions, no
//! HTTP, so they are tested against recorded fixtures.

use rlm_core::{CompletionRequest, CompletionResponse, FinishReason, LlmError, Role, Usage};
use rlm_http::codec;
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
}

/// Serialises `request` as a `generateContent` body (the model goes in the URL, not the body):
/// `{"contents": [{"role": "user"|"model", "parts": [{"text"}]}], "systemInstruction":
/// {"parts": [{"text"}]}, "generationConfig": {"temperature", "topP", "maxOutputTokens",
/// "stopSequences", "seed"}}`.
///
/// - System messages, wherever they are, become `systemInstruction` (joined by a blank line).
/// - Assistant messages have the role `model`; consecutive messages of the same role are merged
///   into one (joined by a blank line).
/// - `generationConfig` is left out when no sampling value is set.
///
/// Fails with [`LlmError::Config`] when there is no user or model message, a sampling value is
/// not finite, or the seed does not fit the API's 32-bit integer.
pub fn encode_request(request: &CompletionRequest) -> Result<Vec<u8>, LlmError> {
    codec::check_sampling(request)?;
    let seed = match request.seed {
        None => None,
        Some(seed) => Some(i32::try_from(seed).map_err(|_| {
            codec::config_error(format!(
                "seed {seed} does not fit Gemini's 32-bit seed (at most {})",
                i32::MAX
            ))
        })?),
    };
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let mut contents: Vec<WireContent> = Vec::new();
    for message in request.messages.iter().filter(|m| m.role != Role::System) {
        let role = if message.role == Role::Assistant {
            "model"
        } else {
            "user"
        };
        match contents.last_mut() {
            Some(last) if last.role == role => {
                last.parts[0].text.push_str("\n\n");
                last.parts[0].text.push_str(&message.content);
            }
            _ => contents.push(WireContent {
                role,
                parts: [WirePart {
                    text: message.content.clone(),
                }],
            }),
        }
    }
    if contents.is_empty() {
        return Err(codec::config_error(
            "the request has no user or model message (generateContent needs one)",
        ));
    }
    let generation = WireConfig {
        temperature: request.temperature,
        top_p: request.top_p,
        max_output_tokens: request.max_tokens,
        stop_sequences: &request.stop,
        seed,
    };
    let has_config = generation.temperature.is_some()
        || generation.top_p.is_some()
        || generation.max_output_tokens.is_some()
        || !generation.stop_sequences.is_empty()
        || generation.seed.is_some();
    let wire = WireRequest {
        contents,
        system_instruction: (!system.is_empty()).then(|| WireSystem {
            parts: [WirePart {
                text: system.join("\n\n"),
            }],
        }),
        generation_config: has_config.then_some(generation),
    };
    codec::encode_json(&wire)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    #[serde(default)]
    candidates: Option<Vec<WireCandidate>>,
    #[serde(default)]
    prompt_feedback: Option<WireFeedback>,
    #[serde(default)]
    usage_metadata: Option<WireUsage>,
    #[serde(default)]
    model_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate {
    #[serde(default)]
    content: Option<WireResponseContent>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireResponseContent {
    #[serde(default)]
    parts: Option<Vec<WireResponsePart>>,
}

#[derive(Deserialize)]
struct WireResponsePart {
    #[serde(default)]
    text: Option<String>,
    /// A thought summary of a thinking model: not part of the answer.
    #[serde(default)]
    thought: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    candidates_token_count: Option<u64>,
    #[serde(default)]
    cached_content_token_count: Option<u64>,
    #[serde(default)]
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

#[cfg(test)]
mod tests {
    use rlm_core::Message;
    use serde_json::{Value, json};

    use super::*;

    fn encode(request: &CompletionRequest) -> Value {
        serde_json::from_slice(&encode_request(request).unwrap()).unwrap()
    }

    #[test]
    fn roles_map_system_is_hoisted_and_same_roles_merge() {
        let request = CompletionRequest::new(vec![
            Message::system("a"),
            Message::user("u1"),
            Message::user("u2"),
            Message::assistant("x"),
            Message::system("b"),
            Message::assistant("y"),
        ]);
        let body = encode(&request);
        assert_eq!(
            body["systemInstruction"],
            json!({"parts": [{"text": "a\n\nb"}]})
        );
        assert_eq!(
            body["contents"],
            json!([
                {"role": "user", "parts": [{"text": "u1\n\nu2"}]},
                {"role": "model", "parts": [{"text": "x\n\ny"}]},
            ])
        );
        assert!(body.get("generationConfig").is_none());
    }

    #[test]
    fn invalid_requests_are_config_errors() {
        let user = || vec![Message::user("u")];
        let cases = [
            CompletionRequest::new(vec![Message::system("only system")]),
            CompletionRequest {
                temperature: Some(f32::NAN),
                ..CompletionRequest::new(user())
            },
            CompletionRequest {
                seed: Some(u64::from(u32::MAX)),
                ..CompletionRequest::new(user())
            },
        ];
        for request in &cases {
            assert!(
                matches!(encode_request(request), Err(LlmError::Config { .. })),
                "{request:?}"
            );
        }
    }

    #[test]
    fn finish_reasons_map() {
        let cases: &[(Option<&str>, FinishReason)] = &[
            (None, FinishReason::Unknown),
            (Some("FINISH_REASON_UNSPECIFIED"), FinishReason::Unknown),
            (Some("STOP"), FinishReason::Stop),
            (Some("MAX_TOKENS"), FinishReason::Length),
            (Some("SAFETY"), FinishReason::ContentFilter),
            (Some("RECITATION"), FinishReason::ContentFilter),
            (Some("BLOCKLIST"), FinishReason::ContentFilter),
            (Some("PROHIBITED_CONTENT"), FinishReason::ContentFilter),
            (Some("SPII"), FinishReason::ContentFilter),
            (Some("LANGUAGE"), FinishReason::Other("LANGUAGE".into())),
            (Some("OTHER"), FinishReason::Other("OTHER".into())),
        ];
        for (raw, want) in cases {
            assert_eq!(&finish_reason(*raw), want, "{raw:?}");
        }
    }
}
