//! Classification of error responses: statuses and Google API error bodies to typed errors,
//! `RetryInfo` delays, and errors inside an HTTP 200.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use rlm_core::LlmError;
use rlm_gemini::error_body::{ErrorInfo, classify_body_error, classify_status, parse_duration};
use serde_json::{Value, json};

fn error(code: u16, status: &str, message: &str, details: Value) -> String {
    json!({"error": {"code": code, "message": message, "status": status, "details": details}})
        .to_string()
}

#[test]
fn classification_table() {
    let per_minute = json!([
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "32s"}
    ]);
    let per_day = json!([
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"},
                        {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}
    ]);
    let bad_key = json!([
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
         "domain": "googleapis.com"}
    ]);
    let quota_msg = "You exceeded your current quota, please check your plan and billing details.";
    let cases: Vec<(u16, String, &str)> = vec![
        (
            400,
            error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                bad_key,
            ),
            "auth",
        ),
        (
            403,
            error(403, "PERMISSION_DENIED", "Permission denied", json!([])),
            "auth",
        ),
        (
            401,
            error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
                json!([]),
            ),
            "auth",
        ),
        (
            429,
            error(429, "RESOURCE_EXHAUSTED", quota_msg, per_minute),
            "http",
        ),
        (
            429,
            error(429, "RESOURCE_EXHAUSTED", quota_msg, per_day),
            "quota",
        ),
        (
            429,
            error(
                429,
                "RESOURCE_EXHAUSTED",
                "Your prepayment credits are depleted. Please go to AI Studio to manage your project and billing.",
                json!([]),
            ),
            "quota",
        ),
        (
            429,
            error(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
                json!([]),
            ),
            "http",
        ),
        (
            400,
            error(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
                json!([]),
            ),
            "context",
        ),
        (
            400,
            error(
                400,
                "INVALID_ARGUMENT",
                "Invalid value at 'generation_config.temperature'",
                json!([]),
            ),
            "http",
        ),
        (
            503,
            error(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                json!([]),
            ),
            "http",
        ),
        (
            500,
            error(
                500,
                "INTERNAL",
                "An internal error has occurred.",
                json!([]),
            ),
            "http",
        ),
        (502, "<html>bad gateway</html>".to_string(), "http"),
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
fn retry_delay_in_the_body_is_the_wait_unless_a_header_gave_one() {
    let body = error(
        429,
        "RESOURCE_EXHAUSTED",
        "quota",
        json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}]),
    );
    assert!(matches!(
        classify_status(429, &body, None),
        LlmError::Http { retry_after: Some(d), .. } if d == Duration::from_millis(1500)
    ));
    assert!(matches!(
        classify_status(429, &body, Some(Duration::from_secs(4))),
        LlmError::Http { retry_after: Some(d), .. } if d == Duration::from_secs(4)
    ));
    assert_eq!(parse_duration("32s"), Some(Duration::from_secs(32)));
    assert_eq!(parse_duration("0s"), None);
    assert_eq!(parse_duration("soon"), None);
}

#[test]
fn error_objects_in_every_shape() {
    let list: Value = json!([{"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}]);
    let info = ErrorInfo::from_json(&list).unwrap();
    assert_eq!(
        (info.code, info.status.as_deref()),
        (Some(503), Some("UNAVAILABLE"))
    );
    assert!(matches!(
        classify_body_error(&info, &list.to_string()),
        LlmError::Http { status: 503, .. }
    ));
    let ok: Value = json!({"candidates": []});
    assert_eq!(ErrorInfo::from_json(&ok), None);
    let plain: Value = json!({"error": "boom"});
    assert_eq!(
        ErrorInfo::from_json(&plain).unwrap().message.as_deref(),
        Some("boom")
    );
}
