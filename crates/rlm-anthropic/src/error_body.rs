//! Classification of error responses: HTTP status plus the Anthropic error body
//! `{"type": "error", "error": {"type", "message", "details"}, "request_id"}`, into a typed
//! [`LlmError`]. Pure functions, no HTTP.

use std::time::Duration;

use rlm_core::LlmError;
use rlm_http::codec;
use rlm_http::redact::snippet;
use serde_json::Value;

/// Phrases (lower-case) by which the API says the account is out of money rather than rate
/// limited: the monthly spend limit ("This request would exceed your account's monthly spend
/// limit") and the prepaid credit ("Your credit balance is too low to access the Anthropic
/// API").
const QUOTA_MARKERS: &[&str] = &["spend limit", "credit balance"];

/// The `error.details.error_code` of a spend-limit 429.
pub const SPEND_LIMIT_CODE: &str = "enforced_spend_limit_reached";

/// The fields of an Anthropic error object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorInfo {
    /// `error.type` (`invalid_request_error`, `rate_limit_error`, `overloaded_error`, ...).
    pub kind: Option<String>,
    /// `error.message`.
    pub message: Option<String>,
    /// `error.details.error_code`, when present.
    pub error_code: Option<String>,
}

impl ErrorInfo {
    /// The error object of a parsed body, if it has one: `{"type": "error", "error": {...}}`,
    /// or any body with an `error` object or string.
    pub fn from_json(body: &Value) -> Option<Self> {
        let error = match body.get("error") {
            Some(Value::Null) | None => {
                return (body.get("type").and_then(Value::as_str) == Some("error"))
                    .then(Self::default);
            }
            Some(Value::String(message)) => {
                return Some(Self {
                    message: Some(message.clone()),
                    ..Self::default()
                });
            }
            Some(error) => error,
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        Some(Self {
            kind: text(error.get("type")),
            message: text(error.get("message")),
            error_code: text(error.get("details").and_then(|d| d.get("error_code"))),
        })
    }

    /// The HTTP status the API pairs with this error type (`overloaded_error` is 529), for
    /// errors that arrive inside an HTTP 200 body.
    pub fn status_for_kind(&self) -> Option<u16> {
        Some(match self.kind.as_deref()? {
            "invalid_request_error" => 400,
            "authentication_error" => 401,
            "billing_error" => 402,
            "permission_error" => 403,
            "not_found_error" => 404,
            "request_too_large" => 413,
            "rate_limit_error" => 429,
            "api_error" => 500,
            "timeout_error" => 504,
            "overloaded_error" => 529,
            _ => return None,
        })
    }

    /// Whether the account is out of money: a `billing_error`, the spend-limit `error_code`, or
    /// a message about the spend limit or the credit balance.
    pub fn is_quota(&self) -> bool {
        self.kind.as_deref() == Some("billing_error")
            || self.error_code.as_deref() == Some(SPEND_LIMIT_CODE)
            || self.message.as_deref().is_some_and(mentions_quota)
    }
}

/// Whether a message says the account's spend limit or credit is exhausted.
pub fn mentions_quota(text: &str) -> bool {
    let lower = text.to_lowercase();
    QUOTA_MARKERS.iter().any(|m| lower.contains(m))
}

/// Classifies an unsuccessful response (`body` as received, cut here to 2 KiB):
///
/// - 401, 403: [`LlmError::Authentication`];
/// - a 4xx whose error is about money (`billing_error`, `error.details.error_code ==
///   "enforced_spend_limit_reached"`, or a message about the spend limit or credit balance,
///   which the API sends as a 429 `rate_limit_error` or a 400): [`LlmError::QuotaExhausted`],
///   never retried;
/// - a 4xx (other than 408, 409, 429) whose text says `prompt is too long`:
///   [`LlmError::ContextLengthExceeded`];
/// - anything else: [`LlmError::Http`] with `retry_after` (429 rate limits, 500 `api_error`
///   and 529 `overloaded_error` are retried by the client).
pub fn classify_status(status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
    let info = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| ErrorInfo::from_json(&v));
    let quota = match &info {
        Some(info) => info.is_quota(),
        None => body.contains(SPEND_LIMIT_CODE) || mentions_quota(body),
    };
    if quota && (400..=499).contains(&status) && !matches!(status, 401 | 403) {
        return LlmError::QuotaExhausted {
            body: snippet(body),
        };
    }
    codec::classify_status(status, body, retry_after)
}

/// Classifies an error object found inside an HTTP 200 body by the status its type stands for
/// (an unknown type counts as a 500: a server-side failure reported late).
pub fn classify_body_error(info: &ErrorInfo, body: &str) -> LlmError {
    classify_status(info.status_for_kind().unwrap_or(500), body, None)
}
