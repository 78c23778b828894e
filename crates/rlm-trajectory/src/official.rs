//! Export to the official `rlm` library's log format (its `RLMLogger` JSON Lines), so its
//! visualizer opens our runs.
//!
//! The file is a `metadata` line, then one `iteration` line per model turn of the root run:
//! `prompt` (the whole conversation sent), `response`, `code_blocks[].result{stdout, stderr,
//! locals, execution_time, rlm_calls}`, `final_answer`, `iteration_time`. Each sub-call is an
//! `rlm_calls` entry (`RLMChatCompletion.to_dict()`: `root_model`, `prompt`, `response`,
//! `usage_summary`, `execution_time`, plus the visualizer's `prompt_tokens` and
//! `completion_tokens`); a child run's own trajectory (`{"run_metadata", "iterations"}`) is
//! nested in its entry's `metadata`, as the official library does.
//!
//! `locals` holds the user variables (not `context`) at the end of the iteration, on its last
//! block, as `repr` strings cut per value and in total by the runner; earlier blocks of the
//! iteration have `{}`, as do runs traced before the snapshot existed. `stderr` holds the
//! traceback when the code raised.
//!
//! As `rlms` logs only turns whose model call returned, a turn without a reply (an HTTP error,
//! an unreachable endpoint, a run killed mid-call) is not exported: the iterations are the
//! answered turns, numbered from 1. `backend` and `other_backends` hold `rlms` backend names
//! (`openai`, `azure_openai`, `anthropic`, `gemini`), and `backend_kwargs` the model name and
//! the endpoint (user info masked by the CLI; keys are never in the header).

use std::io::Write;

use serde_json::{Map, Value, json};

use super::time::iso_after;
use super::tree::{RunNode, Subcall, Trajectory, Turn};

/// JSON Schema of one line of the official format, as we write it.
pub const OFFICIAL_SCHEMA: &str = include_str!("../schemas/rlm-official-log.schema.json");

/// Settings the export needs from the header.
struct Ctx<'a> {
    config: &'a Value,
    created_unix_ms: u64,
    default_model: String,
}

impl Ctx<'_> {
    fn str(&self, key: &str) -> Option<&str> {
        self.config.get(key).and_then(Value::as_str)
    }

    fn u64(&self, key: &str) -> Option<u64> {
        self.config.get(key).and_then(Value::as_u64)
    }

    fn metadata(&self, run: &RunNode) -> Value {
        let backend = backend_name(self.str("provider"));
        let other_backends = self
            .str("sub_model")
            .map(|_| {
                let sub = self.str("sub_provider").or(self.str("provider"));
                Value::Array(vec![Value::String(backend_name(sub).to_string())])
            })
            .unwrap_or(Value::Null);
        let mut backend_kwargs = Map::new();
        backend_kwargs.insert("model_name".into(), json!(run.model));
        if let Some(url) = self.str("endpoint") {
            backend_kwargs.insert("base_url".into(), json!(url));
        }
        json!({
            "root_model": run.model,
            "max_depth": self.u64("max_depth"),
            "max_iterations": self.u64("max_iterations"),
            "backend": backend,
            "backend_kwargs": backend_kwargs,
            "environment_type": self.str("repl_backend").unwrap_or("monty"),
            "environment_kwargs": {},
            "other_backends": other_backends,
        })
    }
}

/// The `rlms` backend name of one of our provider names (`openai` when unknown).
fn backend_name(provider: Option<&str>) -> &str {
    match provider {
        Some("azure") => "azure_openai",
        Some(name) => name,
        None => "openai",
    }
}

/// The official log of the trajectory's first root run, one JSON value per line. Empty when
/// the trajectory has no run.
pub fn export_official(trajectory: &Trajectory) -> Vec<Value> {
    let null = Value::Null;
    let (config, created_unix_ms, created) = match &trajectory.header {
        Some(h) => (
            &h.config,
            h.created_unix_ms,
            Value::String(h.created.clone()),
        ),
        None => (&null, 0, Value::Null),
    };
    let Some(root) = trajectory.runs.first() else {
        return Vec::new();
    };
    let default_model = config
        .get("sub_model")
        .and_then(Value::as_str)
        .unwrap_or(&root.model)
        .to_string();
    let ctx = Ctx {
        config,
        created_unix_ms,
        default_model,
    };
    let mut lines = Vec::with_capacity(root.turns.len() + 1);
    let mut metadata = Map::new();
    metadata.insert("type".into(), json!("metadata"));
    metadata.insert("timestamp".into(), created);
    if let Value::Object(fields) = ctx.metadata(root) {
        metadata.extend(fields);
    }
    lines.push(Value::Object(metadata));
    lines.extend(iterations(&ctx, root));
    lines
}

