//! The facade over real parts: the OpenAI-compatible provider against the testkit's fake
//! server on 127.0.0.1, and the default (Monty) REPL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use rlm::openai::OpenAiClient;
use rlm::{Rlm, RlmError, RunOutcomeKind};
use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};

fn is_turn(req: &RecordedRequest) -> bool {
    req.json
        .as_ref()
        .and_then(|j| j["messages"][0]["role"].as_str())
        == Some("system")
}

fn turns(req: &RecordedRequest) -> usize {
    req.json
        .as_ref()
        .and_then(|j| j["messages"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .count()
}

fn client(server: &FakeServer) -> Arc<OpenAiClient> {
    Arc::new(
        OpenAiClient::builder("fake")
            .base_url(server.base_url())
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn completion_over_http_with_the_default_repl() {
    let server = FakeServer::start(Script::from_fn(|req: &RecordedRequest| {
        if !is_turn(req) {
            return Reply::text("sub-answer").usage(7, 3);
        }
        match turns(req) {
            0 => Reply::text("```repl\nparts = context.split(',')\nprint(len(parts))\n```")
                .usage(100, 20),
            _ => Reply::text("```repl\nFINAL(str(len(parts)) + ' ' + llm_query(parts[0]))\n```")
                .usage(100, 20),
        }
    }))
    .await;
    let rlm = Rlm::builder(client(&server))
        .max_iterations(5)
        .build()
        .unwrap();
    let done = rlm.completion("a,b,c", "how many parts?").await.unwrap();
    assert_eq!(done.answer(), "3 sub-answer");
    assert_eq!(done.kind(), RunOutcomeKind::Finished);
    assert_eq!(done.iterations, 2);
    let usage = done.total_usage();
    assert_eq!(
        (usage.calls, usage.input_tokens, usage.output_tokens),
        (3, 207, 43)
    );
    assert_eq!(server.stats().requests, 3);
}

#[tokio::test]
async fn json_and_list_contexts() {
    let server = FakeServer::start(Script::always(Reply::text(
        "```repl\nFINAL(type(context).__name__ + str(len(context)))\n```",
    )))
    .await;
    let rlm = Rlm::builder(client(&server)).build().unwrap();
    let done = rlm
        .completion(serde_json::json!({"a": 1, "b": [1, 2]}), "q")
        .await
        .unwrap();
    assert_eq!(done.answer(), "dict2");
    let done = rlm
        .completion(vec!["x".to_string(), "y".to_string(), "z".to_string()], "q")
        .await
        .unwrap();
    assert_eq!(done.answer(), "list3");
}

#[tokio::test]
async fn refused_key_is_an_error_with_the_partial_completion() {
    let server = FakeServer::start(Script::always(Reply::openai_error(
        401,
        "invalid_request_error",
        "bad key",
    )))
    .await;
    let rlm = Rlm::builder(client(&server)).build().unwrap();
    match rlm.completion("c", "q").await {
        Err(RlmError::Failed { completion }) => {
            let message = completion.error().unwrap().to_string();
            assert!(message.contains("authentication failed"), "{message}");
            assert_eq!(completion.kind(), RunOutcomeKind::Failed);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_limits_are_refused_at_build() {
    let server = FakeServer::start(Script::empty()).await;
    let err = Rlm::builder(client(&server))
        .max_iterations(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max_iterations"), "{err}");
    let err = Rlm::builder(client(&server))
        .max_batch_workers(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max_batch_workers"), "{err}");
    let ok = Rlm::builder(client(&server))
        .per_child_timeout(Some(Duration::from_secs(1)))
        .max_depth(3)
        .build();
    assert!(ok.is_ok());
}

#[tokio::test]
async fn custom_tools_reach_the_code_and_bad_names_are_refused_at_build() {
    let server = FakeServer::start(Script::from_fn(|req: &RecordedRequest| {
        let system = req.json.as_ref().unwrap()["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(system.contains("- `lookup(...)`: Finds a word."), "{system}");
        assert!(system.contains("- `LIMIT` (int): The most hits."), "{system}");
        Reply::text(
            "```repl\nhits = lookup('needle', limit=LIMIT)\ntry:\n    lookup(1)\nexcept TypeError as e:\n    err = str(e)\nFINAL(str(hits) + ' / ' + err)\n```",
        )
    }))
    .await;
    let rlm = Rlm::builder(client(&server))
        .tool_fn("lookup", "Finds a word.", |call| async move {
            let word = call
                .arg(0, "word")
                .and_then(|w| w.as_str())
                .ok_or_else(|| rlm::ToolError::raise("TypeError", "word must be a str"))?;
            let limit = call.arg(1, "limit").and_then(|l| l.as_i64()).unwrap_or(0);
            Ok(serde_json::json!({"word": word, "limit": limit}))
        })
        .tool_data("LIMIT", "The most hits.", serde_json::json!(3))
        .build()
        .unwrap();
    let done = rlm.completion("text", "q").await.unwrap();
    assert_eq!(
        done.answer(),
        "{'limit': 3, 'word': 'needle'} / word must be a str"
    );

    let err = Rlm::builder(client(&server))
        .tool_data("context", "", serde_json::json!(1))
        .tool_fn("FINAL", "", |_| async { Ok(serde_json::Value::Null) })
        .tool_data("ok_name", "", serde_json::json!(1))
        .tool_data("not ok", "", serde_json::json!(1))
        .build()
        .unwrap_err();
    let RlmError::Tools(err) = err else {
        panic!("{err:?}")
    };
    let names: Vec<&str> = err.names.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["context", "FINAL", "not ok"]);
}

#[tokio::test]
async fn child_rlms_get_the_sub_tools_instead_of_the_roots() {
    use rlm_testkit::conversation::{Call, classify_http};
    let server = FakeServer::start(Script::from_fn(|req: &RecordedRequest| {
        let system = req.json.as_ref().unwrap()["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let Call::Turn { query, .. } = classify_http(req) else {
            return Reply::text("plain");
        };
        if query == "child task" {
            assert!(system.contains("- `sub_lookup(...)`: For children."), "{system}");
            assert!(!system.contains("`lookup(...)`"), "{system}");
            Reply::text(
                "```repl\ntry:\n    lookup()\n    seen = 'root tool'\nexcept NameError:\n    seen = 'no root tool'\nFINAL(seen + ', ' + sub_lookup() + ', ' + str(DEPTH_NOTE))\n```",
            )
        } else {
            assert!(system.contains("- `lookup(...)`: For the root."), "{system}");
            assert!(!system.contains("sub_lookup"), "{system}");
            Reply::text("```repl\nFINAL(lookup() + ' / ' + rlm_query('child task'))\n```")
        }
    }))
    .await;
    let mut sub_tools = rlm::Tools::default();
    sub_tools.add_function(
        "sub_lookup",
        "For children.",
        rlm::tool_fn(|_| async { Ok(serde_json::json!("sub")) }),
    );
    sub_tools.add_data(
        "DEPTH_NOTE",
        "Only below the root.",
        serde_json::json!(1).into(),
    );
    let rlm = Rlm::builder(client(&server))
        .max_depth(2)
        .tool_fn("lookup", "For the root.", |_| async {
            Ok(serde_json::json!("root"))
        })
        .sub_tools(sub_tools)
        .build()
        .unwrap();
    let done = rlm.completion("text", "q").await.unwrap();
    assert_eq!(done.answer(), "root / no root tool, sub, 1");
}

/// Records every event it is given; wants deltas when told to.
struct Watcher {
    events: std::sync::Mutex<Vec<rlm::RunEvent>>,
    deltas: bool,
}

impl rlm::EventSink for Watcher {
    fn on_event(&self, event: &rlm::RunEvent) -> Result<(), rlm::SinkError> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
    fn wants_deltas(&self) -> bool {
        self.deltas
    }
}

fn watcher(deltas: bool) -> Arc<Watcher> {
    Arc::new(Watcher {
        events: std::sync::Mutex::new(Vec::new()),
        deltas,
    })
}

fn streamed_turns() -> Script {
    Script::from_fn(|req: &RecordedRequest| {
        if !is_turn(req) {
            return Reply::text("sub answer").usage(7, 3);
        }
        match turns(req) {
            0 => Reply::text("Let me look.\n```repl\nx = llm_query('hi')\nprint(x)\n```")
                .usage(100, 20),
            _ => Reply::text("Done.\n```repl\nFINAL(x + ' twice')\n```").usage(100, 20),
        }
    })
}

#[tokio::test]
async fn root_turns_stream_to_a_sink_that_wants_deltas() {
    let server = FakeServer::start(streamed_turns()).await;
    let live = watcher(true);
    let plain = watcher(false);
    let rlm = Rlm::builder(client(&server))
        .max_iterations(5)
        .subscribe(live.clone())
        .subscribe(plain.clone())
        .build()
        .unwrap();
    let done = rlm.completion("ctx", "q").await.unwrap();
    assert_eq!(done.answer(), "sub answer twice");
    let usage = done.total_usage();
    assert_eq!(
        (usage.calls, usage.input_tokens),
        (3, 207),
        "usage still counted"
    );
    // Root turns asked for a stream; the sub-call did not.
    let requests = server.requests();
    let streamed: Vec<bool> = requests.iter().map(RecordedRequest::wants_stream).collect();
    assert_eq!(streamed, [true, false, true]);
    // Each turn's deltas, in order, join to the reply the model gave.
    let events = live.events.lock().unwrap().clone();
    let mut turns_text: Vec<String> = vec![String::new(); 2];
    for event in &events {
        if let rlm::RunEvent::RootDelta {
            iteration, text, ..
        } = event
        {
            turns_text[*iteration as usize - 1].push_str(text);
        }
    }
    assert_eq!(
        turns_text,
        [
            "Let me look.\n```repl\nx = llm_query('hi')\nprint(x)\n```",
            "Done.\n```repl\nFINAL(x + ' twice')\n```"
        ]
    );
    let deltas = events
        .iter()
        .filter(|e| matches!(e, rlm::RunEvent::RootDelta { .. }))
        .count();
    assert!(deltas > 4, "word-sized deltas, got {deltas}");
    // A sink that does not want deltas never sees one.
    assert!(
        !plain
            .events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, rlm::RunEvent::RootDelta { .. }))
    );
}

#[tokio::test]
async fn without_a_sink_that_wants_deltas_nothing_streams() {
    let server = FakeServer::start(streamed_turns()).await;
    let plain = watcher(false);
    let rlm = Rlm::builder(client(&server))
        .max_iterations(5)
        .subscribe(plain.clone())
        .build()
        .unwrap();
    let done = rlm.completion("ctx", "q").await.unwrap();
    assert_eq!(done.answer(), "sub answer twice");
    assert!(server.requests().iter().all(|r| !r.wants_stream()));
    for r in server.requests() {
        assert!(r.json.as_ref().is_some_and(|j| j.get("stream").is_none()));
    }
}
