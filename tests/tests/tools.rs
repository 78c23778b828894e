//! Custom tools end to end (`docs/design.md`, "Custom tools"): a scripted model, the real runner and both
//! REPL backends. Ports the intent of the official `rlms` library's custom-tools tests
//! (`tests/repl/test_custom_tools.py`): callable tools and data values in the REPL, reserved
//! names refused, tools listed with their descriptions in the prompt, sub-RLMs inheriting
//! them, errors as exceptions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use rlm_core::{
    CompletionRequest, LanguageModel, ReplFactory, ReplValue, RunOutcomeKind, ToolArgs, ToolError,
    Tools, tool_fn,
};
use rlm_limits::{BackendLimits, ConfigError};
use rlm_runner::{Models, RunResult, Runner, RunnerConfig};
use rlm_testkit::ScriptedModel;
use rlm_tests::{Call, classify, repl};
use serde_json::{Value, json};

/// A tool with state (the official test's class instance with `__call__`).
struct Adder(i64);

#[async_trait::async_trait]
impl rlm_core::Tool for Adder {
    async fn call(&self, args: ToolArgs) -> Result<Value, ToolError> {
        let x = args.arg(0, "x").and_then(Value::as_i64).unwrap_or(0);
        Ok(json!(x + self.0))
    }
}

