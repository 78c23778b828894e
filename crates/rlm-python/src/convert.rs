//! A finished completion as the JSON document the Python layer reads (`json.loads`): one
//! string crosses the boundary instead of a tree of Python objects built under the GIL.
//!
//! Fields: `kind` (`finished`, `iteration_limit`, `budget`, `timeout`, `error_limit`,
//! `cancelled`, `failed`), `answer` (the partial one for a stopped run), `error` and
//! `error_type` (`provider`, `repl`, `budget`, `timeout`, `error_limit`, `cancelled`,
//! `config`) with `llm_error` (the provider error's kind), `iterations`, `usage` per model,
//! `total_usage`, `child_traces` (nested, durations in seconds), `duration_s`, `budget` (the
//! tree's counters) and `messages` (the root conversation).

use rlm::{ChildTrace, Completion, RlmError, RunError, Usage};
use serde_json::{Value, json};

fn usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cached_tokens": u.cached_tokens,
        "cost": u.cost,
        "calls": u.calls,
    })
}

fn trace(t: &ChildTrace) -> Value {
    json!({
        "depth": t.depth,
        "duration_s": t.duration.as_secs_f64(),
        "prompt_preview": t.prompt_preview,
        "result_preview": t.result_preview,
        "error": t.error,
        "children": t.children.iter().map(trace).collect::<Vec<_>>(),
    })
}

/// The class of error behind a stop, which picks the Python exception.
fn error_type(error: &RunError) -> &'static str {
    match error {
        RunError::Model(_) => "provider",
        RunError::ReplStart(_) | RunError::ContextLoad(_) | RunError::Repl(_) => "repl",
        RunError::ErrorLimit { .. } => "error_limit",
        RunError::Deadline | RunError::DeadlineInCode => "timeout",
        RunError::Cancelled | RunError::Dropped => "cancelled",
        _ => "budget",
    }
}

fn completion(c: &Completion) -> Value {
    let kind = serde_json::to_value(c.kind()).unwrap_or(Value::Null);
    let error = c.error();
    json!({
        "kind": kind,
        "answer": c.answer(),
        "error": error.map(ToString::to_string),
        "error_type": error.map(error_type),
        "llm_error": error.and_then(RunError::llm_error).map(|e| e.kind()),
        "iterations": c.iterations,
        "usage": c.usage.iter().map(|(m, u)| (m.clone(), usage(u))).collect::<serde_json::Map<_, _>>(),
        "total_usage": usage(&c.total_usage()),
        "child_traces": c.child_traces.iter().map(trace).collect::<Vec<_>>(),
        "duration_s": c.duration.as_secs_f64(),
        "budget": serde_json::to_value(c.budget).unwrap_or(Value::Null),
        "messages": serde_json::to_value(&c.messages).unwrap_or(Value::Null),
    })
}

/// A `failed` document with no run behind it.
fn not_run(error: String, error_type: &str) -> Value {
    json!({
        "kind": "failed",
        "answer": "",
        "error": error,
        "error_type": error_type,
            "iterations": 0,
            "usage": {},
            "total_usage": usage(&Usage::default()),
            "child_traces": [],
            "duration_s": 0.0,
            "messages": [],
    })
}

/// The document of a completion that ended without a result (its task panicked).
pub fn internal_error() -> String {
    not_run(
        "the completion ended without a result (internal error in recursive_lm)".into(),
        "internal",
    )
    .to_string()
}

/// The document for a completion's result; a completion that could not start at all is a
/// `failed` one with `error_type` `config`.
pub fn encode(result: &Result<Completion, RlmError>) -> String {
    let value = match result {
        Ok(c) => completion(c),
        Err(RlmError::Failed { completion: c }) => completion(c),
        Err(RlmError::Session(e)) => not_run(e.to_string(), "repl"),
        Err(other) => not_run(other.to_string(), "config"),
    };
    value.to_string()
}
