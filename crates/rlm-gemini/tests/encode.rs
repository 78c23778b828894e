//! Request encoding and finish reasons: roles mapped, system messages hoisted, same roles
//! merged, invalid requests refused, reasoning effort as a thinking budget, provider extras
//! merged.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_core::{CompletionRequest, FinishReason, LlmError, Message, ReasoningEffort, Sampling};
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
        CompletionRequest::new(user()).with_sampling(Sampling {
            temperature: Some(f32::NAN),
            ..Sampling::default()
        }),
        CompletionRequest::new(user()).with_sampling(Sampling {
            seed: Some(u64::from(u32::MAX)),
            ..Sampling::default()
        }),
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

#[test]
fn reasoning_effort_is_a_thinking_budget() {
    for (effort, budget) in [
        (ReasoningEffort::Low, 1_024),
        (ReasoningEffort::Medium, 8_192),
        (ReasoningEffort::High, 24_576),
    ] {
        let body = encode(
            &CompletionRequest::new(vec![Message::user("u")]).with_sampling(Sampling {
                reasoning_effort: Some(effort),
                ..Sampling::default()
            }),
        );
        // The effort alone is enough for a generationConfig.
        assert_eq!(
            body["generationConfig"],
            json!({"thinkingConfig": {"thinkingBudget": budget}}),
            "{effort}"
        );
    }
}

#[test]
fn extras_merge_into_generation_config() {
    let Value::Object(extra_body) = json!({
        "generationConfig": {"topK": 40, "seed": null,
                             "thinkingConfig": {"thinkingBudget": null, "thinkingLevel": "low"}},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }) else {
        unreachable!()
    };
    let body = encode(
        &CompletionRequest::new(vec![Message::user("u")]).with_sampling(Sampling {
            temperature: Some(0.5),
            seed: Some(3),
            reasoning_effort: Some(ReasoningEffort::High),
            extra_body,
            ..Sampling::default()
        }),
    );
    assert_eq!(
        body["generationConfig"],
        json!({"temperature": 0.5, "thinkingConfig": {"thinkingLevel": "low"}, "topK": 40})
    );
    assert_eq!(body["safetySettings"][0]["threshold"], "BLOCK_NONE");
    assert_eq!(body["contents"][0]["parts"][0]["text"], "u");
}
