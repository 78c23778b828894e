//! The reader on hand-written trajectories, without a runner: the header, nesting a child run
//! under the sub-call that spawned it, records of unknown kinds, a cut-short last line, and the
//! errors. Whole runs written by the facade are tested in `crates/recursive-lm/tests`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_testkit::schema::validate;
use rlm_trajectory::{ReadError, SCHEMA, SCHEMA_ID, parse};
use serde_json::{Value, json};

const HEADER: &str = r#"{"record":"header","schema":"rlm-trajectory/1","created":"2026-12-02T09:00:00.000Z","created_unix_ms":1796202000000,"library":"recursive-lm 0.1.0","config":{"root_model":"m"}}"#;

fn run_started(run_id: u64, parent: Option<u64>, call: Option<u64>, depth: u32) -> Value {
    json!({"record": "event", "seq": 1, "t_ms": 1.0, "event": "run_started", "run_id": run_id,
           "parent_run_id": parent, "call_id": call, "depth": depth, "model": "m",
           "query_preview": "q", "context_chars": 3})
}

fn iteration(run_id: u64, depth: u32) -> Value {
    json!({"record": "event", "seq": 2, "t_ms": 2.0, "event": "iteration_started",
           "run_id": run_id, "depth": depth, "iteration": 1})
}

fn text(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn the_header_and_a_child_nested_under_its_subcall() {
    let subcall = json!({"record": "event", "seq": 3, "t_ms": 3.0, "event": "subcall_started",
        "run_id": 1, "call_id": 7, "kind": "rlm", "child_run_id": 2, "iteration": 1, "block": 0,
        "depth": 0, "model": "default", "prompt_preview": "kid"});
    let mut lines = vec![
        serde_json::from_str::<Value>(HEADER).unwrap(),
        run_started(1, None, None, 0),
        iteration(1, 0),
        subcall,
        run_started(2, Some(1), Some(7), 1),
    ];
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    for line in &lines {
        assert_eq!(validate(&schema, line), Vec::<String>::new(), "{line}");
    }
    lines.push(json!({"record": "event", "event": "from_the_future", "run_id": 1}));
    lines.push(json!({"record": "footer"}));

    let t = parse(&text(&lines)).unwrap();
    let header = t.header.as_ref().unwrap();
    assert_eq!(header.schema, SCHEMA_ID);
    assert_eq!(header.config["root_model"], "m");
    assert_eq!((t.records, t.skipped, t.partial_last_line), (7, 2, false));
    assert_eq!(t.runs.len(), 1, "the child is nested, not a root");
    let root = &t.runs[0];
    assert_eq!(root.turns.len(), 1);
    let call = &root.turns[0].blocks[0].subcalls[0];
    assert_eq!((call.call_id, call.child_run_id), (7, Some(2)));
    let child = call.child.as_ref().unwrap();
    assert_eq!((child.run_id, child.depth), (2, 1));
    assert_eq!(root.walk().len(), 2);
    assert_eq!(root.subcall_counts(), (0, 1));
    assert!(root.finish.is_none());
}

#[test]
fn only_the_last_line_may_be_cut_short() {
    let whole = text(&[run_started(1, None, None, 0), iteration(1, 0)]);
    let cut = format!("{whole}{{\"record\":\"event\",\"se");
    let t = parse(&cut).unwrap();
    assert!(t.partial_last_line);
    assert_eq!((t.records, t.runs[0].turns.len()), (2, 1));

    let broken = format!("{{\"record\":\n{whole}");
    match parse(&broken) {
        Err(ReadError::Line { line: 1, message }) => assert!(message.starts_with("not JSON")),
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[test]
fn another_format_is_refused() {
    let header = HEADER.replace("rlm-trajectory/1", "rlm-trajectory/2");
    match parse(&format!("{header}\n")) {
        Err(ReadError::Unsupported { found }) => assert_eq!(found, "rlm-trajectory/2"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn a_missing_file_names_its_path() {
    let path = std::env::temp_dir().join(format!("rlm-no-such-trajectory-{}", std::process::id()));
    let err = rlm_trajectory::read_file(&path).unwrap_err();
    assert!(matches!(err, ReadError::Io { .. }));
    assert!(err.to_string().contains("rlm-no-such-trajectory"));
}
