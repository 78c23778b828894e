//! Classification of error responses: HTTP status plus the `{"error": {...}}` body that
//! OpenAI-compatible servers send, into a typed [`LlmError`]. Pure functions, no HTTP.

use std::time::Duration;

use rlm_core::LlmError;
use rlm_http::codec::{self, text_field};
use rlm_http::redact::snippet;
use serde_json::Value;

/// The fields of an error object, from either shape servers use:
/// `{"error": {"message", "type", "code"}}` (OpenAI, OpenRouter, Ollama) or
/// `{"object": "error", "message", "type", "code"}` (vLLM).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorInfo {
    /// `message`.
    pub message: Option<String>,
    /// `type`.
    pub kind: Option<String>,
    /// `code` as text (it is a string for OpenAI, a number for vLLM and OpenRouter).
    pub code: Option<String>,
}

impl ErrorInfo {
    /// The error object of a parsed body, if it has one.
    pub fn from_json(body: &Value) -> Option<Self> {
        let obj = match body.get("error") {
            Some(Value::Null) | None
                if body.get("object").and_then(Value::as_str) == Some("error") =>
            {
                body
            }
            Some(Value::Null) | None => return None,
            Some(Value::String(message)) => {
                return Some(Self {
                    message: Some(message.clone()),
                    ..Self::default()
                });
            }
            Some(inner) => inner,
        };
        Some(Self {
            message: text_field(obj, "message"),
            kind: text_field(obj, "type"),
            code: text_field(obj, "code"),
        })
    }

    /// The HTTP status the error names in its `code` (vLLM, OpenRouter), if it is one.
    pub fn status_code(&self) -> Option<u16> {
        self.code
            .as_deref()?
            .parse::<u16>()
            .ok()
            .filter(|c| (400..=599).contains(c))
    }

    fn is_quota(&self) -> bool {
        [&self.kind, &self.code]
            .into_iter()
            .flatten()
            .any(|s| s == "insufficient_quota")
    }

    /// Azure OpenAI's refusal of a prompt by its content filter (`code: content_filter`).
    fn is_content_filter(&self) -> bool {
        self.code.as_deref() == Some("content_filter")
    }
}

/// Classifies an unsuccessful response (`body` as received, cut here to
/// [`rlm_http::MAX_BODY_SNIPPET`]):
///
/// - 401, 403: [`LlmError::Authentication`];
/// - 429 whose error `type` or `code` is `insufficient_quota`: [`LlmError::QuotaExhausted`];
/// - a 4xx (other than 408, 409, 429) whose text mentions the context length:
///   [`LlmError::ContextLengthExceeded`];
/// - a 400 whose error `code` is `content_filter` (Azure OpenAI refusing the prompt):
///   [`LlmError::ContentFilter`];
/// - anything else: [`LlmError::Http`] with `retry_after`.
pub fn classify_status(status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
    let info = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| ErrorInfo::from_json(&v));
    let quota = info
        .as_ref()
        .map_or(body.contains("insufficient_quota"), ErrorInfo::is_quota);
    if status == 429 && quota {
        return LlmError::QuotaExhausted {
            body: snippet(body),
        };
    }
    match codec::classify_status(status, body, retry_after) {
        LlmError::Http { status: 400, .. }
            if info.as_ref().is_some_and(ErrorInfo::is_content_filter) =>
        {
            LlmError::ContentFilter
        }
        other => other,
    }
}

/// Classifies an error object found inside an HTTP 200 body. Its status is the one named by its
/// `code` when that is an HTTP status, otherwise 500 (a server-side failure reported late).
pub fn classify_body_error(info: &ErrorInfo, body: &str) -> LlmError {
    classify_status(info.status_code().unwrap_or(500), body, None)
}
