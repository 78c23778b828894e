//! `rlm::otlp` (feature `otlp`) over real parts: a completion against the fake OpenAI-compatible
//! server, with the default Monty REPL, exports its spans to an OTLP/HTTP receiver stub on
//! 127.0.0.1: one trace, the root's and the sub-call's `chat {model}` spans with token usage,
//! each under the run, and never the API key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use rlm::Rlm;
use rlm::openai::OpenAiClient;
use rlm_testkit::{FakeServer, OtlpReceiver, ReceivedSpan, RecordedRequest, Reply, Script};

const KEY: &str = "sk-otlp-test-key-0123456789";

fn client(server: &FakeServer, model: &str) -> Arc<OpenAiClient> {
    Arc::new(
        OpenAiClient::builder(model)
            .base_url(server.base_url())
            .api_key(KEY)
            .build()
            .unwrap(),
    )
}

/// The names of `span`'s ancestors, nearest first.
fn ancestors(span: &ReceivedSpan, by_id: &HashMap<&str, &ReceivedSpan>) -> Vec<String> {
    let mut names = Vec::new();
    let mut parent = span.parent_span_id.as_deref();
    while let Some(id) = parent {
        let Some(p) = by_id.get(id) else {
            names.push(format!("<missing {id}>"));
            break;
        };
        names.push(p.name.clone());
        parent = p.parent_span_id.as_deref();
    }
    names
}

// Only test in this binary: `install` sets the process's global subscriber. Multi-threaded: the
// receiver answers on a worker while dropping the guard blocks the test thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_exports_its_chat_spans_with_links_and_usage() {
    let receiver = OtlpReceiver::start().await;
    let server = FakeServer::start(Script::from_fn(|req: &RecordedRequest| {
        if req.model() == Some("sub-model") {
            return Reply::text("sub-answer").usage(7, 3);
        }
        Reply::text("```repl\nFINAL(llm_query('summarise ' + context))\n```").usage(100, 20)
    }))
    .await;
    let guard = rlm::otlp::install(&receiver.base_url()).unwrap();
    let rlm = Rlm::builder(client(&server, "root-model"))
        .sub_model(client(&server, "sub-model"))
        .max_iterations(3)
        .build()
        .unwrap();
    let done = rlm.completion("the context", "what is it?").await.unwrap();
    assert_eq!(done.answer(), "sub-answer");
    drop(guard); // sends every span before returning

    let spans = receiver.spans();
    let by_id: HashMap<&str, &ReceivedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    let (runs, roots, subs) = (
        named("rlm.run"),
        named("chat root-model"),
        named("chat sub-model"),
    );
    assert_eq!(
        (runs.len(), roots.len(), subs.len()),
        (1, 1, 1),
        "{spans:#?}"
    );
    let (run, root, sub) = (runs[0], roots[0], subs[0]);
    assert_eq!(run.parent_span_id, None);
    assert!(
        spans.iter().all(|s| s.trace_id == run.trace_id),
        "one trace"
    );
    assert_eq!(ancestors(root, &by_id), ["rlm.iteration", "rlm.run"]);
    assert_eq!(
        ancestors(sub, &by_id),
        ["rlm.repl.execute", "rlm.iteration", "rlm.run"]
    );
    for (span, model, tokens) in [(root, "root-model", (100, 20)), (sub, "sub-model", (7, 3))] {
        assert_eq!(span.kind, 3, "CLIENT");
        assert_eq!(span.service_name.as_deref(), Some("rlm"));
        assert_eq!(span.attr("gen_ai.operation.name").as_deref(), Some("chat"));
        assert_eq!(span.attr("gen_ai.provider.name").as_deref(), Some("openai"));
        assert_eq!(span.attr("gen_ai.request.model").as_deref(), Some(model));
        assert_eq!(
            (
                span.int("gen_ai.usage.input_tokens"),
                span.int("gen_ai.usage.output_tokens")
            ),
            (Some(tokens.0), Some(tokens.1))
        );
    }
    for body in receiver.bodies() {
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains(KEY) && !text.contains("Bearer"),
            "a key was exported"
        );
    }
}
