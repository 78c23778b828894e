//! The Messages API wire format: request bodies out, responses in. Pure functions, no HTTP,
//! so they are tested against recorded fixtures.

use rlm_core::{
    CompletionRequest, CompletionResponse, FinishReason, LlmError, ReasoningEffort, Sampling, Usage,
};
use rlm_http::codec;
use rlm_http::merge_patch::encode_json_with_extra;
use serde::{Deserialize, Serialize};

use crate::error_body::{self, ErrorInfo};

/// `max_tokens` sent when neither the request nor the client sets one (the API requires it).
pub const DEFAULT_MAX_TOKENS: u32 = 8192;

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<WireThinking>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct WireThinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u32,
}

/// The lowest `top_p` the API accepts with extended thinking.
pub const THINKING_MIN_TOP_P: f32 = 0.95;

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'a str,
    content: String,
}

/// Serialises `request` as a Messages API body:
/// `{"model", "max_tokens", "system", "messages": [{"role", "content"}], "temperature",
/// "top_p", "stop_sequences", "thinking"}`, then applies the provider extras
/// (`sampling.extra_body`, a JSON Merge Patch: they win over every field above).
///
/// - System messages, wherever they are, become the top-level `system` field (joined by a blank
///   line); the API has no `system` role.
/// - Consecutive messages of the same role are merged into one (joined by a blank line), so the
///   roles alternate as the API requires.
/// - `max_tokens` is always sent: the request's, else `default_max_tokens`.
/// - `seed` is not part of the API and is left out.
/// - A reasoning effort turns on extended thinking, `"thinking": {"type": "enabled",
///   "budget_tokens": B}` with B = [`rlm_core::ReasoningEffort::budget_tokens`] (1,024, 8,192
///   or 24,576). The API counts thinking in `max_tokens` and needs it above B: a request
///   without a cap gets `default_max_tokens + B`, so the answer keeps its usual room.
///
/// Fails with [`LlmError::Config`] when no model is named, there is no user or assistant
/// message, or a sampling value is not finite; and, with a reasoning effort, when a
/// temperature is set (the API refuses any with thinking), `top_p` is below
/// [`THINKING_MIN_TOP_P`], or the request's `max_tokens` is not above the budget. The message
/// says what to change.
pub fn encode_request(
    request: &CompletionRequest,
    default_model: &str,
    default_max_tokens: u32,
) -> Result<Vec<u8>, LlmError> {
    encode(request, default_model, default_max_tokens, false)
}

/// The body of [`encode_request`] with `"stream": true` (the Messages API reports usage in
/// its `message_start` and `message_delta` events).
pub fn encode_stream_request(
    request: &CompletionRequest,
    default_model: &str,
    default_max_tokens: u32,
) -> Result<Vec<u8>, LlmError> {
    encode(request, default_model, default_max_tokens, true)
}

fn encode(
    request: &CompletionRequest,
    default_model: &str,
    default_max_tokens: u32,
    stream: bool,
) -> Result<Vec<u8>, LlmError> {
    let model = codec::named_model(request, default_model)?;
    codec::check_sampling(request)?;
    let sampling = &request.sampling;
    let (max_tokens, thinking) = match sampling.reasoning_effort {
        None => (sampling.max_tokens.unwrap_or(default_max_tokens), None),
        Some(effort) => thinking(sampling, effort, default_max_tokens)?,
    };
    let codec::SystemAndTurns { system, turns } = codec::system_and_turns(
        request,
        "the request has no user or assistant message (the Messages API needs one)",
    )?;
    let messages = turns
        .into_iter()
        .map(|(role, content)| WireMessage {
            role: role.as_str(),
            content,
        })
        .collect();
    let wire = WireRequest {
        model,
        max_tokens,
        system,
        messages,
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        stop_sequences: &sampling.stop,
        thinking,
        stream,
    };
    encode_json_with_extra(&wire, &sampling.extra_body)
}

