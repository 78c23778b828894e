//! Classification of error responses: statuses and Anthropic error bodies to typed errors,
//! and errors inside an HTTP 200.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_anthropic::error_body::{ErrorInfo, classify_body_error, classify_status};
use rlm_core::LlmError;
use serde_json::Value;

fn body(kind: &str, message: &str) -> String {
    serde_json::json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"})
        .to_string()
}

#[test]
fn classification_table() {
    let spend = serde_json::json!({"type": "error", "error": {"type": "rate_limit_error",
        "message": "Rate limited", "details": {"error_code": "enforced_spend_limit_reached"}}})
    .to_string();
    let cases: Vec<(u16, String, &str)> = vec![
        (
            401,
            body("authentication_error", "invalid x-api-key"),
            "auth",
        ),
        (403, body("permission_error", "no access"), "auth"),
        (
            429,
            body(
                "rate_limit_error",
                "This request would exceed your account's rate limit. Please try again later.",
            ),
            "http",
        ),
        (429, spend, "quota"),
        (
            429,
            body(
                "rate_limit_error",
                "This request would exceed your account's monthly spend limit. Please try again later.",
            ),
            "quota",
        ),
        (
            400,
            body(
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API.",
            ),
            "quota",
        ),
        (402, body("billing_error", "payment required"), "quota"),
        (
            400,
            body(
                "invalid_request_error",
                "prompt is too long: 209353 tokens > 200000 maximum",
            ),
            "context",
        ),
        (
            400,
            body("invalid_request_error", "max_tokens: Field required"),
            "http",
        ),
        (
            413,
            body(
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
            ),
            "http",
        ),
        (500, body("api_error", "Internal server error"), "http"),
        (529, body("overloaded_error", "Overloaded"), "http"),
        (502, "<html>bad gateway</html>".to_string(), "http"),
        (429, "monthly spend limit (not json)".to_string(), "quota"),
    ];
    for (status, body, want) in cases {
        let got = match classify_status(status, &body, None) {
            LlmError::Authentication { .. } => "auth",
            LlmError::QuotaExhausted { .. } => "quota",
            LlmError::ContextLengthExceeded { .. } => "context",
            LlmError::Http { .. } => "http",
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(got, want, "{status} {body}");
    }
}

#[test]
fn errors_in_a_200_take_the_status_of_their_type() {
    for (kind, status) in [
        ("overloaded_error", 529),
        ("api_error", 500),
        ("rate_limit_error", 429),
        ("something_new", 500),
    ] {
        let text = body(kind, "m");
        let value: Value = serde_json::from_str(&text).unwrap();
        let info = ErrorInfo::from_json(&value).unwrap();
        match classify_body_error(&info, &text) {
            LlmError::Http { status: got, .. } => assert_eq!(got, status, "{kind}"),
            other => panic!("{kind}: {other:?}"),
        }
    }
    let ok: Value = serde_json::json!({"type": "message", "content": []});
    assert_eq!(ErrorInfo::from_json(&ok), None);
    let bare: Value = serde_json::json!({"type": "error"});
    assert_eq!(ErrorInfo::from_json(&bare), Some(ErrorInfo::default()));
}
