//! The codec against recorded wire fixtures: golden request bodies, and Messages API responses
//! and error bodies as the API sends them. `UPDATE_EXPECT=1` rewrites the golden files.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_anthropic::codec::{decode_response, encode_request};
use rlm_anthropic::error_body::classify_status;
use rlm_core::{CompletionRequest, CompletionResponse, FinishReason, LlmError, Message};
use rlm_testkit::provider_tests::{self, Fixtures, usage};

fn fixtures() -> Fixtures {
    Fixtures::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn check_request(name: &str, request: &CompletionRequest) {
    fixtures().check_request_body(
        name,
        encode_request(request, "claude-sonnet-4-5", 8192).unwrap(),
    );
}

#[test]
fn golden_request_bodies() {
    for (name, request) in provider_tests::golden_requests("claude-haiku-4-5") {
        check_request(name, &request);
    }

    let unmerged = CompletionRequest::new(vec![
        Message::system("first system"),
        Message::user("part one"),
        Message::user("part two"),
        Message::system("second system"),
        Message::assistant("a"),
        Message::assistant("b"),
        Message::user("next"),
    ]);
    check_request("merged_roles", &unmerged);

    // Every sampling field, with extras that merge into, delete and add fields.
    let full = provider_tests::golden_requests("claude-haiku-4-5")
        .into_iter()
        .find(|(name, _)| *name == "reasoning")
        .unwrap()
        .1;
    let extras = provider_tests::with_extra_body(
        &full,
        serde_json::json!({
            "thinking": {"budget_tokens": 4096},
            "stop_sequences": null,
            "metadata": {"user_id": "rlm-golden"},
        }),
    );
    check_request("extra_body", &extras);
}

fn decode(name: &str) -> Result<CompletionResponse, LlmError> {
    let body = fixtures().read(&format!("responses/{name}"));
    decode_response(&body, "requested-model")
}

#[test]
fn successful_responses() {
    let cases: Vec<(&str, CompletionResponse)> = vec![
        (
            "message_basic.json",
            CompletionResponse {
                model: "claude-sonnet-4-5-20250929".into(),
                text: "```repl\nprint(len(context))\n```".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(2095, 14, 0),
            },
        ),
        (
            // input 50 + cache writes 248 + cache reads 1800; the reads are the cached part.
            "message_cached.json",
            CompletionResponse {
                model: "claude-opus-4-1-20250805".into(),
                text: "FINAL(42)".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(2098, 5, 1800),
            },
        ),
        (
            "thinking_blocks.json",
            CompletionResponse {
                model: "claude-sonnet-4-5-20250929".into(),
                text: "Let me look. ```repl\nprint(context[:100])\n```".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(400, 120, 0),
            },
        ),
        (
            "stop_sequence.json",
            CompletionResponse {
                model: "claude-haiku-4-5-20251001".into(),
                text: "The answer is ".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(30, 4, 0),
            },
        ),
        (
            "pause_turn.json",
            CompletionResponse {
                model: "claude-sonnet-4-5-20250929".into(),
                text: "Searching further.".into(),
                finish_reason: FinishReason::Other("pause_turn".into()),
                usage: usage(10, 3, 0),
            },
        ),
        (
            "no_usage.json",
            CompletionResponse {
                model: "requested-model".into(),
                text: "from a proxy".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(0, 0, 0),
            },
        ),
    ];
    for (name, expected) in cases {
        assert_eq!(decode(name).unwrap(), expected, "{name}");
    }
}

#[test]
fn http_200_is_not_yet_success() {
    assert!(
        matches!(decode("max_tokens.json").unwrap_err(), LlmError::Truncated { reason } if reason.contains("max_tokens"))
    );
    assert_eq!(decode("refusal.json").unwrap_err(), LlmError::ContentFilter);
    assert_eq!(
        decode("tool_use_only.json").unwrap_err(),
        LlmError::EmptyCompletion {
            finish_reason: "tool_use".into()
        }
    );
    assert_eq!(
        decode("empty_text.json").unwrap_err(),
        LlmError::EmptyCompletion {
            finish_reason: "end_turn".into()
        }
    );
    match decode("overloaded_in_200.json").unwrap_err() {
        LlmError::Http {
            status: 529,
            body,
            retry_after: None,
        } => assert!(body.contains("overloaded_error")),
        other => panic!("{other:?}"),
    }
    match decode("prompt_too_long_in_200.json").unwrap_err() {
        LlmError::ContextLengthExceeded { body } => assert!(body.contains("215364 tokens")),
        other => panic!("{other:?}"),
    }
    match decode("proxy_error.html").unwrap_err() {
        LlmError::InvalidResponse { reason, body } => {
            assert!(reason.contains("not JSON"), "{reason}");
            assert!(body.contains("502 Bad Gateway"), "{body}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn recorded_error_bodies_are_typed() {
    let kind = |status: u16, name: &str| {
        let body = fixtures().read_string(&format!("errors/{name}"));
        match classify_status(status, &body, None) {
            LlmError::Authentication { .. } => "auth",
            LlmError::QuotaExhausted { .. } => "quota",
            LlmError::ContextLengthExceeded { .. } => "context",
            LlmError::Http { .. } => "http",
            other => panic!("{name}: {other:?}"),
        }
    };
    let cases = [
        (401, "auth_401.json", "auth"),
        (429, "spend_limit_429.json", "quota"),
        (400, "credit_balance_400.json", "quota"),
        (429, "rate_limit_429.json", "http"),
        (400, "prompt_too_long_400.json", "context"),
        (529, "overloaded_529.json", "http"),
        (400, "invalid_request_400.json", "http"),
    ];
    for (status, name, want) in cases {
        assert_eq!(kind(status, name), want, "{name}");
    }
}

#[test]
fn odd_bodies_never_panic_and_are_typed() {
    let huge_html = format!("<html>{}</html>", "x".repeat(10_000));
    let cases: &[&[u8]] = &[
        b"",
        b"null",
        b"[]",
        b"42",
        b"{}",
        b"{\"content\":7}",
        b"{\"content\":[{\"type\":\"text\",\"text\":7}]}",
        b"\xff\xfe",
        huge_html.as_bytes(),
    ];
    for body in cases {
        match decode_response(body, "m") {
            Err(LlmError::InvalidResponse { body, .. }) => assert!(body.len() <= 2048),
            Err(LlmError::EmptyCompletion { .. }) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
        }
    }
}
