//! Custom tools (`ReplConfig::tools`): the intent of the official `rlms` library's
//! `tests/repl/test_custom_tools.py`, on the Monty backend. Tools are host functions: calls
//! reach the host as `HostCall::Tool` with JSON arguments; errors are Python exceptions.

use std::sync::Arc;
use std::time::Duration;

use rlm_core::{
    HostCall, HostReply, Repl, ReplConfig, ReplError, ReplHost, ReplValue, ToolArgs, ToolError,
};
use rlm_repl_monty::MontyRepl;
use serde_json::{Value, json};

use crate::support::TestHost;

/// The official fixture's tools: `double`, `concat`, plus `failing_tool`, `returns_none`,
/// `describe` (echoes its arguments) and `process_context`.
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
        "failing_tool" => Err(ToolError::raise("ValueError", "Tool failed!")),
        "strange_failure" => Err(ToolError::raise("MyError", "odd")),
        "returns_none" => Ok(Value::Null),
        "describe" => Ok(json!({"args": call.args, "kwargs": call.kwargs})),
        "process_context" => Ok(json!(format!("Processed: {}", call.args[0]["name"]))),
        other => Err(ToolError::new(format!("unknown tool {other}"))),
    }
}

const TOOLS: &[&str] = &[
    "double",
    "concat",
    "failing_tool",
    "strange_failure",
    "returns_none",
    "describe",
    "process_context",
    "slow",
];

fn host() -> Arc<TestHost> {
    TestHost::new(|call| match call {
        HostCall::Tool { name, args } => match answer(name, args) {
            Ok(value) => HostReply::Json(value),
            Err(e) => HostReply::Raise(e),
        },
        _ => HostReply::Text("sub-call".into()),
    })
}

fn config() -> ReplConfig {
    ReplConfig {
        tools: TOOLS.iter().map(|t| t.to_string()).collect(),
        ..ReplConfig::default()
    }
}

fn session() -> MontyRepl {
    MontyRepl::new(config()).unwrap()
}

async fn get(repl: &mut MontyRepl, name: &str) -> Option<ReplValue> {
    repl.get_variable(name).await.unwrap()
}

async fn run(repl: &mut MontyRepl, code: &str) -> rlm_core::Execution {
    repl.execute(code, host()).await.unwrap()
}

#[tokio::test]
async fn callable_tools_take_positional_and_keyword_arguments() {
    let mut r = session();
    let out = run(
        &mut r,
        "result = double(21)\nword = concat('hello', 'world')",
    )
    .await;
    assert_eq!(out.error, None);
    assert_eq!(out.host_calls, 2);
    assert_eq!(get(&mut r, "result").await, Some(ReplValue::Int(42)));
    assert_eq!(
        get(&mut r, "word").await,
        Some(ReplValue::from("hello-world"))
    );

    let h = host();
    let code = "d = describe(1, (2, 'x'), None, flag=True, opts={'k': [1.5]})\nprint(d['kwargs']['opts']['k'][0], d['args'][1])";
    let out = r.execute(code, h.clone()).await.unwrap();
    assert_eq!(out.error, None);
    assert_eq!(out.stdout, "1.5 [2, 'x']\n");
    let HostCall::Tool { name, args } = &h.calls()[0] else {
        panic!("{:?}", h.calls())
    };
    assert_eq!(name, "describe");
    assert_eq!(args.args, [json!(1), json!([2, "x"]), Value::Null]);
    assert_eq!(
        Value::Object(args.kwargs.clone()),
        json!({"flag": true, "opts": {"k": [1.5]}})
    );
}

#[tokio::test]
async fn tools_persist_across_blocks_and_survive_rebinding() {
    let mut r = session();
    assert_eq!(run(&mut r, "x = double(5)").await.error, None);
    assert_eq!(run(&mut r, "y = double(x)").await.error, None);
    assert_eq!(get(&mut r, "y").await, Some(ReplValue::Int(20)));
    // A bare reference is the tool too.
    assert_eq!(run(&mut r, "f = double\nz = f(4)").await.error, None);
    assert_eq!(get(&mut r, "z").await, Some(ReplValue::Int(8)));
    // Rebinding a tool lasts for that block only.
    let out = run(&mut r, "double = 'gone'\nprint(double)").await;
    assert_eq!(out.stdout, "gone\n");
    assert_eq!(run(&mut r, "w = double(1)").await.error, None);
    assert_eq!(get(&mut r, "w").await, Some(ReplValue::Int(2)));
}

