//! Request encoding and stop reasons: system messages hoisted, same roles merged, invalid
//! requests refused, reasoning effort as extended thinking, provider extras merged.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_anthropic::codec::{encode_request, finish_reason};
use rlm_core::{CompletionRequest, FinishReason, LlmError, Message, ReasoningEffort, Sampling};
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
    let nan = CompletionRequest::new(vec![Message::user("u")]).with_sampling(Sampling {
        top_p: Some(f32::INFINITY),
        ..Sampling::default()
    });
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

fn thinking_request(sampling: Sampling) -> CompletionRequest {
    CompletionRequest::new(vec![Message::user("u")]).with_sampling(sampling)
}

#[test]
fn reasoning_effort_is_an_extended_thinking_budget() {
    // (effort, request cap, max_tokens sent, budget_tokens sent); the client default is 100.
    let cases = [
        (ReasoningEffort::Low, None, 100 + 1_024, 1_024),
        (ReasoningEffort::Medium, None, 100 + 8_192, 8_192),
        (ReasoningEffort::High, None, 100 + 24_576, 24_576),
        (ReasoningEffort::Low, Some(1_025), 1_025, 1_024),
        (ReasoningEffort::High, Some(32_000), 32_000, 24_576),
    ];
    for (effort, cap, max_tokens, budget) in cases {
        let body = encode(&thinking_request(Sampling {
            reasoning_effort: Some(effort),
            max_tokens: cap,
            top_p: Some(0.95),
            seed: Some(9),
            ..Sampling::default()
        }));
        assert_eq!(body["max_tokens"], max_tokens, "{effort} {cap:?}");
        assert_eq!(
            body["thinking"],
            serde_json::json!({"type": "enabled", "budget_tokens": budget}),
            "{effort}"
        );
        assert_eq!(body["top_p"], 0.95);
        assert!(body.get("seed").is_none() && body.get("temperature").is_none());
    }
    // Without an effort there is no thinking object.
    assert!(
        encode(&thinking_request(Sampling::default()))
            .get("thinking")
            .is_none()
    );
}

#[test]
fn thinking_conflicts_are_config_errors_that_say_what_to_change() {
    let high = || Sampling {
        reasoning_effort: Some(ReasoningEffort::High),
        ..Sampling::default()
    };
    let cases = [
        (
            Sampling {
                temperature: Some(0.5),
                ..high()
            },
            "temperature 0.5 cannot be sent with reasoning effort high",
        ),
        (
            Sampling {
                top_p: Some(0.9),
                ..high()
            },
            "top_p 0.9 cannot be sent with reasoning effort high",
        ),
        (
            Sampling {
                max_tokens: Some(24_576),
                ..high()
            },
            "max output tokens 24576 must be above the thinking budget of reasoning effort high (24576 tokens",
        ),
    ];
    for (sampling, want) in cases {
        match encode_request(&thinking_request(sampling.clone()), "m", 100) {
            Err(LlmError::Config { message }) => {
                assert!(message.starts_with(want), "{message}")
            }
            other => panic!("{sampling:?}: {other:?}"),
        }
    }
}

#[test]
fn extras_merge_into_the_body_and_win() {
    let mut extra = serde_json::Map::new();
    extra.insert("metadata".into(), serde_json::json!({"user_id": "u-1"}));
    extra.insert(
        "thinking".into(),
        serde_json::json!({"budget_tokens": 2048}),
    );
    extra.insert("max_tokens".into(), serde_json::json!(4096));
    extra.insert("stop_sequences".into(), Value::Null);
    let body = encode(&thinking_request(Sampling {
        reasoning_effort: Some(ReasoningEffort::Low),
        stop: vec!["END".into()],
        extra_body: extra,
        ..Sampling::default()
    }));
    assert_eq!(body["metadata"], serde_json::json!({"user_id": "u-1"}));
    assert_eq!(
        body["thinking"],
        serde_json::json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(body["max_tokens"], 4096);
    assert!(body.get("stop_sequences").is_none());
}
