//! Classification of error responses: HTTP status plus the Google API error body
//! `{"error": {"code", "message", "status", "details": [...]}}`, into a typed [`LlmError`].
//! Pure functions, no HTTP.

use std::time::Duration;

use rlm_core::LlmError;
use rlm_http::codec;
use rlm_http::hints::positive_secs;
use rlm_http::redact::snippet;
use serde_json::Value;

/// Phrases (lower-case) by which the API says the account has no money left, as opposed to a
/// per-minute rate limit (whose message, "You exceeded your current quota, please check your
/// plan and billing details", is the same for both, so it is no evidence either way).
const BILLING_MARKERS: &[&str] = &[
    "credits are depleted",
    "prepayment credits",
    "billing account",
    "billing to be enabled",
];

/// Phrases (lower-case) by which the API refuses the key (it answers 400 `INVALID_ARGUMENT`,
/// not 401).
const BAD_KEY_MARKERS: &[&str] = &[
    "api_key_invalid",
    "api key not valid",
    "api key expired",
    "api_key_service_blocked",
];

/// The fields of a Google API error object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorInfo {
    /// `error.code`, the HTTP status.
    pub code: Option<u16>,
    /// `error.message`.
    pub message: Option<String>,
    /// `error.status` (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, ...).
    pub status: Option<String>,
    /// The `quotaId` of each `google.rpc.QuotaFailure` violation.
    pub quota_ids: Vec<String>,
    /// The `reason` of each `google.rpc.ErrorInfo` detail (`API_KEY_INVALID`, ...).
    pub reasons: Vec<String>,
    /// The `retryDelay` of a `google.rpc.RetryInfo` detail.
    pub retry_delay: Option<Duration>,
}

impl ErrorInfo {
    /// The error object of a parsed body, if it has one. A list of errors (as some Google
    /// front ends send) gives its first.
    pub fn from_json(body: &Value) -> Option<Self> {
        let body = match body {
            Value::Array(items) => items.first()?,
            other => other,
        };
        let error = match body.get("error")? {
            Value::Null => return None,
            Value::String(message) => {
                return Some(Self {
                    message: Some(message.clone()),
                    ..Self::default()
                });
            }
            error => error,
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let mut info = Self {
            code: error
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok()),
            message: text(error.get("message")),
            status: text(error.get("status")),
            ..Self::default()
        };
        for detail in error
            .get("details")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = detail.get("@type").and_then(Value::as_str).unwrap_or("");
            if kind.ends_with("google.rpc.QuotaFailure") {
                let violations = detail.get("violations").and_then(Value::as_array);
                info.quota_ids.extend(
                    violations
                        .into_iter()
                        .flatten()
                        .filter_map(|v| text(v.get("quotaId"))),
                );
            } else if kind.ends_with("google.rpc.RetryInfo") {
                info.retry_delay = detail
                    .get("retryDelay")
                    .and_then(Value::as_str)
                    .and_then(parse_duration);
            } else if kind.ends_with("google.rpc.ErrorInfo")
                && let Some(reason) = text(detail.get("reason"))
            {
                info.reasons.push(reason);
            }
        }
        Some(info)
    }

    /// Whether the quota will not come back by retrying within the call: a daily quota
    /// (`quotaId` with `PerDay`) is among the violations, or the message is about billing or
    /// depleted credits.
    pub fn is_quota_exhausted(&self) -> bool {
        self.quota_ids.iter().any(|id| id.contains("PerDay"))
            || self.message.as_deref().is_some_and(|m| {
                let lower = m.to_lowercase();
                BILLING_MARKERS.iter().any(|marker| lower.contains(marker))
            })
    }

    /// Whether the key was refused (`API_KEY_INVALID`, "API key not valid").
    pub fn is_bad_key(&self) -> bool {
        self.reasons.iter().any(|r| r.starts_with("API_KEY_"))
            || self.message.as_deref().is_some_and(mentions_bad_key)
    }
}

fn mentions_bad_key(text: &str) -> bool {
    let lower = text.to_lowercase();
    BAD_KEY_MARKERS.iter().any(|m| lower.contains(m))
}

/// A protobuf JSON duration: seconds with an `s` suffix (`"32s"`, `"1.5s"`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    positive_secs(text.trim().strip_suffix('s')?.parse::<f64>().ok()?)
}

/// Classifies an unsuccessful response (`body` as received, cut here to 2 KiB):
///
/// - 401, 403, and a 400 refusing the key (`API_KEY_INVALID`, "API key not valid"):
///   [`LlmError::Authentication`];
/// - a 429 `RESOURCE_EXHAUSTED` for a daily quota (`quotaId` with `PerDay`) or billing
///   ("prepayment credits are depleted"): [`LlmError::QuotaExhausted`], never retried; other
///   429s are rate limits, retried, after the body's `RetryInfo.retryDelay` when the headers
///   give no `Retry-After`;
/// - a 4xx (other than 408, 409, 429) whose text says the input token count exceeds the
///   maximum: [`LlmError::ContextLengthExceeded`];
/// - anything else: [`LlmError::Http`] (500 `INTERNAL`, 503 `UNAVAILABLE` and 504
///   `DEADLINE_EXCEEDED` are retried by the client).
pub fn classify_status(status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
    let info = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| ErrorInfo::from_json(&v));
    let bad_key = match &info {
        Some(info) => info.is_bad_key(),
        None => mentions_bad_key(body),
    };
    match status {
        400 if bad_key => LlmError::Authentication {
            status,
            body: snippet(body),
        },
        429 if info.as_ref().is_some_and(ErrorInfo::is_quota_exhausted) => {
            LlmError::QuotaExhausted {
                body: snippet(body),
            }
        }
        _ => {
            let retry_delay = info.and_then(|i| i.retry_delay);
            codec::classify_status(status, body, retry_after.or(retry_delay))
        }
    }
}

/// Classifies an error object found inside an HTTP 200 body by its `code` when that is an HTTP
/// status, otherwise as a 500 (a server-side failure reported late).
pub fn classify_body_error(info: &ErrorInfo, body: &str) -> LlmError {
    let status = info.code.filter(|c| (400..=599).contains(c)).unwrap_or(500);
    classify_status(status, body, None)
}