#[tokio::test]
async fn tool_results_and_context_cross_as_plain_data() {
    let mut r = session();
    let context = ReplValue::from_json(json!({"name": "test_data"}));
    r.set_variable("context", context).await.unwrap();
    let out = run(
        &mut r,
        "result = process_context(context)\nnothing = returns_none()",
    )
    .await;
    assert_eq!(out.error, None);
    assert_eq!(
        get(&mut r, "result").await,
        Some(ReplValue::from("Processed: \"test_data\""))
    );
    assert_eq!(get(&mut r, "nothing").await, Some(ReplValue::None));
}

#[tokio::test]
async fn a_failing_tool_raises_a_python_exception() {
    let mut r = session();
    let out = run(&mut r, "result = failing_tool()").await;
    let error = out.error.unwrap();
    assert!(error.contains("ValueError: Tool failed!"), "{error}");
    // The exception can be caught, and the session goes on.
    let code = "try:\n    failing_tool()\nexcept ValueError as e:\n    print('caught', e)\ntry:\n    strange_failure()\nexcept RuntimeError as e:\n    print('caught', e)";
    let out = run(&mut r, code).await;
    assert_eq!(out.error, None);
    assert_eq!(out.stdout, "caught Tool failed!\ncaught MyError: odd\n");
}

#[tokio::test]
async fn arguments_that_are_not_json_like_are_type_errors_at_the_call() {
    let mut r = session();
    let h = host();
    let out = r.execute("double({1, 2})", h.clone()).await.unwrap();
    let error = out.error.unwrap();
    assert!(
        error.ends_with(
            "TypeError: double() argument 1 is not JSON-like: a set value is not JSON-like"
        ),
        "{error}"
    );
    let out = r.execute("double(b'x')\n", h.clone()).await.unwrap();
    assert!(out.error.unwrap().contains("TypeError"));
    assert!(h.calls().is_empty(), "no host call for bad arguments");
}

#[tokio::test]
async fn runtime_functions_still_work_and_tools_are_not_variables() {
    let mut r = session();
    assert_eq!(
        run(&mut r, "value = double(21)\ntools = [double]")
            .await
            .error,
        None
    );
    let out = run(&mut r, "print(SHOW_VARS())").await;
    assert_eq!(
        out.stdout,
        "Available variables: {'answer': 'dict', 'tools': 'list', 'value': 'int'}\n"
    );
    let vars = crate::support::variable_names(&mut r).await;
    assert!(!vars.iter().any(|v| v == "double"), "{vars:?}");
    let out = run(&mut r, "FINAL_VAR('value')").await;
    assert_eq!(
        out.final_answer.map(|f| f.into_answer()),
        Some("42".to_string())
    );
    // A sub-call still goes to the host as before.
    let out = run(&mut r, "print(llm_query('p'))").await;
    assert_eq!(out.stdout, "sub-call\n");
}

#[test]
fn reserved_or_invalid_tool_names_are_refused() {
    for name in [
        "llm_query",
        "FINAL",
        "answer",
        "context",
        "print",
        "not valid",
        "class",
    ] {
        let config = ReplConfig {
            tools: vec!["fine".into(), name.into()],
            ..ReplConfig::default()
        };
        match MontyRepl::new(config) {
            Err(ReplError::InvalidName { name: bad, .. }) => assert_eq!(bad, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// A host whose tools never answer.
struct Stuck;

#[async_trait::async_trait]
impl ReplHost for Stuck {
    async fn call(&self, call: HostCall) -> HostReply {
        match call {
            HostCall::Tool { .. } => std::future::pending().await,
            _ => HostReply::Text("ok".into()),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_tool_counts_against_the_block_time_limit() {
    let mut r = MontyRepl::new(ReplConfig {
        execution_timeout: Duration::from_secs(5),
        ..config()
    })
    .unwrap();
    let code =
        "before = 1\ntry:\n    slow()\nexcept BaseException:\n    print('caught')\nafter = 1";
    let out = r.execute(code, Arc::new(Stuck)).await.unwrap();
    let error = out.error.unwrap();
    assert!(error.contains("TimeoutError"), "{error}");
    assert!(error.contains("slow()"), "{error}");
    assert_eq!(out.stdout, "", "the time limit cannot be caught");
    // The session survives; what ran before the call is kept.
    assert_eq!(get(&mut r, "before").await, Some(ReplValue::Int(1)));
    assert_eq!(get(&mut r, "after").await, None);
    assert_eq!(run(&mut r, "print(double(2))").await.stdout, "4\n");
}
