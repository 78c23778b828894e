//! Trajectories of a realistic run (depth 2, batched sub-calls, a raised error, a failed
//! sub-call, a finish) with the default Monty REPL: every record validates against the
//! schema file, the tree reads back, and the official-format export validates against its
//! schema.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rlm::trajectory::{self, OFFICIAL_SCHEMA, SCHEMA, SCHEMA_ID, TrajectoryWriter};
use rlm::{CompletionRequest, LlmError, ModelPrice, Rlm, RunEvent, RunOutcomeKind, SubcallKind};
use rlm_testkit::ScriptedModel;
use rlm_testkit::conversation::{Call, classify, repl};
use rlm_testkit::schema::validate;
use serde_json::Value;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlm-trajectory-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Root: a turn whose code raises, a turn fanning out to two child runs and two plain calls
/// (one fails), a finishing turn. Each child makes one plain call and finishes.
fn model() -> Arc<ScriptedModel> {
    Arc::new(ScriptedModel::from_fn(
        "scripted",
        |req: &CompletionRequest| -> Result<String, LlmError> {
            Ok(match classify(req) {
                Call::Turn { query, turn: 0, .. } if query == "the question" => {
                    repl("x = undefined_name")
                }
                Call::Turn { query, turn: 1, .. } if query == "the question" => repl(
                    "kids = rlm_query_batched(['kid:a', 'kid:b'])\nsubs = llm_query_batched(['p1', 'p2'])\nprint(kids, subs)",
                ),
                Call::Turn { query, .. } if query == "the question" => {
                    repl("FINAL('|'.join(kids + [s[:6] for s in subs]))")
                }
                Call::Turn { .. } => repl("FINAL(context.upper() + llm_query('x'))"),
                Call::Plain { prompt } if prompt == "p2" => return Err(LlmError::ContentFilter),
                Call::Plain { prompt } => format!("<{prompt}>"),
            })
        },
    ))
}

async fn realistic_run(path: &PathBuf) -> rlm::Completion {
    let writer = Arc::new(TrajectoryWriter::create(path).unwrap());
    let rlm = Rlm::builder(model())
        .max_depth(2)
        .max_iterations(5)
        .price(
            "scripted",
            ModelPrice {
                input: 1.0,
                cached_input: 0.5,
                output: 2.0,
            },
        )
        .trajectory_with(
            writer,
            serde_json::json!({"provider": "scripted", "OPENAI_API_KEY": "sk-never", "note": "x"}),
        )
        .build()
        .unwrap();
    rlm.completion("some context", "the question")
        .await
        .unwrap()
}

