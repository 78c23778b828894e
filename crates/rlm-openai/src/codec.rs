//! The chat-completions wire format: request bodies out, responses in. Pure functions, no HTTP,
//! so they are tested against recorded fixtures.

use rlm_core::{
    CompletionRequest, CompletionResponse, FinishReason, LlmError, ReasoningEffort, Usage,
};
use rlm_http::codec;
use rlm_http::merge_patch::encode_json_with_extra;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error_body::{self, ErrorInfo};

/// Which field carries the output-token cap ([`rlm_core::Sampling::max_tokens`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MaxTokensField {
    /// `max_tokens`: understood by every OpenAI-compatible server (vLLM, Ollama, llama.cpp, ...).
    #[default]
    MaxTokens,
    /// `max_completion_tokens`: required by newer OpenAI models (o-series, GPT-5), which refuse
    /// `max_tokens`.
    MaxCompletionTokens,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'a str,
    content: &'a str,
}

/// Serialises `request` as a chat-completions body:
/// `{"model", "messages": [{"role", "content"}], "temperature", "top_p", "max_tokens" (or
/// `max_completion_tokens`), "stop", "seed", "reasoning_effort"}`, leaving out every unset
/// field, then applies the provider extras (`sampling.extra_body`, a JSON Merge Patch: they
/// win over every field above).
///
/// The output-token cap goes in `max_completion_tokens` when `max_tokens_field` says so, and
/// also whenever a reasoning effort is set: the models that take `reasoning_effort` (o-series,
/// GPT-5) refuse `max_tokens`, and every current OpenAI-compatible server that knows
/// `reasoning_effort` knows `max_completion_tokens` too.
///
/// Fails with [`LlmError::Config`] when no model is named or a sampling value is not finite.
pub fn encode_request(
    request: &CompletionRequest,
    default_model: &str,
    max_tokens_field: MaxTokensField,
) -> Result<Vec<u8>, LlmError> {
    encode(request, default_model, max_tokens_field, false)
}

/// The body of [`encode_request`] asking for a stream: `"stream": true` and
/// `"stream_options": {"include_usage": true}`, so the last event carries the usage (servers
/// that do not know `stream_options` ignore it; the provider extras can remove it with
/// `"stream_options": null`).
pub fn encode_stream_request(
    request: &CompletionRequest,
    default_model: &str,
    max_tokens_field: MaxTokensField,
) -> Result<Vec<u8>, LlmError> {
    encode(request, default_model, max_tokens_field, true)
}

fn encode(
    request: &CompletionRequest,
    default_model: &str,
    max_tokens_field: MaxTokensField,
    stream: bool,
) -> Result<Vec<u8>, LlmError> {
    let model = codec::named_model(request, default_model)?;
    codec::check_sampling(request)?;
    let sampling = &request.sampling;
    let completion_field = max_tokens_field == MaxTokensField::MaxCompletionTokens
        || sampling.reasoning_effort.is_some();
    let (max_tokens, max_completion_tokens) = if completion_field {
        (None, sampling.max_tokens)
    } else {
        (sampling.max_tokens, None)
    };
    let wire = WireRequest {
        model,
        messages: request
            .messages
            .iter()
            .map(|m| WireMessage {
                role: m.role.as_str(),
                content: &m.content,
            })
            .collect(),
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        max_tokens,
        max_completion_tokens,
        stop: &sampling.stop,
        seed: sampling.seed,
        reasoning_effort: sampling.reasoning_effort.map(ReasoningEffort::as_str),
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
    };
    encode_json_with_extra(&wire, &sampling.extra_body)
}

#[derive(Deserialize)]
struct WireResponse {
    model: Option<String>,
    choices: Option<Vec<WireChoice>>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: Option<WireResponseMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireResponseMessage {
    content: Option<Value>,
}

#[derive(Deserialize, Default)]
pub(crate) struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<WirePromptDetails>,
    /// DeepSeek's name for cached prompt tokens.
    prompt_cache_hit_tokens: Option<u64>,
    /// OpenRouter's cost in USD (credits).
    cost: Option<f64>,
}

