//! Request encoding and stop reasons: system messages hoisted, same roles merged, invalid
//! requests refused.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_anthropic::codec::{encode_request, finish_reason};
use rlm_core::{CompletionRequest, FinishReason, LlmError, Message};
use serde_json::Value;

fn encode(request: &CompletionRequest) -> Value {
    serde_json::from_slice(&encode_request(request, "claude-test", 100).unwrap()).unwrap()
}

#[test]
fn system_is_hoisted_and_same_roles_merge() {
    let request = CompletionRequest::new(vec![
        Message::system("a"),
        Message::user("u1"),
        Message::user("u2"),
        Message::system("b"),
        Message::assistant("x"),
        Message::assistant("y"),
        Message::user("u3"),
    ]);
    let body = encode(&request);
    assert_eq!(body["system"], "a\n\nb");
    assert_eq!(
        body["messages"],
        serde_json::json!([
            {"role": "user", "content": "u1\n\nu2"},
            {"role": "assistant", "content": "x\n\ny"},
            {"role": "user", "content": "u3"},
        ])
    );
    assert_eq!(body["max_tokens"], 100);
}

#[test]
fn invalid_requests_are_config_errors() {
    let only_system = CompletionRequest::new(vec![Message::system("s")]);
    let nan = CompletionRequest {
        top_p: Some(f32::INFINITY),
        ..CompletionRequest::new(vec![Message::user("u")])
    };
    for (request, model) in [
        (&only_system, "m"),
        (&nan, "m"),
        (&CompletionRequest::new(vec![Message::user("u")]), ""),
    ] {
        assert!(matches!(
            encode_request(request, model, 1),
            Err(LlmError::Config { .. })
        ));
    }
}

#[test]
fn stop_reasons_map_to_finish_reasons() {
    let cases: &[(Option<&str>, FinishReason)] = &[
        (None, FinishReason::Unknown),
        (Some("end_turn"), FinishReason::Stop),
        (Some("stop_sequence"), FinishReason::Stop),
        (Some("max_tokens"), FinishReason::Length),
        (Some("model_context_window_exceeded"), FinishReason::Length),
        (Some("refusal"), FinishReason::ContentFilter),
        (Some("tool_use"), FinishReason::ToolCalls),
        (Some("pause_turn"), FinishReason::Other("pause_turn".into())),
    ];
    for (raw, want) in cases {
        assert_eq!(&finish_reason(*raw), want, "{raw:?}");
    }
}