fn lines(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn every_record_validates_against_the_schema_file() {
    let path = tmp("realistic.jsonl");
    let done = realistic_run(&path).await;
    assert_eq!(done.kind(), RunOutcomeKind::Finished);
    assert_eq!(done.answer(), "KID:A<x>|KID:B<x>|<p1>|Error:");

    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let records = lines(&path);
    for (i, record) in records.iter().enumerate() {
        let errors = validate(&schema, record);
        assert!(errors.is_empty(), "line {}: {errors:#?}\n{record}", i + 1);
    }
    // The header, then events numbered 1, 2, ... in file order.
    assert_eq!(records[0]["record"], "header");
    assert_eq!(records[0]["schema"], SCHEMA_ID);
    assert_eq!(records[0]["config"]["root_model"], "scripted");
    assert_eq!(records[0]["config"]["max_depth"], 2);
    assert_eq!(records[0]["config"]["provider"], "scripted");
    assert!(records[0]["config"].get("OPENAI_API_KEY").is_none());
    assert!(!std::fs::read_to_string(&path).unwrap().contains("sk-never"));
    for (i, record) in records.iter().enumerate().skip(1) {
        assert_eq!(record["seq"], i as u64);
    }
    // Every kind of event is there.
    let kinds: std::collections::BTreeSet<&str> =
        records.iter().filter_map(|r| r["event"].as_str()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec![
            "block_executed",
            "iteration_started",
            "model_responded",
            "run_finished",
            "run_started",
            "subcall_completed",
            "subcall_started"
        ]
    );
    // The schema file is strict: a stray field or a wrong type is caught.
    let mut bad = records[1].clone();
    bad["surprise"] = Value::Bool(true);
    assert!(!validate(&schema, &bad).is_empty());
    let mut bad = records[1].clone();
    bad["run_id"] = Value::String("1".into());
    assert!(!validate(&schema, &bad).is_empty());
}

#[tokio::test]
async fn the_tree_reads_back_with_children_nested() {
    let path = tmp("tree.jsonl");
    let done = realistic_run(&path).await;
    let t = trajectory::read_file(&path).unwrap();
    assert!(!t.partial_last_line);
    assert_eq!(t.skipped, 0);
    assert_eq!(t.runs.len(), 1, "one root; children are nested");
    let root = &t.runs[0];
    assert_eq!(root.depth, 0);
    assert_eq!(root.turns.len(), 3);
    assert_eq!(root.answer(), Some(done.answer()));
    // Turn 1: the code raised.
    let b = &root.turns[0].blocks[0];
    assert!(b.raised && b.executed);
    assert!(b.error.as_deref().unwrap().contains("NameError"), "{b:?}");
    assert_eq!(b.code.as_deref(), Some("x = undefined_name"));
    // Turn 2: two children and two plain calls, one failed.
    let calls = &root.turns[1].blocks[0].subcalls;
    assert_eq!(calls.len(), 4);
    assert_eq!(root.subcall_counts(), (2, 2));
    let kids: Vec<_> = calls
        .iter()
        .filter(|c| c.kind == SubcallKind::Rlm)
        .collect();
    for kid in &kids {
        let child = kid.child.as_ref().expect("child run nested");
        assert_eq!(child.depth, 1);
        assert_eq!(child.parent_run_id, Some(root.run_id));
        assert_eq!(child.call_id, Some(kid.call_id));
        assert_eq!(child.turns.len(), 1);
        assert_eq!(child.subcall_counts(), (1, 0));
        assert_eq!(
            child.finish.as_ref().unwrap().outcome,
            RunOutcomeKind::Finished
        );
    }
    let failed: Vec<_> = calls.iter().filter(|c| c.error.is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].prompt.as_deref(), Some("p2"));
    assert!(
        root.turns[1].blocks[0]
            .stdout
            .as_deref()
            .unwrap()
            .contains("KID:A<x>")
    );
    // Turn 3 finished the run.
    assert!(root.turns[2].blocks[0].finished);
    // Messages are deltas: the first call sends system + user, later calls one user message.
    assert_eq!(root.turns[0].messages.len(), 2);
    assert_eq!(root.turns[1].messages.len(), 1);
    assert!(root.turns[1].messages[0].content.contains("NameError"));
    // Usage and cost add up to the completion's.
    let total = root.tree_usage();
    assert_eq!(total.calls, done.total_usage().calls);
    assert_eq!(total.input_tokens, done.total_usage().input_tokens);
    assert!(total.cost.unwrap() > 0.0);
    // A file cut mid-line (a killed writer) still reads, flagged.
    let text = std::fs::read_to_string(&path).unwrap();
    let cut = &text[..text.len() - 10];
    let partial = trajectory::parse(cut).unwrap();
    assert!(partial.partial_last_line);
    assert_eq!(partial.records, t.records - 1);
    // A complete line that is broken is an error.
    let broken = text.replacen("\"event\"", "\"event", 1);
    assert!(trajectory::parse(&broken).is_err());
}