/// The official fixture: `double`, `concat`, `CONFIG`, `CONSTANT`, plus a stateful, a failing
/// and a panicking tool, and data named like a module (`json`).
fn tools() -> Tools {
    let mut t = Tools::new();
    t.add_function("add_five", "", Arc::new(Adder(5)));
    t.add_data("json", "", ReplValue::from("not the real json"));
    t.add_function(
        "double",
        "Doubles a number.",
        tool_fn(|call: ToolArgs| async move {
            let x = call
                .arg(0, "x")
                .and_then(Value::as_i64)
                .ok_or_else(|| ToolError::raise("TypeError", "double() needs an int x"))?;
            Ok(json!(x * 2))
        }),
    );
    t.add_function(
        "concat",
        "",
        tool_fn(|call: ToolArgs| async move {
            let part = |i: usize, name: &str| {
                call.arg(i, name)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            Ok(json!(format!("{}-{}", part(0, "a"), part(1, "b"))))
        }),
    );
    t.add_function(
        "failing_tool",
        "Always fails.",
        tool_fn(|_| async { Err(ToolError::raise("ValueError", "Tool failed!")) }),
    );
    t.add_function(
        "broken_tool",
        "Panics.",
        tool_fn(|_| async {
            if true {
                panic!("a bug in the tool");
            }
            Ok(Value::Null)
        }),
    );
    t.add_data(
        "CONFIG",
        "Settings of the index.",
        json!({"key": "value", "number": 42}).into(),
    );
    t.add_data("CONSTANT", "", ReplValue::from("hello world"));
    t
}

type Script = dyn Fn(Call) -> String + Send + Sync;

/// Runs `script` with the tools over `backend`; returns the result and every system prompt.
async fn run(
    backend: Arc<dyn ReplFactory>,
    config: RunnerConfig,
    script: impl Fn(Call) -> String + Send + Sync + 'static,
) -> (RunResult, Vec<String>) {
    let script: Arc<Script> = Arc::new(script);
    let systems = Arc::new(Mutex::new(Vec::new()));
    let seen = systems.clone();
    let model = ScriptedModel::from_fn("test-model", move |req: &CompletionRequest| {
        if let Some(first) = req.messages.first()
            && first.role == rlm_core::Role::System
        {
            seen.lock().unwrap().push(first.content.clone());
        }
        script(classify(req))
    });
    let model: Arc<dyn LanguageModel> = Arc::new(model);
    let config = RunnerConfig {
        tools: tools(),
        ..config
    };
    let runner = Runner::new(Models::new(model), backend, config).unwrap();
    let result = runner
        .run(ReplValue::from("the context"), "the question")
        .await;
    let systems = systems.lock().unwrap().clone();
    (result, systems)
}

async fn tools_and_data_are_in_the_repl_and_the_prompt(backend: Arc<dyn ReplFactory>) {
    let code = "a = double(21)\nb = concat('hello', b='world')\nc = CONFIG['key'] + str(CONFIG['number'])\nd = CONSTANT.upper()\nimport json as json_module\ne = json + ' ' + json_module.dumps({'a': add_five(10)})\nFINAL([a, b, c, d, e])";
    let (r, systems) = run(backend, RunnerConfig::default(), move |_| repl(code)).await;
    assert_eq!(r.kind(), RunOutcomeKind::Finished, "{:?}", r.outcome);
    assert_eq!(
        r.answer(),
        "[42, 'hello-world', 'value42', 'HELLO WORLD', 'not the real json {\"a\": 15}']"
    );
    let system = &systems[0];
    for line in [
        "Custom tools and data are also in the REPL:",
        "- `double(...)`: Doubles a number.",
        "- `concat(...)`: A custom function.",
        "- `failing_tool(...)`: Always fails.",
        "- `CONFIG` (dict): Settings of the index.",
        "- `CONSTANT`: A custom str value.",
        "A tool that fails raises an exception",
    ] {
        assert!(system.contains(line), "{line:?} not in:\n{system}");
    }
}

async fn tool_errors_are_exceptions_the_code_sees(backend: Arc<dyn ReplFactory>) {
    let (r, _) = run(backend, RunnerConfig::default(), |c| match c {
        Call::Turn { turn: 0, .. } => repl("x = failing_tool()"),
        Call::Turn { turn: 1, last_user, .. } => {
            assert!(last_user.contains("ValueError: Tool failed!"), "{last_user}");
            repl("try:\n    broken_tool()\nexcept RuntimeError as e:\n    FINAL('caught: ' + str(e))")
        }
        other => panic!("{other:?}"),
    })
    .await;
    assert_eq!(r.answer(), "caught: the custom tool broken_tool() panicked");
}

async fn child_rlms_inherit_the_tools(backend: Arc<dyn ReplFactory>) {
    let config = RunnerConfig {
        backend: BackendLimits {
            max_depth: 2,
            ..BackendLimits::default()
        },
        ..RunnerConfig::default()
    };
    let (r, systems) = run(backend, config, |c| match c {
        Call::Turn { query, .. } if query == "the question" => {
            repl("FINAL(rlm_query('child task'))")
        }
        Call::Turn { .. } => repl("FINAL(str(double(CONFIG['number'])) + ' ' + CONSTANT)"),
        Call::Plain { prompt } => format!("plain:{prompt}"),
    })
    .await;
    assert_eq!(r.answer(), "84 hello world");
    assert_eq!(r.child_traces.len(), 1);
    assert_eq!(systems.len(), 2, "root and child turns");
    assert!(systems[1].contains("- `double(...)`: Doubles a number."));
}

macro_rules! backend {
    ($name:ident => $factory:expr) => {
        mod $name {
            use super::*;

            fn factory() -> Arc<dyn ReplFactory> {
                Arc::new($factory)
            }

            #[tokio::test]
            async fn tools_and_data_are_in_the_repl_and_the_prompt() {
                super::tools_and_data_are_in_the_repl_and_the_prompt(factory()).await;
            }

            #[tokio::test]
            async fn tool_errors_are_exceptions_the_code_sees() {
                super::tool_errors_are_exceptions_the_code_sees(factory()).await;
            }

            #[tokio::test]
            async fn child_rlms_inherit_the_tools() {
                super::child_rlms_inherit_the_tools(factory()).await;
            }
        }
    };
}

backend!(monty => rlm_repl_monty::MontyReplFactory::new());
backend!(python => rlm_repl_python::PythonReplFactory::new());

#[test]
fn bad_names_are_refused_when_the_runner_is_built() {
    let mut bad = tools();
    bad.add_data("llm_query", "", ReplValue::None);
    bad.add_data("FINAL_VAR", "", ReplValue::None);
    bad.add_function("double", "again", tool_fn(|_| async { Ok(Value::Null) }));
    let model: Arc<dyn LanguageModel> = Arc::new(ScriptedModel::from_fn("m", |_| String::new()));
    let config = RunnerConfig {
        tools: bad,
        ..RunnerConfig::default()
    };
    let err = Runner::new(
        Models::new(model),
        Arc::new(rlm_repl_monty::MontyReplFactory::new()),
        config,
    )
    .unwrap_err();
    let ConfigError::Invalid { field, reason } = err else {
        panic!("{err:?}")
    };
    assert_eq!(field, "tools");
    for name in [
        "'llm_query' (reserved",
        "'FINAL_VAR' (reserved",
        "'double' (registered more",
    ] {
        assert!(reason.contains(name), "{reason}");
    }
}
