//! One span per thing: a real run (scripted model, the real Monty REPL, the real runner, with
//! plain sub-calls and a child RLM) opens exactly one `gen_ai.chat` span per LLM call and one
//! `rlm.repl.execute` span per executed block.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rlm_core::{CompletionRequest, LanguageModel, ReplValue, RunEvent, RunOutcomeKind};
use rlm_limits::BackendLimits;
use rlm_repl_monty::MontyReplFactory;
use rlm_runner::{Models, Runner, RunnerConfig};
use rlm_testkit::ScriptedModel;
use rlm_tests::{Call, classify, repl};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Counts the spans opened, by name.
#[derive(Clone, Default)]
struct SpanCounts(Arc<Mutex<BTreeMap<String, usize>>>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for SpanCounts {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        *self
            .0
            .lock()
            .unwrap()
            .entry(attrs.metadata().name().to_string())
            .or_default() += 1;
    }
}

impl SpanCounts {
    fn get(&self, name: &str) -> usize {
        self.0.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

#[tokio::test]
async fn one_chat_span_per_llm_call_and_one_execute_span_per_block() {
    let counts = SpanCounts::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(counts.clone()));

    let model = Arc::new(ScriptedModel::from_fn(
        "test-model",
        |req: &CompletionRequest| match classify(req) {
            Call::Turn { query, turn, .. } if query == "the question" => match turn {
                0 => format!(
                    "{}\n{}",
                    repl("a = llm_query('p1')\nprint(a)"),
                    repl("b = llm_query_batched(['p2', 'p3'])\nc = rlm_query('child:9')")
                ),
                _ => repl("FINAL(a + ' ' + c)"),
            },
            Call::Turn { .. } => repl("FINAL(context.split(':')[1])"),
            Call::Plain { prompt } => format!("plain:{prompt}"),
        },
    ));
    let config = RunnerConfig {
        backend: BackendLimits {
            max_depth: 2,
            ..BackendLimits::default()
        },
        ..RunnerConfig::default()
    };
    let root: Arc<dyn LanguageModel> = model.clone();
    let mut runner =
        Runner::new(Models::new(root), Arc::new(MontyReplFactory::new()), config).unwrap();
    let blocks = Arc::new(Mutex::new(0usize));
    let seen = blocks.clone();
    runner.subscribe(Arc::new(move |event: &RunEvent| {
        if matches!(event, RunEvent::BlockExecuted { .. }) {
            *seen.lock().unwrap() += 1;
        }
    }));

    let result = runner.run(ReplValue::from("ctx"), "the question").await;
    assert_eq!(result.kind(), RunOutcomeKind::Finished, "{result:?}");
    assert_eq!(result.answer(), "plain:p1 9");

    // Root: 2 turns and 3 plain sub-calls; the child: 1 turn.
    let calls = model.call_count();
    assert_eq!(calls, 6);
    assert_eq!(counts.get("gen_ai.chat"), calls);
    // Root: 2 blocks, then 1; the child: 1.
    let blocks = *blocks.lock().unwrap();
    assert_eq!(blocks, 4);
    assert_eq!(counts.get("rlm.repl.execute"), blocks);
    // One run span per run, one iteration span per turn.
    assert_eq!(counts.get("rlm.run"), 2);
    assert_eq!(counts.get("rlm.iteration"), 3);
}

/// The same count over real HTTP: the OpenAI-compatible client against the fake server on
/// 127.0.0.1. The transport opens no span of its own (it only records the retry attempt into
/// the decorator's), so each request the server sees is exactly one `gen_ai.chat` span, and a
/// retried call is still one span.
#[tokio::test]
async fn one_chat_span_per_call_over_http_retries_included() {
    use rlm_openai::OpenAiClient;
    use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};

    let counts = SpanCounts::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(counts.clone()));

    let first_plain = Arc::new(Mutex::new(true));
    let server = FakeServer::start(Script::from_fn(move |req: &RecordedRequest| {
        match rlm_tests::classify_http(req) {
            Call::Turn { turn: 0, .. } => Reply::text(repl(
                "a = llm_query('p1')\nb = llm_query_batched(['p2', 'p3'])\nprint(a)",
            )),
            Call::Turn { .. } => Reply::text(repl("FINAL(a + ' ' + b[1])")),
            Call::Plain { prompt } => {
                let mut first = first_plain.lock().unwrap();
                if std::mem::take(&mut *first) {
                    // The first plain call is answered 500 once, then retried.
                    Reply::status(500, "{\"error\": {\"message\": \"overloaded\"}}")
                } else {
                    Reply::text(format!("plain:{prompt}"))
                }
            }
        }
    }))
    .await;
    let client = OpenAiClient::builder("fake")
        .base_url(server.base_url())
        .retry_policy(rlm_limits::RetryPolicy {
            initial_backoff: std::time::Duration::from_millis(1),
            max_backoff: std::time::Duration::from_millis(2),
            ..rlm_limits::RetryPolicy::default()
        })
        .build()
        .unwrap();
    let root: Arc<dyn LanguageModel> = Arc::new(client);
    let runner = Runner::new(
        Models::new(root),
        Arc::new(MontyReplFactory::new()),
        RunnerConfig::default(),
    )
    .unwrap();

    let result = runner.run(ReplValue::from("ctx"), "the question").await;
    assert_eq!(result.kind(), RunOutcomeKind::Finished, "{result:?}");
    assert_eq!(result.answer(), "plain:p1 plain:p3");

    // 2 root turns and 3 plain calls, one of which was sent twice.
    let requests = server.stats().requests;
    assert_eq!(requests, 6);
    assert_eq!(counts.get("gen_ai.chat"), 5);
    assert_eq!(counts.get("rlm.repl.execute"), 2);
}