/// Writes [`export_official`] as JSON Lines.
pub fn write_official(trajectory: &Trajectory, mut out: impl Write) -> std::io::Result<()> {
    for line in export_official(trajectory) {
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The `iteration` records of one run: one per answered turn (a turn whose model call never
/// returned is not logged, as in `rlms`), numbered from 1.
fn iterations(ctx: &Ctx<'_>, run: &RunNode) -> Vec<Value> {
    let mut history: Vec<Value> = Vec::new();
    let answered = run.turns.iter().filter(|t| t.response.is_some()).count();
    let mut out = Vec::with_capacity(answered);
    for turn in &run.turns {
        history.extend(
            turn.messages
                .iter()
                .map(|m| json!({"role": m.role.as_str(), "content": m.content})),
        );
        let Some(response) = &turn.response else {
            continue;
        };
        let prompt = Value::Array(history.clone());
        history.push(json!({"role": "assistant", "content": response}));
        let number = out.len() + 1;
        out.push(iteration(
            ctx,
            run,
            turn,
            number,
            prompt,
            number == answered,
        ));
    }
    out
}

fn iteration(
    ctx: &Ctx<'_>,
    run: &RunNode,
    turn: &Turn,
    number: usize,
    prompt: Value,
    is_last: bool,
) -> Value {
    let code_blocks: Vec<Value> = turn
        .blocks
        .iter()
        .map(|b| {
            let rlm_calls: Vec<Value> = b.subcalls.iter().map(|c| rlm_call(ctx, c)).collect();
            json!({
                "code": b.code.clone().unwrap_or_default(),
                "result": {
                    "stdout": b.stdout.clone().unwrap_or_default(),
                    "stderr": b.error.clone().unwrap_or_default(),
                    "locals": b.locals.clone().unwrap_or_default(),
                    "execution_time": b.duration_ms / 1000.0,
                    "rlm_calls": rlm_calls,
                    "final_answer": b.final_answer,
                },
            })
        })
        .collect();
    let block_answer = turn.blocks.iter().find_map(|b| b.final_answer.clone());
    let final_answer = block_answer.or_else(|| {
        let finish = run.finish.as_ref()?;
        let answered = matches!(
            finish.outcome,
            rlm_core::RunOutcomeKind::Finished | rlm_core::RunOutcomeKind::IterationLimit
        );
        (is_last && answered)
            .then(|| finish.answer.clone())
            .flatten()
    });
    json!({
        "type": "iteration",
        "iteration": number,
        "timestamp": iso_after(ctx.created_unix_ms, turn.ended_ms),
        "prompt": prompt,
        "response": turn.response.clone().unwrap_or_default(),
        "code_blocks": code_blocks,
        "final_answer": final_answer,
        "iteration_time": ((turn.ended_ms - turn.started_ms).max(0.0)) / 1000.0,
    })
}

fn usage_entry(usage: &rlm_core::Usage) -> Value {
    let mut entry = json!({
        "total_calls": usage.calls,
        "total_input_tokens": usage.input_tokens,
        "total_output_tokens": usage.output_tokens,
    });
    if let (Some(cost), Value::Object(map)) = (usage.cost, &mut entry) {
        map.insert("total_cost".into(), json!(cost));
    }
    entry
}

/// One `RLMChatCompletion.to_dict()`.
fn rlm_call(ctx: &Ctx<'_>, call: &Subcall) -> Value {
    let model = match &call.child {
        Some(child) => child.model.clone(),
        None if call.model == "default" => ctx.default_model.clone(),
        None => call.model.clone(),
    };
    let by_model = match (&call.child, &call.usage) {
        (Some(child), _) => child.usage_by_model(&ctx.default_model),
        (None, Some(usage)) => [(model.clone(), *usage)].into_iter().collect(),
        (None, None) => Default::default(),
    };
    let mut total = rlm_core::Usage::default();
    let mut summaries = Map::new();
    for (name, usage) in &by_model {
        total.add(usage);
        summaries.insert(name.clone(), usage_entry(usage));
    }
    let mut usage_summary = Map::new();
    usage_summary.insert("model_usage_summaries".into(), Value::Object(summaries));
    if let Some(cost) = total.cost {
        usage_summary.insert("total_cost".into(), json!(cost));
    }
    let response = call
        .response
        .clone()
        .or_else(|| {
            call.child
                .as_ref()
                .and_then(|c| c.answer().map(String::from))
        })
        .unwrap_or_default();
    let mut out = Map::new();
    out.insert("root_model".into(), json!(model));
    out.insert(
        "prompt".into(),
        json!(
            call.prompt
                .clone()
                .unwrap_or_else(|| call.prompt_preview.clone())
        ),
    );
    out.insert("response".into(), json!(response));
    out.insert("usage_summary".into(), Value::Object(usage_summary));
    out.insert(
        "execution_time".into(),
        json!(call.duration_ms.unwrap_or_default() / 1000.0),
    );
    out.insert("prompt_tokens".into(), json!(total.input_tokens));
    out.insert("completion_tokens".into(), json!(total.output_tokens));
    if let Some(child) = &call.child {
        out.insert(
            "metadata".into(),
            json!({
                "run_metadata": ctx.metadata(child),
                "iterations": iterations(ctx, child),
            }),
        );
    }
    if let Some(error) = &call.error {
        out.insert("error".into(), json!(error));
    }
    Value::Object(out)
}
