//! The completion bodies of the providers the fake server can speak besides OpenAI's: the
//! Anthropic Messages API and Gemini's `generateContent`, and their error bodies.

use serde_json::{Value, json};

use crate::reply::{ChatReply, RecordedRequest, Reply};

/// The wire format a completion reply is rendered in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wire {
    /// OpenAI chat completions (`choices[0].message.content`, `usage.prompt_tokens`).
    #[default]
    OpenAi,
    /// The Anthropic Messages API (`content[0].text`, `stop_reason`, `usage.input_tokens`).
    Anthropic,
    /// Gemini `generateContent` (`candidates[0].content.parts`, `finishReason`,
    /// `usageMetadata`).
    Gemini,
}

impl Wire {
    /// The finish reason a normal completion carries in this format.
    pub(crate) fn default_finish_reason(self) -> &'static str {
        match self {
            Wire::OpenAi => "stop",
            Wire::Anthropic => "end_turn",
            Wire::Gemini => "STOP",
        }
    }
}

/// The model in a Gemini path, `/v1beta/models/{model}:generateContent` (query ignored).
pub(crate) fn gemini_path_model(path: &str) -> Option<&str> {
    let path = path.split('?').next()?;
    let rest = &path[path.find("/models/")? + "/models/".len()..];
    let model = rest.split(':').next()?;
    (!model.is_empty()).then_some(model)
}

/// An Anthropic message. `prompt_tokens` is the whole prompt: the part read from the cache
/// (`cache_read_input_tokens`) and the part written to it (`cache_creation_input_tokens`) are
/// taken out of `input_tokens`, as the API reports them.
pub(crate) fn anthropic_json(chat: &ChatReply, model: String, id: u64) -> Value {
    let cache_read = chat.cached_tokens.unwrap_or(0);
    let cache_creation = chat.cache_creation_tokens.unwrap_or(0);
    let input = chat
        .prompt_tokens
        .saturating_sub(cache_read)
        .saturating_sub(cache_creation);
    let content = if chat.text.is_empty() {
        json!([])
    } else {
        json!([{ "type": "text", "text": chat.text }])
    };
    json!({
        "id": format!("msg_fake_{id}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": chat.finish_reason,
        "stop_sequence": null,
        "usage": {
            "input_tokens": input,
            "cache_creation_input_tokens": cache_creation,
            "cache_read_input_tokens": cache_read,
            "output_tokens": chat.completion_tokens,
            "service_tier": "standard",
        },
    })
}

/// A Gemini `GenerateContentResponse`. An empty text leaves the candidate without `content`, as
/// the API does for a safety stop.
pub(crate) fn gemini_json(chat: &ChatReply, model: String, id: u64) -> Value {
    let mut candidate = json!({ "finishReason": chat.finish_reason, "index": 0 });
    if !chat.text.is_empty() {
        candidate["content"] = json!({ "parts": [{ "text": chat.text }], "role": "model" });
    }
    let mut usage = json!({
        "promptTokenCount": chat.prompt_tokens,
        "candidatesTokenCount": chat.completion_tokens,
        "totalTokenCount": chat.prompt_tokens.saturating_add(chat.completion_tokens),
    });
    if let Some(cached) = chat.cached_tokens {
        usage["cachedContentTokenCount"] = json!(cached);
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": format!("fake-response-{id}"),
    })
}

/// The model a reply names: its own, else the request's (body `model`, or Gemini's path).
pub(crate) fn reply_model(chat: &ChatReply, request: &RecordedRequest) -> String {
    chat.model
        .clone()
        .or_else(|| request.model().map(str::to_string))
        .unwrap_or_else(|| Reply::DEFAULT_MODEL.to_string())
}

/// An Anthropic error body: `{"type": "error", "error": {"type", "message"}, "request_id"}`.
pub(crate) fn anthropic_error_json(kind: &str, message: &str) -> Value {
    json!({
        "type": "error",
        "error": { "type": kind, "message": message },
        "request_id": "req_fake_0001",
    })
}

/// A Google API error body: `{"error": {"code", "message", "status"}}`.
pub(crate) fn gemini_error_json(code: u16, status: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message, "status": status } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_model_comes_from_the_path() {
        let cases = [
            (
                "/v1beta/models/gemini-2.5-flash:generateContent",
                Some("gemini-2.5-flash"),
            ),
            ("/v1beta/models/m:generateContent?alt=json", Some("m")),
            ("/v1/chat/completions", None),
            ("/v1beta/models/:generateContent", None),
        ];
        for (path, want) in cases {
            assert_eq!(gemini_path_model(path), want, "{path}");
        }
    }
}
