//! Custom tools (`ReplConfig::tools`) in the CPython driver: the intent of the official `rlms`
//! library's `tests/repl/test_custom_tools.py`, with real `python3` processes.

use std::sync::Arc;

use rlm_core::{
    HostCall, HostReply, Repl, ReplConfig, ReplError, ReplHost, ReplValue, ToolArgs, ToolError,
};
use rlm_repl_python::{PythonOptions, PythonRepl};
use serde_json::{Value, json};

use crate::support::{quick, start};

/// Answers the tools `double`, `concat`, `describe` (echoes its arguments), `failing_tool`,
/// `strange_failure` and `returns_none`; `slow` never answers.
struct Tools;

fn answer(name: &str, call: &ToolArgs) -> Result<Value, ToolError> {
    let int = |i: usize| call.args.get(i).and_then(Value::as_i64).unwrap_or(0);
    let text = |i: usize| {
        call.args
            .get(i)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    match name {
        "double" => Ok(json!(int(0) * 2)),
        "concat" => Ok(json!(format!("{}-{}", text(0), text(1)))),
        "describe" => Ok(json!({"args": call.args, "kwargs": call.kwargs})),
        "failing_tool" => Err(ToolError::raise("ValueError", "Tool failed!")),
        "strange_failure" => Err(ToolError::raise("MyError", "odd")),
        "returns_none" => Ok(Value::Null),
        other => Err(ToolError::new(format!("unknown tool {other}"))),
    }
}

#[async_trait::async_trait]
impl ReplHost for Tools {
    async fn call(&self, call: HostCall) -> HostReply {
        match call {
            HostCall::Tool { name, .. } if name == "slow" => std::future::pending().await,
            HostCall::Tool { name, args } => match answer(&name, &args) {
                Ok(value) => HostReply::Json(value),
                Err(e) => HostReply::Raise(e),
            },
            _ => HostReply::Text("sub-call".into()),
        }
    }
}

fn with_tools(config: ReplConfig) -> ReplConfig {
    ReplConfig {
        tools: [
            "double",
            "concat",
            "describe",
            "failing_tool",
            "strange_failure",
            "returns_none",
            "slow",
        ]
        .map(String::from)
        .to_vec(),
        ..config
    }
}

async fn session() -> PythonRepl {
    start(with_tools(ReplConfig::default()), PythonOptions::default()).await
}

async fn run(r: &mut PythonRepl, code: &str) -> rlm_core::Execution {
    r.execute(code, Arc::new(Tools)).await.unwrap()
}

#[tokio::test]
async fn tools_are_functions_with_positional_and_keyword_arguments() {
    let mut r = session().await;
    let code = "result = double(21)\nword = concat('hello', 'world')\nd = describe(1, (2, 'x'), None, flag=True, opts={'k': [1.5]})\nprint(d['kwargs']['opts']['k'][0], d['args'][1], returns_none())";
    let out = run(&mut r, code).await;
    assert_eq!(out.error, None);
    assert_eq!(out.stdout, "1.5 [2, 'x'] None\n");
    assert_eq!(out.host_calls, 4);
    assert_eq!(
        r.get_variable("result").await.unwrap(),
        Some(ReplValue::Int(42))
    );
    assert_eq!(
        r.get_variable("word").await.unwrap(),
        Some(ReplValue::from("hello-world"))
    );
    // They persist, survive rebinding, and are not user variables.
    let out = run(&mut r, "double = 'gone'\nprint(double)").await;
    assert_eq!(out.stdout, "gone\n");
    let out = run(&mut r, "print(double(result), SHOW_VARS())").await;
    assert_eq!(out.error, None);
    assert!(
        out.stdout.starts_with("84 Available variables: {"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("double"), "{}", out.stdout);
}

#[tokio::test]
async fn tool_errors_are_python_exceptions() {
    let mut r = session().await;
    let out = run(&mut r, "failing_tool()").await;
    let error = out.error.unwrap();
    assert!(error.ends_with("ValueError: Tool failed!"), "{error}");
    let code = "try:\n    failing_tool()\nexcept ValueError as e:\n    print('caught', e)\ntry:\n    strange_failure()\nexcept RuntimeError as e:\n    print('caught', e)\ntry:\n    double({1})\nexcept TypeError as e:\n    print('caught', e)";
    let out = run(&mut r, code).await;
    assert_eq!(out.error, None);
    assert_eq!(
        out.stdout,
        "caught Tool failed!\ncaught MyError: odd\ncaught double() argument 1 is not JSON-like: a set value is not JSON-like\n"
    );
}

#[tokio::test]
async fn a_slow_tool_times_the_block_out() {
    let mut r = start(with_tools(quick(1_000)), PythonOptions::default()).await;
    assert_eq!(run(&mut r, "kept = 1").await.error, None);
    let out = run(&mut r, "print('before')\nslow()\nprint('after')").await;
    let error = out.error.unwrap();
    assert!(error.contains("TimeoutError"), "{error}");
    assert!(error.contains("slow()"), "{error}");
    assert_eq!(out.stdout, "before\n");
    // The block ended by itself after the error: the interpreter and its state are kept.
    assert_eq!(
        r.get_variable("kept").await.unwrap(),
        Some(ReplValue::Int(1))
    );
    // Catching the error buys no time: the block is stopped at its limit.
    let out = run(
        &mut r,
        "try:\n    slow()\nexcept BaseException:\n    while True:\n        pass",
    )
    .await;
    assert!(out.error.unwrap().contains("TimeoutError"));
    assert_eq!(
        run(&mut r, "print(double(2))")
            .await
            .stdout
            .trim_end()
            .lines()
            .last(),
        Some("4")
    );
}

#[tokio::test]
async fn bad_tool_names_are_refused_at_start() {
    for name in [
        "llm_query",
        "SHOW_VARS",
        "answer",
        "context_1",
        "len",
        "no-dash",
    ] {
        let config = ReplConfig {
            tools: vec![name.to_string()],
            ..ReplConfig::default()
        };
        match PythonRepl::start(config, PythonOptions::default()).await {
            Err(ReplError::InvalidName { name: bad, .. }) => assert_eq!(bad, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}