/// `max_tokens` and the `thinking` object of a request with a reasoning effort (see
/// [`encode_request`]).
fn thinking(
    sampling: &Sampling,
    effort: ReasoningEffort,
    default_max_tokens: u32,
) -> Result<(u32, Option<WireThinking>), LlmError> {
    let budget = effort.budget_tokens();
    if let Some(t) = sampling.temperature {
        return Err(codec::config_error(format!(
            "temperature {t} cannot be sent with reasoning effort {effort}: Anthropic's extended \
             thinking takes no temperature; leave the temperature unset or drop the reasoning effort"
        )));
    }
    if let Some(p) = sampling.top_p.filter(|p| *p < THINKING_MIN_TOP_P) {
        return Err(codec::config_error(format!(
            "top_p {p} cannot be sent with reasoning effort {effort}: Anthropic's extended \
             thinking takes a top_p between {THINKING_MIN_TOP_P} and 1"
        )));
    }
    let max_tokens = match sampling.max_tokens {
        Some(max) if max <= budget => {
            return Err(codec::config_error(format!(
                "max output tokens {max} must be above the thinking budget of reasoning effort \
                 {effort} ({budget} tokens; Anthropic counts thinking in max_tokens): raise the \
                 cap or lower the effort"
            )));
        }
        Some(max) => max,
        None => default_max_tokens.saturating_add(budget),
    };
    Ok((
        max_tokens,
        Some(WireThinking {
            kind: "enabled",
            budget_tokens: budget,
        }),
    ))
}

#[derive(Deserialize)]
struct WireResponse {
    model: Option<String>,
    content: Option<Vec<WireBlock>>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// The usage of one call: the API's `input_tokens` counts only the uncached part of the
    /// prompt, so the cache reads and writes are added back.
    pub(crate) fn into_usage(self) -> Usage {
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: self
                .input_tokens
                .unwrap_or(0)
                .saturating_add(self.cache_creation_input_tokens.unwrap_or(0))
                .saturating_add(cache_read),
            output_tokens: self.output_tokens.unwrap_or(0),
            cached_tokens: cache_read,
            cost: None,
            calls: 1,
        }
    }
}

/// Maps a `stop_reason` to a [`FinishReason`]: `end_turn` and `stop_sequence` are
/// [`FinishReason::Stop`], `max_tokens` and `model_context_window_exceeded`
/// [`FinishReason::Length`], `refusal` [`FinishReason::ContentFilter`], `tool_use`
/// [`FinishReason::ToolCalls`], a missing one [`FinishReason::Unknown`], anything else (such as
/// `pause_turn`) [`FinishReason::Other`].
pub fn finish_reason(stop_reason: Option<&str>) -> FinishReason {
    match stop_reason {
        None | Some("") => FinishReason::Unknown,
        Some("end_turn" | "stop_sequence") => FinishReason::Stop,
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("refusal") => FinishReason::ContentFilter,
        Some("tool_use") => FinishReason::ToolCalls,
        Some(other) => FinishReason::Other(other.to_string()),
    }
}

/// Decodes the body of an HTTP 2xx response. HTTP 200 is not yet success:
///
/// - a body that is not JSON: [`LlmError::InvalidResponse`] with the first 2 KiB;
/// - an error object (`{"type": "error", "error": {...}}`): classified like a status error by
///   its type (`overloaded_error` as a 529, `api_error` as a 500, ...; see
///   [`error_body::classify_body_error`]);
/// - `stop_reason` `max_tokens` (or `model_context_window_exceeded`): [`LlmError::Truncated`];
///   `refusal`: [`LlmError::ContentFilter`];
/// - no text block, or only empty ones: [`LlmError::EmptyCompletion`].
///
/// The text is the `text` blocks joined; `thinking` and `tool_use` blocks are left out. Usage:
/// the API's `input_tokens` counts only the uncached part of the prompt, so `input_tokens` here
/// is `input_tokens + cache_creation_input_tokens + cache_read_input_tokens`, and
/// `cached_tokens` is `cache_read_input_tokens`. `requested_model` fills in `model` when the
/// server leaves it out.
pub fn decode_response(body: &[u8], requested_model: &str) -> Result<CompletionResponse, LlmError> {
    let wire: WireResponse = codec::decode_json(body, "a Messages API response", |value, text| {
        ErrorInfo::from_json(value).map(|info| error_body::classify_body_error(&info, text))
    })?;
    let usage = wire.usage.unwrap_or_default().into_usage();
    let raw_reason = wire.stop_reason.filter(|r| !r.is_empty());
    let finish = finish_reason(raw_reason.as_deref());
    codec::check_finish(&finish, || {
        format!(
            "stop_reason {}: max_tokens or the context window was reached",
            raw_reason.as_deref().unwrap_or("max_tokens")
        )
    })?;
    let Some(blocks) = wire.content else {
        return Err(codec::invalid("the response has no content", body));
    };
    let text: String = blocks
        .iter()
        .filter(|b| b.kind.as_deref() == Some("text"))
        .filter_map(|b| b.text.as_deref())
        .collect();
    codec::completion(wire.model, requested_model, text, raw_reason, finish, usage)
}