#[derive(Deserialize)]
struct WirePromptDetails {
    cached_tokens: Option<u64>,
}

impl WireUsage {
    /// The usage of one call.
    pub(crate) fn into_usage(self) -> Usage {
        Usage {
            input_tokens: self.prompt_tokens.unwrap_or(0),
            output_tokens: self.completion_tokens.unwrap_or(0),
            cached_tokens: self
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .or(self.prompt_cache_hit_tokens)
                .unwrap_or(0),
            cost: self.cost.filter(|c| c.is_finite()),
            calls: 1,
        }
    }
}

/// The text of a message `content`: a string, or an array of parts whose `text` fields are
/// joined (some servers send `[{"type": "text", "text": ...}]`). `None` when absent or null.
pub(crate) fn content_text(content: Option<&Value>) -> Result<Option<String>, &'static str> {
    match content {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(parts)) => Ok(Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
        )),
        Some(_) => Err("message content is neither a string nor a list of parts"),
    }
}

/// Decodes the body of an HTTP 2xx response. HTTP 200 is not yet success:
///
/// - a body that is not JSON: [`LlmError::InvalidResponse`] with the first 2 KiB;
/// - an error object (`{"error": {...}}`, or vLLM's `{"object": "error", ...}`): classified like a
///   status error (see [`error_body::classify_body_error`]);
/// - no choices, or `content` null or missing or empty: [`LlmError::EmptyCompletion`];
/// - `finish_reason` `length`: [`LlmError::Truncated`]; `content_filter`:
///   [`LlmError::ContentFilter`].
///
/// `finish_reason` is an open set: unknown values, `null` and `""` are fine when there is text.
/// `requested_model` fills in `model` when the server leaves it out.
pub fn decode_response(body: &[u8], requested_model: &str) -> Result<CompletionResponse, LlmError> {
    let wire: WireResponse = codec::decode_json(body, "a chat completion", |value, text| {
        ErrorInfo::from_json(value).map(|info| error_body::classify_body_error(&info, text))
    })?;
    let usage = wire.usage.unwrap_or_default().into_usage();
    let Some(choice) = wire.choices.and_then(|c| c.into_iter().next()) else {
        return Err(LlmError::EmptyCompletion {
            finish_reason: "unknown (no choices)".into(),
        });
    };
    let raw_reason = choice.finish_reason.filter(|r| !r.is_empty());
    let finish_reason = FinishReason::parse(raw_reason.as_deref());
    codec::check_finish(&finish_reason, || {
        "finish_reason length: max_tokens or the context window was reached".into()
    })?;
    let text = content_text(choice.message.as_ref().and_then(|m| m.content.as_ref()))
        .map_err(|r| codec::invalid(r, body))?;
    codec::completion(
        wire.model,
        requested_model,
        text.unwrap_or_default(),
        raw_reason,
        finish_reason,
        usage,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_parts_are_joined() {
        let body = br#"{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},"finish_reason":"stop"}]}"#;
        let resp = decode_response(body, "m").unwrap();
        assert_eq!((resp.text.as_str(), resp.model.as_str()), ("ab", "m"));
        assert_eq!(resp.usage.calls, 1);
    }

    #[test]
    fn non_finite_sampling_is_a_config_error() {
        let req = CompletionRequest {
            sampling: rlm_core::Sampling {
                temperature: Some(f32::NAN),
                ..rlm_core::Sampling::default()
            },
            ..CompletionRequest::default()
        };
        assert!(matches!(
            encode_request(&req, "m", MaxTokensField::MaxTokens),
            Err(LlmError::Config { .. })
        ));
        assert!(matches!(
            encode_request(&CompletionRequest::default(), "", MaxTokensField::MaxTokens),
            Err(LlmError::Config { .. })
        ));
    }
}
