//! The codec against recorded wire fixtures: golden request bodies and response bodies from
//! OpenAI, vLLM, Ollama, OpenRouter and DeepSeek. `UPDATE_EXPECT=1` rewrites the golden files.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_core::{
    CompletionRequest, CompletionResponse, FinishReason, LlmError, Message, ReasoningEffort,
    Sampling, Usage,
};
use rlm_openai::MaxTokensField;
use rlm_openai::codec::{decode_response, encode_request};
use rlm_testkit::provider_tests::{self, Fixtures};
use serde_json::{Value, json};

fn fixtures() -> Fixtures {
    Fixtures::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn check_request(name: &str, request: &CompletionRequest, field: MaxTokensField) {
    fixtures().check_request_body(name, encode_request(request, "gpt-4o-mini", field).unwrap());
}

#[test]
fn golden_request_bodies() {
    for (name, request) in provider_tests::golden_requests("qwen2.5-7b") {
        check_request(name, &request, MaxTokensField::MaxTokens);
    }

    let newer = CompletionRequest::new(vec![Message::user("hi")])
        .with_sampling(Sampling {
            max_tokens: Some(1024),
            ..Sampling::default()
        })
        .with_model("o4-mini");
    check_request(
        "max_completion_tokens",
        &newer,
        MaxTokensField::MaxCompletionTokens,
    );

    // Every sampling field, with extras that replace, delete and add fields.
    let full = provider_tests::golden_requests("o4-mini")
        .into_iter()
        .find(|(name, _)| *name == "reasoning")
        .unwrap()
        .1;
    let extras = provider_tests::with_extra_body(
        &full,
        json!({"reasoning_effort": "minimal", "seed": null, "service_tier": "flex",
               "metadata": {"run": "golden"}}),
    );
    check_request("extra_body", &extras, MaxTokensField::MaxTokens);
}

fn encode_value(request: &CompletionRequest, field: MaxTokensField) -> Value {
    serde_json::from_slice(&encode_request(request, "gpt-test", field).unwrap()).unwrap()
}

#[test]
fn reasoning_effort_is_sent_and_moves_the_cap_to_max_completion_tokens() {
    for effort in ReasoningEffort::ALL {
        let request = CompletionRequest::new(vec![Message::user("u")]).with_sampling(Sampling {
            max_tokens: Some(500),
            reasoning_effort: Some(effort),
            ..Sampling::default()
        });
        for field in [
            MaxTokensField::MaxTokens,
            MaxTokensField::MaxCompletionTokens,
        ] {
            let body = encode_value(&request, field);
            assert_eq!(body["reasoning_effort"], effort.as_str());
            assert_eq!(body["max_completion_tokens"], 500);
            assert!(body.get("max_tokens").is_none(), "{body}");
        }
    }
    // Without an effort the configured field decides, and no reasoning_effort is sent.
    let plain = CompletionRequest::new(vec![Message::user("u")]).with_sampling(Sampling {
        max_tokens: Some(500),
        ..Sampling::default()
    });
    let body = encode_value(&plain, MaxTokensField::MaxTokens);
    assert_eq!(body["max_tokens"], 500);
    assert!(body.get("reasoning_effort").is_none() && body.get("max_completion_tokens").is_none());
}

fn decode(name: &str) -> Result<CompletionResponse, LlmError> {
    let body = fixtures().read(&format!("responses/{name}"));
    decode_response(&body, "requested-model")
}

fn usage(input: u64, output: u64, cached: u64, cost: Option<f64>) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_tokens: cached,
        cost,
        calls: 1,
    }
}

