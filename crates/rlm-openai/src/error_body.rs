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
/// [`MAX_BODY_SNIPPET`]):
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

#[cfg(test)]
mod tests {
    use rlm_http::MAX_BODY_SNIPPET;
    use rlm_http::redact::snippet_bytes;

    use super::*;

    #[test]
    fn classification_table() {
        let quota = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        let rate = r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
        let vllm_ctx = r#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens","type":"BadRequestError","param":null,"code":400}"#;
        let openai_ctx = r#"{"error":{"message":"too long","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
        let cases: &[(u16, &str, &str)] = &[
            (401, "{}", "auth"),
            (403, "forbidden", "auth"),
            (429, quota, "quota"),
            (429, "insufficient_quota (not json)", "quota"),
            (429, rate, "http"),
            (400, vllm_ctx, "context"),
            (400, openai_ctx, "context"),
            (
                400,
                "prompt is too long: 209353 tokens > 199999 maximum",
                "context",
            ),
            (413, "Prompt is too long", "context"),
            (400, r#"{"error":{"message":"bad temperature"}}"#, "http"),
            (500, "maximum context length", "http"),
            (404, "<html>not found</html>", "http"),
        ];
        for (status, body, want) in cases {
            let got = match classify_status(*status, body, None) {
                LlmError::Authentication { .. } => "auth",
                LlmError::QuotaExhausted { .. } => "quota",
                LlmError::ContextLengthExceeded { .. } => "context",
                LlmError::Http { .. } => "http",
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(got, *want, "{status} {body}");
        }
    }

    #[test]
    fn error_objects_in_both_shapes() {
        let openai: Value =
            serde_json::from_str(r#"{"error":{"message":"m","type":"t","code":"c"}}"#).unwrap();
        let info = ErrorInfo::from_json(&openai).unwrap();
        assert_eq!(
            (
                info.message.as_deref(),
                info.kind.as_deref(),
                info.code.as_deref()
            ),
            (Some("m"), Some("t"), Some("c"))
        );
        let vllm: Value =
            serde_json::from_str(r#"{"object":"error","message":"m","code":503}"#).unwrap();
        assert_eq!(
            ErrorInfo::from_json(&vllm).unwrap().status_code(),
            Some(503)
        );
        let ok: Value = serde_json::from_str(r#"{"error":null,"choices":[]}"#).unwrap();
        assert_eq!(ErrorInfo::from_json(&ok), None);
        let plain: Value = serde_json::from_str(r#"{"error":"boom"}"#).unwrap();
        assert_eq!(
            ErrorInfo::from_json(&plain).unwrap().message.as_deref(),
            Some("boom")
        );
    }

    #[test]
    fn snippet_cuts_at_a_char_boundary() {
        let body = "é".repeat(3000); // 2 bytes each
        let cut = snippet(&body);
        assert_eq!(cut.len(), MAX_BODY_SNIPPET);
        let odd = format!("a{}", "é".repeat(3000));
        assert_eq!(snippet(&odd).len(), MAX_BODY_SNIPPET - 1);
        assert_eq!(
            snippet_bytes(&[0xff; 5000]).len(),
            MAX_BODY_SNIPPET - MAX_BODY_SNIPPET % 3
        );
        match classify_status(500, &"x".repeat(10_000), None) {
            LlmError::Http { body, .. } => assert_eq!(body.len(), MAX_BODY_SNIPPET),
            other => panic!("{other:?}"),
        }
    }
}
