//! Compaction (`docs/design.md` §13) with a scripted model and the real Monty REPL: a 60-turn run
//! whose observations would fill the window many times over never sends a request over the
//! limit, keeps its answer and its REPL state, and leaves the whole conversation in `history`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rlm::core::CompletionRequest;
use rlm::runner::compaction::summary_prompt;
use rlm::{Compaction, Rlm, Role, RunOutcomeKind};
use rlm_testkit::ScriptedModel;
use rlm_testkit::conversation::repl;

const LIMIT: usize = 20_000;
const TURNS: usize = 60;

fn is_summary_request(request: &CompletionRequest) -> bool {
    request
        .messages
        .last()
        .is_some_and(|m| m.content.ends_with(summary_prompt()))
}

/// Turn 1 stores a secret; every turn prints 3,000 characters; the last turn reads the secret
/// and the first reply back from `history`. A summary request gets a short summary.
fn sixty_turns() -> Arc<ScriptedModel> {
    let turn = Arc::new(AtomicUsize::new(0));
    Arc::new(ScriptedModel::from_fn(
        "scripted",
        move |r: &CompletionRequest| {
            if is_summary_request(r) {
                return "Summary: `secret` holds the value; keep printing until turn 60."
                    .to_string();
            }
            let n = turn.fetch_add(1, Ordering::SeqCst) + 1;
            match n {
                1 => repl("secret = 'tulip-42'\nprint('x' * 3000)"),
                TURNS => repl(
                    "first = history[2]['content']\nFINAL(secret + '|' + str(\"secret = 'tulip-42'\" in first) + '|' + str(len(history) > 60))",
                ),
                _ => repl(&format!("print('turn {n} ' + 'y' * 3000)")),
            }
        },
    ))
}

fn build(model: Arc<ScriptedModel>, compaction: Option<Compaction>) -> Rlm {
    Rlm::builder(model)
        .max_iterations(TURNS as u32 + 5)
        .compaction(compaction)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixty_turn_run_stays_under_the_limit_and_keeps_its_answer() {
    let model = sixty_turns();
    let rlm = build(
        model.clone(),
        Some(Compaction {
            chars: LIMIT,
            ..Compaction::default()
        }),
    );
    let done = rlm
        .completion("a context", "count the turns")
        .await
        .unwrap();
    assert_eq!(done.kind(), RunOutcomeKind::Finished);
    assert_eq!(done.answer(), "tulip-42|True|True");
    assert_eq!(done.iterations, TURNS as u32);

    let requests = model.requests();
    let summaries = requests.iter().filter(|r| is_summary_request(r)).count();
    assert!(summaries >= 5, "{summaries} compactions");
    assert_eq!(requests.len(), TURNS + summaries);
    for (i, request) in requests.iter().enumerate() {
        assert!(
            request.content_chars() <= LIMIT,
            "request {i} has {} characters",
            request.content_chars()
        );
        // Roles alternate after the system prompt, compacted or not.
        assert!(
            request.messages.windows(2).all(|w| w[0].role != w[1].role),
            "request {i}"
        );
    }
    // After a compaction the turn request is the opening messages, the summary and the note.
    let after = requests
        .iter()
        .skip_while(|r| !is_summary_request(r))
        .nth(1)
        .unwrap();
    assert_eq!(after.messages.len(), 4);
    assert!(after.messages[1].content.contains("Query: count the turns"));
    assert!(after.messages[2].content.starts_with("Summary: "));
    assert!(after.messages[3].content.contains("compacted 1 time(s)"));
    assert!(after.messages[3].content.contains("`history`"));

    // The result's conversation is the whole one: every reply and every summary.
    let replies = done
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .count();
    assert_eq!(replies, TURNS + summaries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_compaction_the_same_run_outgrows_the_limit() {
    let model = sixty_turns();
    let rlm = build(model.clone(), None);
    let done = rlm
        .completion("a context", "count the turns")
        .await
        .unwrap();
    // No compaction, so no `history`: the last block raises, and the run goes on to the limit.
    assert_ne!(done.answer(), "tulip-42|True|True");
    let largest = model
        .requests()
        .iter()
        .map(CompletionRequest::content_chars)
        .max()
        .unwrap();
    assert!(largest > 9 * LIMIT, "{largest}");
    assert!(!model.requests().iter().any(is_summary_request));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_observation_is_cut_to_fit_the_summary_request() {
    // Each turn prints more than the whole limit (the observation limit keeps 30,000).
    let turn = Arc::new(AtomicUsize::new(0));
    let model = Arc::new(ScriptedModel::from_fn(
        "scripted",
        move |r: &CompletionRequest| {
            if is_summary_request(r) {
                return "Summary: printed big blocks.".to_string();
            }
            match turn.fetch_add(1, Ordering::SeqCst) {
                0 => repl("kept = 7\nprint('z' * 100000)"),
                1 | 2 => repl("print('w' * 100000)"),
                _ => repl("FINAL(kept * 6)"),
            }
        },
    ));
    let rlm = Rlm::builder(model.clone())
        .observation_limit(30_000)
        .compaction(Some(Compaction {
            chars: LIMIT,
            ..Compaction::default()
        }))
        .build()
        .unwrap();
    let done = rlm.completion("ctx", "q").await.unwrap();
    assert_eq!(done.answer(), "42");
    for request in model.requests() {
        assert!(
            request.content_chars() <= LIMIT,
            "{}",
            request.content_chars()
        );
    }
    assert_eq!(
        model
            .requests()
            .iter()
            .filter(|r| is_summary_request(r))
            .count(),
        3
    );
}