#[tokio::test]
async fn official_export_matches_its_schema() {
    let path = tmp("official.jsonl");
    let done = realistic_run(&path).await;
    let t = trajectory::read_file(&path).unwrap();
    let lines = trajectory::export_official(&t);
    let schema: Value = serde_json::from_str(OFFICIAL_SCHEMA).unwrap();
    for (i, line) in lines.iter().enumerate() {
        let errors = validate(&schema, line);
        assert!(errors.is_empty(), "line {}: {errors:#?}\n{line}", i + 1);
    }
    assert_eq!(lines.len(), 4, "metadata + 3 iterations");
    assert_eq!(lines[0]["type"], "metadata");
    assert_eq!(lines[0]["root_model"], "scripted");
    assert_eq!(lines[0]["max_depth"], 2);
    assert_eq!(lines[0]["backend"], "scripted");
    assert_eq!(lines[0]["environment_type"], "monty");
    let it2 = &lines[2];
    assert_eq!(it2["iteration"], 2);
    // The prompt is the whole conversation sent: system, user, assistant, user.
    let roles: Vec<&str> = it2["prompt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    let calls = it2["code_blocks"][0]["result"]["rlm_calls"]
        .as_array()
        .unwrap();
    assert_eq!(calls.len(), 4);
    let child = &calls[0]["metadata"];
    assert_eq!(child["run_metadata"]["root_model"], "scripted");
    assert_eq!(child["iterations"].as_array().unwrap().len(), 1);
    assert_eq!(
        child["iterations"][0]["code_blocks"][0]["result"]["rlm_calls"][0]["response"],
        "<x>"
    );
    assert_eq!(calls[0]["response"], "KID:A<x>");
    assert!(calls.iter().any(|c| c.get("error").is_some()));
    assert_eq!(
        calls[0]["usage_summary"]["model_usage_summaries"]["scripted"]["total_calls"],
        2
    );
    assert!(
        lines[1]["code_blocks"][0]["result"]["stderr"]
            .as_str()
            .unwrap()
            .contains("NameError")
    );
    assert_eq!(lines[3]["final_answer"], done.answer());
    assert_eq!(lines[1]["final_answer"], Value::Null);
    // As a file: one JSON object per line.
    let mut out = Vec::new();
    trajectory::write_official(&t, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 4);
}

#[tokio::test]
async fn without_a_trajectory_events_carry_no_content() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let rlm = Rlm::builder(model())
        .max_depth(2)
        .subscribe(Arc::new(move |e: &RunEvent| {
            sink.lock().unwrap().push(e.clone())
        }))
        .build()
        .unwrap();
    rlm.completion("some context", "the question")
        .await
        .unwrap();
    let events = seen.lock().unwrap();
    assert!(events.len() > 20);
    for e in events.iter() {
        let v = serde_json::to_value(e).unwrap();
        for field in [
            "messages",
            "response",
            "code",
            "stdout",
            "prompt",
            "answer",
            "final_answer",
        ] {
            assert!(
                v.get(field).is_none(),
                "{field} recorded without opting in: {v}"
            );
        }
    }
    // Ids still link the tree: every child run names its parent and its sub-call.
    let children = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                RunEvent::RunStarted {
                    parent_run_id: Some(_),
                    call_id: Some(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(children, 2);
}

#[tokio::test]
async fn a_child_cut_off_by_its_timeout_still_finishes_in_the_trajectory() {
    // Every answer takes 150 ms; the child needs two turns but has 200 ms.
    let model = Arc::new(
        ScriptedModel::from_fn("slow", |req: &CompletionRequest| match classify(req) {
            Call::Turn { query, .. } if query == "q" => repl("FINAL(rlm_query('child task'))"),
            Call::Turn { turn: 0, .. } => repl("x = 1"),
            _ => repl("FINAL(x)"),
        })
        .with_latency(std::time::Duration::from_millis(150)),
    );
    let path = tmp("timeout.jsonl");
    let rlm = Rlm::builder(model)
        .max_depth(2)
        .per_child_timeout(Some(std::time::Duration::from_millis(200)))
        .trajectory(Arc::new(TrajectoryWriter::create(&path).unwrap()))
        .build()
        .unwrap();
    let done = rlm.completion("c", "q").await.unwrap();
    assert!(
        done.answer().starts_with("Error: child timeout"),
        "{}",
        done.answer()
    );
    let t = trajectory::read_file(&path).unwrap();
    let call = t.runs[0].subcalls().next().unwrap();
    assert!(call.error.as_deref().unwrap().contains("child timeout"));
    let child = call.child.as_ref().unwrap();
    let finish = child
        .finish
        .as_ref()
        .expect("a dropped child still has a finish");
    assert_eq!(finish.outcome, RunOutcomeKind::Timeout);
    assert_eq!(finish.iterations, 2, "it was in its second turn");
    assert_eq!(finish.usage.calls, 1, "one turn answered before the cut");
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    for record in lines(&path) {
        assert_eq!(validate(&schema, &record), Vec::<String>::new());
    }
}
