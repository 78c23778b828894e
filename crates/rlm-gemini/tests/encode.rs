//! Request encoding and finish reasons: roles mapped, system messages hoisted, same roles
//! merged, invalid requests refused.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_core::{CompletionRequest, FinishReason, LlmError, Message};
use rlm_gemini::codec::{encode_request, finish_reason};
use serde_json::{Value, json};

fn encode(request: &CompletionRequest) -> Value {
    serde_json::from_slice(&encode_request(request).unwrap()).unwrap()
}

#[test]
fn roles_map_system_is_hoisted_and_same_roles_merge() {
    let request = CompletionRequest::new(vec![
        Message::system("a"),
        Message::user("u1"),
        Message::user("u2"),
        Message::assistant("x"),
        Message::system("b"),
        Message::assistant("y"),
    ]);
    let body = encode(&request);
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "a\n\nb"}]})
    );
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "u1\n\nu2"}]},
            {"role": "model", "parts": [{"text": "x\n\ny"}]},
        ])
    );
    assert!(body.get("generationConfig").is_none());
}

#[test]
fn invalid_requests_are_config_errors() {
    let user = || vec![Message::user("u")];
    let cases = [
        CompletionRequest::new(vec![Message::system("only system")]),
        CompletionRequest {
            temperature: Some(f32::NAN),
            ..CompletionRequest::new(user())
        },
        CompletionRequest {
            seed: Some(u64::from(u32::MAX)),
            ..CompletionRequest::new(user())
        },
    ];
    for request in &cases {
        assert!(
            matches!(encode_request(request), Err(LlmError::Config { .. })),
            "{request:?}"
        );
    }
}

#[test]
fn finish_reasons_map() {
    let cases: &[(Option<&str>, FinishReason)] = &[
        (None, FinishReason::Unknown),
        (Some("FINISH_REASON_UNSPECIFIED"), FinishReason::Unknown),
        (Some("STOP"), FinishReason::Stop),
        (Some("MAX_TOKENS"), FinishReason::Length),
        (Some("SAFETY"), FinishReason::ContentFilter),
        (Some("RECITATION"), FinishReason::ContentFilter),
        (Some("BLOCKLIST"), FinishReason::ContentFilter),
        (Some("PROHIBITED_CONTENT"), FinishReason::ContentFilter),
        (Some("SPII"), FinishReason::ContentFilter),
        (Some("LANGUAGE"), FinishReason::Other("LANGUAGE".into())),
        (Some("OTHER"), FinishReason::Other("OTHER".into())),
    ];
    for (raw, want) in cases {
        assert_eq!(&finish_reason(*raw), want, "{raw:?}");
    }
}
