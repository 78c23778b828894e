//! Sessions over both REPL backends (`docs/design.md` §13): variables persist between
//! questions, `context_N` and `history_N` appear, and each question's first message says how
//! many contexts and histories exist. A scripted model answers each question by its query.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use rlm::core::{CompletionRequest, ReplFactory};
use rlm::{ReplValue, Rlm, RunOutcomeKind};
use rlm_testkit::ScriptedModel;
use rlm_testkit::conversation::{Call, classify, repl};

/// The code each question runs: one block that finishes.
fn script(request: &CompletionRequest) -> String {
    let Call::Turn { query, .. } = classify(request) else {
        return "plain".into();
    };
    let code = match query.as_str() {
        "remember" => "secret = 41\ndef twice(v):\n    return 2 * v\nFINAL('kept')",
        "recall" => "FINAL(secret + 1)",
        "use the function" => "FINAL(twice(secret))",
        "first history" => {
            "h = history_0\nFINAL(f\"{len(history_0)}|{h[0]['role']}|{h[1]['role']}|{'Query: remember' in h[1]['content']}|{h[-1]['role']}\")"
        }
        "contexts" => {
            "FINAL(context_1 + '|' + context + '|' + context_0 + '|' + str(context == context_0))"
        }
        "histories" => "FINAL(str(len([history_0, history_1, history_2, history_3, history_4])))",
        other => panic!("unexpected query {other:?}"),
    };
    repl(code)
}

fn rlm(model: Arc<ScriptedModel>, repls: Arc<dyn ReplFactory>) -> Rlm {
    Rlm::builder(model)
        .repl(repls)
        .max_iterations(3)
        .build()
        .unwrap()
}

/// The first user message of every root turn request the model got for `query`.
fn first_messages(model: &ScriptedModel, query: &str) -> Vec<String> {
    model
        .requests()
        .iter()
        .filter(|r| matches!(classify(r), Call::Turn { query: q, .. } if q == query))
        .map(|r| r.messages[1].content.clone())
        .collect()
}

async fn a_session_keeps_its_repl(repls: Arc<dyn ReplFactory>) {
    let model = Arc::new(ScriptedModel::from_fn("scripted", script));
    let rlm = rlm(model.clone(), repls);
    let mut session = rlm.session("first context").await.unwrap();
    assert_eq!((session.context_count(), session.history_count()), (1, 0));

    let done = session.ask("remember").await.unwrap();
    assert_eq!(done.answer(), "kept");
    assert_eq!(session.history_count(), 1);
    // Variables and functions persist between questions.
    assert_eq!(session.ask("recall").await.unwrap().answer(), "42");
    assert_eq!(
        session.ask("use the function").await.unwrap().answer(),
        "82"
    );
    // history_0 is the first question's conversation: role/content dicts, system first.
    let first = session.ask("first history").await.unwrap();
    assert_eq!(first.answer(), "3|system|user|True|assistant");
    assert_eq!(session.history_count(), 4);

    // add_context appends context_1; `context` stays context_0.
    assert_eq!(session.add_context("second context").await.unwrap(), 1);
    let done = session.ask("contexts").await.unwrap();
    assert_eq!(
        done.answer(),
        "second context|first context|first context|True"
    );
    assert_eq!(session.ask("histories").await.unwrap().answer(), "5");
    assert_eq!(
        session.variable("secret").await.unwrap(),
        Some(ReplValue::Int(41))
    );

    // The first message says how many contexts and histories there are.
    let remember = &first_messages(&model, "remember")[0];
    assert!(!remember.contains("Note:"), "{remember}");
    assert!(remember.starts_with("Your context is a str of 13 total characters."));
    let recall = &first_messages(&model, "recall")[0];
    assert!(
        recall.contains("Note: You have 1 prior conversation history available in `history_0`"),
        "{recall}"
    );
    assert!(!recall.contains("contexts available"), "{recall}");
    let contexts = &first_messages(&model, "contexts")[0];
    assert!(
        contexts.contains("You have 2 contexts available (context_0 through context_1)"),
        "{contexts}"
    );
    assert!(
        contexts.contains("context_1 is a str of 14 characters"),
        "{contexts}"
    );
    assert!(
        contexts.contains("4 prior conversation histories available (history_0 through history_3)"),
        "{contexts}"
    );
    // Usage adds up over the session: one call per question.
    assert_eq!(session.usage()["scripted"].calls, 6);
}

async fn a_failed_question_keeps_the_session(repls: Arc<dyn ReplFactory>) {
    let model = Arc::new(ScriptedModel::from_fn(
        "scripted",
        |r: &CompletionRequest| match classify(r) {
            Call::Turn { query, turn, .. } if query == "set" => match turn {
                0 => repl("kept = 'yes'\nprint('set')"),
                _ => repl("raise ValueError('boom')"),
            },
            Call::Turn { .. } => repl("FINAL(kept)"),
            Call::Plain { .. } => "plain".into(),
        },
    ));
    let rlm = Rlm::builder(model)
        .repl(repls)
        .max_iterations(2)
        .max_errors(Some(1))
        .build()
        .unwrap();
    let mut session = rlm.session("ctx").await.unwrap();
    let stopped = session.ask("set").await.unwrap();
    assert_eq!(stopped.kind(), RunOutcomeKind::ErrorLimit);
    assert_eq!(session.ask("get").await.unwrap().answer(), "yes");
    assert_eq!(session.history_count(), 2);
}

macro_rules! backend {
    ($name:ident => $factory:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_session_keeps_its_repl() {
                super::a_session_keeps_its_repl(Arc::new($factory)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_failed_question_keeps_the_session() {
                super::a_failed_question_keeps_the_session(Arc::new($factory)).await;
            }
        }
    };
}

backend!(monty => rlm::monty::MontyReplFactory::new());
backend!(python => rlm::python::PythonReplFactory::new());
