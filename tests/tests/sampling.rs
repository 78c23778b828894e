//! Sampling per route: the root model's turns (root and child RLMs) carry the root sampling,
//! plain sub-calls the sub sampling with unset fields inherited from the root (never the
//! reasoning effort or the extras); out-of-range values and settings a provider cannot encode
//! are refused when the runner is built, before any request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use rlm_anthropic::AnthropicClient;
use rlm_core::{CompletionRequest, LanguageModel, ReasoningEffort, ReplValue, Sampling};
use rlm_gemini::GeminiClient;
use rlm_limits::{BackendLimits, ConfigError};
use rlm_repl_monty::MontyReplFactory;
use rlm_runner::{Models, Runner, RunnerConfig};
use rlm_testkit::ScriptedModel;
use rlm_tests::{Call, classify, repl};
use serde_json::json;

fn root_sampling() -> Sampling {
    let serde_json::Value::Object(extra_body) = json!({"service_tier": "flex"}) else {
        unreachable!()
    };
    Sampling {
        temperature: Some(0.7),
        top_p: Some(0.9),
        max_tokens: Some(2_000),
        stop: vec!["<END>".into()],
        seed: Some(11),
        reasoning_effort: Some(ReasoningEffort::High),
        extra_body,
    }
}

fn sub_sampling() -> Sampling {
    Sampling {
        temperature: Some(0.1),
        seed: Some(5),
        reasoning_effort: Some(ReasoningEffort::Low),
        ..Sampling::default()
    }
}

fn config(sampling: Sampling, sub_sampling: Sampling, max_depth: u32) -> RunnerConfig {
    RunnerConfig {
        sampling,
        sub_sampling,
        backend: BackendLimits {
            max_depth,
            ..BackendLimits::default()
        },
        ..RunnerConfig::default()
    }
}

/// A root that asks a sub-call (and, at depth 2, a child RLM that finishes at once).
fn scripted(child: bool) -> Arc<ScriptedModel> {
    Arc::new(ScriptedModel::from_fn(
        "root-model",
        move |req: &CompletionRequest| match classify(req) {
            Call::Turn { query, .. } if query == "child?" => repl("FINAL('child done')"),
            Call::Turn { .. } if child => {
                repl("a = llm_query('sub?')\nb = rlm_query('child?')\nFINAL(a + '|' + b)")
            }
            Call::Turn { .. } => repl("FINAL(llm_query('sub?'))"),
            Call::Plain { .. } => "sub done".to_string(),
        },
    ))
}

#[tokio::test]
async fn each_route_sends_its_own_sampling() {
    let model = scripted(true);
    let root: Arc<dyn LanguageModel> = model.clone();
    let runner = Runner::new(
        Models::new(root),
        Arc::new(MontyReplFactory::new()),
        config(root_sampling(), sub_sampling(), 2),
    )
    .unwrap();
    let r = runner.run(ReplValue::from("ctx"), "q").await;
    assert_eq!(r.answer(), "sub done|child done");

    let requests = model.requests();
    let turns: Vec<&CompletionRequest> = requests
        .iter()
        .filter(|q| matches!(classify(q), Call::Turn { .. }))
        .collect();
    let plain: Vec<&CompletionRequest> = requests
        .iter()
        .filter(|q| matches!(classify(q), Call::Plain { .. }))
        .collect();
    // The root's turn and the child's turn: the root sampling, whole.
    assert_eq!(turns.len(), 2);
    for turn in turns {
        assert_eq!(turn.sampling, root_sampling());
    }
    // The sub-call: its own temperature, seed and effort; the root's top_p, cap and stop; no
    // extras.
    assert_eq!(plain.len(), 1);
    assert_eq!(
        plain[0].sampling,
        Sampling {
            temperature: Some(0.1),
            top_p: Some(0.9),
            max_tokens: Some(2_000),
            stop: vec!["<END>".into()],
            seed: Some(5),
            reasoning_effort: Some(ReasoningEffort::Low),
            extra_body: serde_json::Map::new(),
        }
    );
}