#[test]
fn successful_responses() {
    let cases: Vec<(&str, CompletionResponse)> = vec![
        (
            "openai_chat.json",
            CompletionResponse {
                model: "gpt-4o-mini-2024-07-18".into(),
                text: "```repl\nprint(len(context))\n```".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(1342, 12, 0, None),
            },
        ),
        (
            "openai_cached.json",
            CompletionResponse {
                model: "gpt-4.1-2025-04-14".into(),
                text: "FINAL(42)".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(2006, 4, 1920, None),
            },
        ),
        (
            "vllm_chat.json",
            CompletionResponse {
                model: "Qwen/Qwen2.5-7B-Instruct".into(),
                text: "The context has 3 sections.".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(87, 8, 0, None),
            },
        ),
        (
            "ollama_null_finish.json",
            CompletionResponse {
                model: "llama3.1:8b".into(),
                text: "Hello! How can I help?".into(),
                finish_reason: FinishReason::Unknown,
                usage: usage(26, 9, 0, None),
            },
        ),
        (
            "openrouter_cost.json",
            CompletionResponse {
                model: "openai/gpt-4o-mini".into(),
                text: "Paris.".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(194, 2, 128, Some(0.0000303)),
            },
        ),
        (
            "deepseek_cache_hit.json",
            CompletionResponse {
                model: "deepseek-chat".into(),
                text: "Done.".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(900, 2, 768, None),
            },
        ),
        (
            "empty_string_finish.json",
            CompletionResponse {
                model: "local-model".into(),
                text: "ok".into(),
                finish_reason: FinishReason::Unknown,
                usage: usage(5, 1, 0, None),
            },
        ),
        (
            "unknown_finish.json",
            CompletionResponse {
                model: "tgi-model".into(),
                text: "done".into(),
                finish_reason: FinishReason::Other("eos_token".into()),
                usage: usage(0, 0, 0, None),
            },
        ),
    ];
    for (name, expected) in cases {
        assert_eq!(decode(name).unwrap(), expected, "{name}");
    }
}

#[test]
fn http_200_is_not_yet_success() {
    let empty = |reason: &str| LlmError::EmptyCompletion {
        finish_reason: reason.into(),
    };
    assert_eq!(decode("content_null.json").unwrap_err(), empty("stop"));
    assert_eq!(
        decode("no_content_key.json").unwrap_err(),
        empty("tool_calls")
    );
    assert_eq!(
        decode("empty_choices.json").unwrap_err(),
        empty("unknown (no choices)")
    );
    assert_eq!(
        decode("content_filter.json").unwrap_err(),
        LlmError::ContentFilter
    );
    assert!(
        matches!(decode("length.json").unwrap_err(), LlmError::Truncated { reason } if reason.contains("length"))
    );

    match decode("proxy_error.html").unwrap_err() {
        LlmError::InvalidResponse { reason, body } => {
            assert!(reason.contains("not JSON"), "{reason}");
            assert!(
                body.starts_with("<html>") && body.contains("502 Bad Gateway"),
                "{body}"
            );
        }
        other => panic!("{other:?}"),
    }
    match decode("vllm_error_in_200.json").unwrap_err() {
        LlmError::ContextLengthExceeded { body } => {
            assert!(body.contains("maximum context length is 4096"))
        }
        other => panic!("{other:?}"),
    }
    match decode("openrouter_error_in_200.json").unwrap_err() {
        LlmError::Http {
            status: 502,
            body,
            retry_after: None,
        } => assert!(body.contains("Provider returned error")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reasoning_content_stays_out_of_the_text_and_missing_usage_is_zero() {
    let cases: Vec<(&str, CompletionResponse)> = vec![
        (
            "deepseek_reasoner.json",
            CompletionResponse {
                model: "deepseek-reasoner".into(),
                text: "FINAL(9.8)".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(40, 186, 0, None),
            },
        ),
        (
            "vllm_reasoning.json",
            CompletionResponse {
                model: "Qwen/QwQ-32B".into(),
                text: "```repl\nprint(context.count('\\n'))\n```".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(120, 40, 0, None),
            },
        ),
        (
            "no_usage.json",
            CompletionResponse {
                model: "local-gguf".into(),
                text: "The answer is 42.".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(0, 0, 0, None),
            },
        ),
        (
            "usage_null.json",
            CompletionResponse {
                model: "gateway-model".into(),
                text: "ok".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(0, 0, 0, None),
            },
        ),
        (
            "azure_chat.json",
            CompletionResponse {
                model: "gpt-4o-2024-11-20".into(),
                text: "FINAL(\"Paris\")".into(),
                finish_reason: FinishReason::Stop,
                usage: usage(1500, 6, 1024, None),
            },
        ),
    ];
    for (name, expected) in cases {
        assert_eq!(decode(name).unwrap(), expected, "{name}");
    }
    // Thinking that ran out of tokens is a truncation; thinking with no answer is empty.
    assert!(matches!(
        decode("reasoning_cut_off.json").unwrap_err(),
        LlmError::Truncated { .. }
    ));
    assert_eq!(
        decode("reasoning_only_stop.json").unwrap_err(),
        LlmError::EmptyCompletion {
            finish_reason: "stop".into()
        }
    );
}

#[test]
fn azure_content_filter_refusal_is_typed() {
    let body = fixtures().read_string("responses/azure_content_filter_400.json");
    assert_eq!(
        rlm_openai::error_body::classify_status(400, &body, None),
        LlmError::ContentFilter
    );
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
        b"{\"choices\":7}",
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
