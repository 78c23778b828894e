//! The codec against recorded wire fixtures: golden request bodies, and `generateContent`
//! responses and Google API error bodies as the API sends them. `UPDATE_EXPECT=1` rewrites the
//! golden files.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use rlm_core::{CompletionRequest, CompletionResponse, FinishReason, LlmError, Message};
use rlm_gemini::codec::{decode_response, encode_request};
use rlm_gemini::error_body::classify_status;
use rlm_testkit::provider_tests::{self, Fixtures, usage};

fn fixtures() -> Fixtures {
    Fixtures::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn check_request(name: &str, request: &CompletionRequest) {
    fixtures().check_request_body(name, encode_request(request).unwrap());
}

#[test]
fn golden_request_bodies() {
    for (name, request) in provider_tests::golden_requests("gemini-2.5-pro") {
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
    let full = provider_tests::golden_requests("gemini-2.5-pro")
        .into_iter()
        .find(|(name, _)| *name == "reasoning")
        .unwrap()
        .1;
    let extras = provider_tests::with_extra_body(
        &full,
        serde_json::json!({
            "generationConfig": {"topK": 40, "seed": null,
                                 "thinkingConfig": {"thinkingBudget": null, "thinkingLevel": "low"}},
            "safetySettings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                                "threshold": "BLOCK_ONLY_HIGH"}],
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
            "generate_basic.json",
            CompletionResponse {
                model: "gemini-2.0-flash".into(),
                text: "```repl\nprint(len(context))\n```".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(1834, 13, 0),
            },
        ),
        (
            // Thinking tokens are billed as output: 5 + 40.
            "generate_cached.json",
            CompletionResponse {
                model: "gemini-2.5-flash".into(),
                text: "FINAL(42)".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(40210, 45, 32768),
            },
        ),
        (
            // The thought summary is not part of the answer; the other parts are joined.
            "thinking_parts.json",
            CompletionResponse {
                model: "gemini-2.5-pro".into(),
                text: "```repl\nimport re\nprint(re.findall(r'NEEDLE=\\d+', context))\n```".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(900, 342, 0),
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
        matches!(decode("max_tokens.json").unwrap_err(), LlmError::Truncated { reason } if reason.contains("MAX_TOKENS"))
    );
    for blocked in [
        "safety.json",
        "recitation.json",
        "spii.json",
        "prompt_blocked.json",
        "prohibited_content.json",
    ] {
        assert_eq!(
            decode(blocked).unwrap_err(),
            LlmError::ContentFilter,
            "{blocked}"
        );
    }
    assert_eq!(
        decode("no_candidates.json").unwrap_err(),
        LlmError::EmptyCompletion {
            finish_reason: "unknown (no candidates)".into()
        }
    );
    assert_eq!(
        decode("empty_content_stop.json").unwrap_err(),
        LlmError::EmptyCompletion {
            finish_reason: "STOP".into()
        }
    );
    match decode("error_in_200.json").unwrap_err() {
        LlmError::Http {
            status: 503, body, ..
        } => assert!(body.contains("overloaded")),
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
    let classify = |status: u16, name: &str| {
        let body = fixtures().read_string(&format!("errors/{name}"));
        classify_status(status, &body, None)
    };
    let kind = |error: &LlmError| match error {
        LlmError::Authentication { .. } => "auth",
        LlmError::QuotaExhausted { .. } => "quota",
        LlmError::ContextLengthExceeded { .. } => "context",
        LlmError::Http { .. } => "http",
        other => panic!("{other:?}"),
    };
    let cases = [
        (400, "api_key_invalid_400.json", "auth"),
        (403, "permission_denied_403.json", "auth"),
        (429, "quota_per_minute_429.json", "http"),
        (429, "quota_per_day_429.json", "quota"),
        (429, "credits_depleted_429.json", "quota"),
        (400, "token_count_400.json", "context"),
        (503, "overloaded_503.json", "http"),
        (500, "internal_500.json", "http"),
        (400, "invalid_argument_400.json", "http"),
    ];
    for (status, name, want) in cases {
        assert_eq!(kind(&classify(status, name)), want, "{name}");
    }
    // A per-minute limit carries its wait in the body.
    assert!(matches!(
        classify(429, "quota_per_minute_429.json"),
        LlmError::Http { retry_after: Some(d), .. } if d == Duration::from_secs(27)
    ));
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
        b"{\"candidates\":7}",
        b"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":7}]}}]}",
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