#[tokio::test]
async fn a_separate_sub_model_gets_the_sub_sampling() {
    let root_model = scripted(false);
    let sub_model = Arc::new(ScriptedModel::from_fn(
        "sub-model",
        |_: &CompletionRequest| "from sub",
    ));
    let root: Arc<dyn LanguageModel> = root_model.clone();
    let sub: Arc<dyn LanguageModel> = sub_model.clone();
    let runner = Runner::new(
        Models::new(root).with_sub(sub),
        Arc::new(MontyReplFactory::new()),
        config(root_sampling(), Sampling::default(), 1),
    )
    .unwrap();
    assert_eq!(
        runner.run(ReplValue::from("ctx"), "q").await.answer(),
        "from sub"
    );
    assert_eq!(root_model.requests()[0].sampling, root_sampling());
    // Nothing of its own: the root's neutral fields, without the effort and the extras.
    assert_eq!(
        sub_model.requests()[0].sampling,
        Sampling {
            reasoning_effort: None,
            extra_body: serde_json::Map::new(),
            ..root_sampling()
        }
    );
}

fn build(
    root: Arc<dyn LanguageModel>,
    sub: Option<Arc<dyn LanguageModel>>,
    sampling: Sampling,
    sub_sampling: Sampling,
) -> Result<Runner, ConfigError> {
    let mut models = Models::new(root);
    if let Some(sub) = sub {
        models = models.with_sub(sub);
    }
    Runner::new(
        models,
        Arc::new(MontyReplFactory::new()),
        config(sampling, sub_sampling, 1),
    )
}

fn invalid(result: Result<Runner, ConfigError>) -> (&'static str, String) {
    match result {
        Err(ConfigError::Invalid { field, reason }) => (field, reason),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("the runner was built"),
    }
}

#[test]
fn out_of_range_sampling_is_refused_with_its_field() {
    let model = || -> Arc<dyn LanguageModel> { Arc::new(ScriptedModel::new("m")) };
    let cases = [
        (
            Sampling {
                top_p: Some(1.5),
                ..Sampling::default()
            },
            Sampling::default(),
            "sampling",
            "top_p must be between 0 and 1, got 1.5",
        ),
        (
            Sampling::default(),
            Sampling {
                temperature: Some(2.5),
                ..Sampling::default()
            },
            "sub_sampling",
            "temperature must be between 0 and 2, got 2.5",
        ),
        (
            Sampling {
                max_tokens: Some(0),
                ..Sampling::default()
            },
            Sampling::default(),
            "sampling",
            "max_tokens must be at least 1",
        ),
    ];
    for (root, sub, field, reason) in cases {
        assert_eq!(
            invalid(build(model(), None, root, sub)),
            (field, reason.to_string())
        );
    }
}

#[test]
fn settings_a_provider_cannot_encode_are_refused_before_any_request() {
    let claude = || -> Arc<dyn LanguageModel> {
        Arc::new(
            AnthropicClient::builder("claude-test")
                .base_url("http://127.0.0.1:9")
                .api_key("sk-ant-test")
                .build()
                .unwrap(),
        )
    };
    let gemini: Arc<dyn LanguageModel> = Arc::new(
        GeminiClient::builder("gemini-test")
            .base_url("http://127.0.0.1:9")
            .api_key("AIza-test")
            .build()
            .unwrap(),
    );
    let thinking_with_temperature = Sampling {
        temperature: Some(0.5),
        reasoning_effort: Some(ReasoningEffort::Medium),
        ..Sampling::default()
    };
    let (field, reason) = invalid(build(
        claude(),
        None,
        thinking_with_temperature.clone(),
        Sampling::default(),
    ));
    assert_eq!(field, "sampling");
    assert!(
        reason.starts_with("claude-test (anthropic): ")
            && reason.contains("temperature 0.5 cannot be sent with reasoning effort medium"),
        "{reason}"
    );
    // The sub sampling is checked against the sub model (inheritance applied).
    let (field, reason) = invalid(build(
        Arc::new(ScriptedModel::new("m")),
        Some(gemini),
        Sampling {
            seed: Some(u64::from(u32::MAX)),
            ..Sampling::default()
        },
        Sampling::default(),
    ));
    assert_eq!(field, "sub_sampling");
    assert!(reason.contains("32-bit seed"), "{reason}");
    // The same thinking settings without the temperature are fine.
    assert!(
        build(
            claude(),
            None,
            Sampling {
                temperature: None,
                ..thinking_with_temperature
            },
            Sampling::default(),
        )
        .is_ok()
    );
}
