//! Unit tests of the live tree's state and wording.

#![allow(clippy::unwrap_used)]

use super::*;
use rlm::SubcallKind;

fn usage(input: u64, output: u64, cost: Option<f64>) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_tokens: 0,
        cost,
        calls: 1,
    }
}

fn started(run_id: u64, parent: Option<u64>, depth: u32, query: &str) -> RunEvent {
    RunEvent::RunStarted {
        run_id,
        parent_run_id: parent,
        call_id: parent.map(|_| 100 + run_id),
        depth,
        model: "m".into(),
        query_preview: query.into(),
        context_chars: 10,
    }
}

#[test]
fn the_tree_grows_and_finishes() {
    let t0 = Instant::now();
    let at = |ms| t0 + Duration::from_millis(ms);
    let mut s = LiveState::new(30, t0);
    s.apply(&started(1, None, 0, "q"), at(0));
    s.apply(
        &RunEvent::IterationStarted {
            run_id: 1,
            depth: 0,
            iteration: 2,
        },
        at(10),
    );
    s.apply(
        &RunEvent::ModelResponded {
            run_id: 1,
            depth: 0,
            iteration: 2,
            usage: usage(1000, 200, Some(0.01)),
            duration: Duration::from_millis(5),
            code_blocks: 1,
            last_chance: false,
            messages: Vec::new(),
            response: None,
        },
        at(20),
    );
    for (call, child) in [(101, 2), (102, 3)] {
        s.apply(
            &RunEvent::SubcallStarted {
                run_id: 1,
                call_id: call,
                kind: SubcallKind::Rlm,
                child_run_id: Some(child),
                iteration: 2,
                block: 0,
                depth: 1,
                model: "default".into(),
                prompt_preview: "kid".into(),
                prompt: None,
            },
            at(30),
        );
        s.apply(&started(child, Some(1), 1, "kid"), at(30));
    }
    s.apply(
        &RunEvent::RunFinished {
            run_id: 3,
            depth: 1,
            outcome: RunOutcomeKind::Finished,
            iterations: 1,
            usage: Usage::default(),
            duration: Duration::from_millis(700),
            error: None,
            answer: None,
        },
        at(730),
    );
    s.apply(
        &RunEvent::SubcallCompleted {
            run_id: 1,
            call_id: 102,
            child_run_id: Some(3),
            depth: 1,
            model: "default".into(),
            duration: Duration::from_millis(700),
            error: None,
            usage: None,
            response: None,
        },
        at(730),
    );
    assert_eq!(
        s.lines(at(1500)),
        vec![
            "rlm 1.5s · runs: 2 running, 1 done · sub-calls: 1 running, 1 done · 1200 tok · $0.0100",
            "* root (m) · iter 2/30 · sub-calls 1 running, 1 done · 1200 tok · $0.0100 · 1.5s",
            "  * child \"kid\" · iter 0/30 · 0 tok · 1.5s",
            "  + child \"kid\" · finished after 0 iter · 0 tok · 0.7s",
        ]
    );
}

#[test]
fn many_runs_are_summed_up() {
    let t0 = Instant::now();
    let mut s = LiveState::new(5, t0);
    s.apply(&started(1, None, 0, "q"), t0);
    for id in 2..40 {
        s.apply(&started(id, Some(1), 1, &format!("k{id}")), t0);
    }
    let lines = s.lines(t0);
    assert_eq!(lines.len(), 1 + MAX_RUN_LINES - 1 + 1);
    assert!(!lines.iter().any(|l| l.starts_with("models:")), "one model");
    assert_eq!(lines.last().unwrap(), "  ... and 28 more runs");
    assert!(lines[1].starts_with("* root"));
    assert_eq!(clip("a\nbcdef", 3), "a b...");
}

#[test]
fn several_models_get_a_line_with_their_cost() {
    let t0 = Instant::now();
    let mut s = LiveState::new(5, t0);
    s.apply(&started(1, None, 0, "q"), t0);
    s.apply(
        &RunEvent::ModelResponded {
            run_id: 1,
            depth: 0,
            iteration: 1,
            usage: usage(1000, 200, Some(0.01)),
            duration: Duration::from_millis(5),
            code_blocks: 1,
            last_chance: false,
            messages: Vec::new(),
            response: None,
        },
        t0,
    );
    s.apply(
        &RunEvent::SubcallCompleted {
            run_id: 1,
            call_id: 7,
            child_run_id: None,
            depth: 1,
            model: "small".into(),
            duration: Duration::from_millis(5),
            error: None,
            usage: Some(usage(300, 20, Some(0.0002))),
            response: None,
        },
        t0,
    );
    let lines = s.lines(t0);
    assert_eq!(
        lines[1],
        "models: m 1200 tok · $0.0100; small 320 tok · $0.0002"
    );
    assert!(lines[0].ends_with("1520 tok · $0.0102"), "{}", lines[0]);
}

#[test]
fn a_failure_before_any_reply_and_the_last_chance_call_are_named() {
    let t0 = Instant::now();
    let mut s = LiveState::new(1, t0);
    let finished = |run_id, outcome| RunEvent::RunFinished {
        run_id,
        depth: 0,
        outcome,
        iterations: 1,
        usage: Usage::default(),
        duration: Duration::ZERO,
        error: None,
        answer: None,
    };
    s.apply(&started(1, None, 0, "q"), t0);
    s.apply(&finished(1, RunOutcomeKind::Failed), t0);
    assert!(s.lines(t0)[1].contains("! root (m) · failed before any reply"));
    s.apply(&started(2, None, 0, "q"), t0);
    s.apply(
        &RunEvent::ModelResponded {
            run_id: 2,
            depth: 0,
            iteration: 1,
            usage: usage(10, 2, None),
            duration: Duration::ZERO,
            code_blocks: 0,
            last_chance: true,
            messages: Vec::new(),
            response: None,
        },
        t0,
    );
    s.apply(&finished(2, RunOutcomeKind::IterationLimit), t0);
    assert!(s.lines(t0)[2].contains("iteration_limit after 0 iter + last-chance call"));
}

#[test]
fn the_streaming_reply_shows_under_the_root_until_the_next_turn() {
    let t0 = Instant::now();
    let mut s = LiveState::new(5, t0);
    s.apply(&started(1, None, 0, "q"), t0);
    s.apply(&started(2, Some(1), 1, "kid"), t0);
    for piece in [
        "Let me ",
        "look.\n\n```repl\nprint(",
        "len(context))\n",
        "```",
    ] {
        s.apply(
            &RunEvent::RootDelta {
                run_id: 1,
                iteration: 1,
                text: piece.into(),
            },
            t0,
        );
    }
    let lines = s.lines(t0);
    assert_eq!(
        lines[2..5],
        ["  > ```repl", "  > print(len(context))", "  > ```",]
    );
    assert!(lines[5].starts_with("  * child"), "{lines:?}");
    s.apply(
        &RunEvent::IterationStarted {
            run_id: 1,
            depth: 0,
            iteration: 2,
        },
        t0,
    );
    assert!(!s.lines(t0).iter().any(|l| l.starts_with("  > ")));
    s.apply(
        &RunEvent::RootDelta {
            run_id: 1,
            iteration: 2,
            text: "é".repeat(REPLY_KEEP),
        },
        t0,
    );
    assert!(s.reply.len() <= REPLY_KEEP);
}
