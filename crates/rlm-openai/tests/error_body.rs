//! Classification of error responses: statuses and OpenAI-compatible error bodies to typed
//! errors.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_core::LlmError;
use rlm_http::MAX_BODY_SNIPPET;
use rlm_http::redact::{snippet, snippet_bytes};
use rlm_openai::error_body::{ErrorInfo, classify_status};
use serde_json::Value;

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
