//! `--otlp-endpoint` (feature `otlp`) as a process: the `rlm` binary against the testkit's
//! fake OpenAI-compatible server exports its spans to an OTLP/HTTP receiver stub, both on
//! 127.0.0.1. The spans are sent before the process exits, whatever the exit code (0, a budget
//! stop's 5, a timeout's 6, Ctrl-C's 130), and the API key is never among them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use rlm_testkit::{FakeServer, OtlpReceiver, ReceivedSpan, RecordedRequest, Reply, Script};
use rlm_tests::{Call, classify_http, repl};

const KEY: &str = "sk-test-OTLP-SENTINEL-2468";

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlm-otlp-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// `rlm run` over a small file against `server`, every variable it reads set or removed.
fn command(server: &FakeServer, extra: &[&str]) -> tokio::process::Command {
    let context = tmp("context.txt", "alpha beta gamma");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"));
    cmd.args(["run", "--context-file", context.to_str().unwrap()])
        .args(["--query", "What is it?", "--model", "fake-model"])
        .args(["--base-url", &server.base_url(), "--quiet"])
        .args(extra)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
        .env("OPENAI_API_KEY", KEY)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The names of `span`'s ancestors, nearest first.
fn ancestors(span: &ReceivedSpan, spans: &[ReceivedSpan]) -> Vec<String> {
    let by_id: HashMap<&str, &ReceivedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
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

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// No exported byte holds the key or an `Authorization` value.
fn assert_no_secret(receiver: &OtlpReceiver) {
    assert!(!receiver.bodies().is_empty(), "nothing was exported");
    for body in receiver.bodies() {
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains(KEY), "the API key was exported");
        assert!(
            !text.contains("Bearer"),
            "an Authorization value was exported"
        );
    }
}

#[tokio::test]
async fn a_run_exports_root_and_sub_call_chat_spans_with_links_and_usage() {
    let receiver = OtlpReceiver::start().await;
    let server = FakeServer::start(Script::from_fn(
        |req: &RecordedRequest| match classify_http(req) {
            Call::Turn { .. } => {
                Reply::text(repl("FINAL(llm_query('say ' + context[:5]))")).usage(100, 20)
            }
            Call::Plain { .. } => Reply::text("sub-answer").usage(7, 3),
        },
    ))
    .await;
    let out = command(
        &server,
        &[
            "--sub-model",
            "fake-sub",
            "--otlp-endpoint",
            &receiver.base_url(),
        ],
    )
    .env("OTEL_SERVICE_NAME", "rlm-under-test")
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sub-answer\n");

    // The process has exited: every span is already there.
    let spans = receiver.spans();
    let (runs, roots, subs) = (
        named(&spans, "rlm.run"),
        named(&spans, "chat fake-model"),
        named(&spans, "chat fake-sub"),
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
        "one trace: {spans:#?}"
    );
    assert_eq!(ancestors(root, &spans), ["rlm.iteration", "rlm.run"]);
    assert_eq!(
        ancestors(sub, &spans),
        ["rlm.repl.execute", "rlm.iteration", "rlm.run"]
    );
    for (span, model, usage) in [(root, "fake-model", (100, 20)), (sub, "fake-sub", (7, 3))] {
        assert_eq!(span.kind, 3, "CLIENT");
        assert_eq!(span.service_name.as_deref(), Some("rlm-under-test"));
        assert_eq!(span.attr("gen_ai.operation.name").as_deref(), Some("chat"));
        assert_eq!(span.attr("gen_ai.provider.name").as_deref(), Some("openai"));
        assert_eq!(span.attr("gen_ai.request.model").as_deref(), Some(model));
        assert_eq!(
            (
                span.int("gen_ai.usage.input_tokens"),
                span.int("gen_ai.usage.output_tokens")
            ),
            (Some(usage.0), Some(usage.1))
        );
    }
    // Content is opt-in (--log-content): the prompt and the answer are not in the spans.
    for body in receiver.bodies() {
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("alpha beta") && !text.contains("sub-answer"));
    }
    assert_no_secret(&receiver);
    assert_eq!(receiver.refused(), Vec::<String>::new());
}

#[tokio::test]
async fn spans_are_flushed_on_budget_and_timeout_stops_and_the_variables_work() {
    // A budget stop (exit 5), the endpoint from OTEL_EXPORTER_OTLP_ENDPOINT.
    let receiver = OtlpReceiver::start().await;
    let server = FakeServer::start(Script::from_fn(
        |req: &RecordedRequest| match classify_http(req) {
            Call::Turn { .. } => Reply::text(repl("for i in range(5):\n    llm_query(str(i))")),
            Call::Plain { .. } => Reply::text("x"),
        },
    ))
    .await;
    let out = command(&server, &["--max-llm-calls", "3"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "stderr: {}", stderr(&out));
    let spans = receiver.spans();
    assert_eq!(named(&spans, "rlm.run").len(), 1, "{spans:#?}");
    // The turn and two sub-calls; the refused third sub-call never reached the model.
    assert_eq!(named(&spans, "chat fake-model").len(), 3, "{spans:#?}");
    assert!(
        spans
            .iter()
            .all(|s| s.service_name.as_deref() == Some("rlm"))
    );
    assert_no_secret(&receiver);

    // A timeout (exit 6), the endpoint from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (a full URL).
    let receiver = OtlpReceiver::start().await;
    let slow = FakeServer::start(Script::from_fn(|_: &RecordedRequest| Reply::stall())).await;
    let out = command(&slow, &["--timeout", "0.5"])
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{}/v1/traces", receiver.base_url()),
        )
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "stderr: {}", stderr(&out));
    let spans = receiver.spans();
    assert_eq!(named(&spans, "rlm.run").len(), 1, "{spans:#?}");
}

#[tokio::test]
async fn spans_are_flushed_when_ctrl_c_cancels_the_run() {
    let receiver = OtlpReceiver::start().await;
    let server = FakeServer::start(Script::from_fn(
        |req: &RecordedRequest| match classify_http(req) {
            Call::Turn { .. } => Reply::text(repl("llm_query('started')\nwhile True:\n    pass")),
            Call::Plain { .. } => Reply::text("ok"),
        },
    ))
    .await;
    let mut child = command(&server, &["--otlp-endpoint", &receiver.base_url()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    // The block is spinning once its sub-call has been answered.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.request_count() < 2 {
        assert!(
            Instant::now() < deadline,
            "the run never reached its sub-call"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("rlm did not exit after Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(130));
    let spans = receiver.spans();
    assert_eq!(named(&spans, "rlm.run").len(), 1, "{spans:#?}");
    // The turn and the sub-call that started the loop.
    assert_eq!(named(&spans, "chat fake-model").len(), 2, "{spans:#?}");
    assert_no_secret(&receiver);
}

#[tokio::test]
async fn a_malformed_endpoint_is_a_usage_error_naming_the_flag() {
    let server = FakeServer::start(Script::from_fn(|_: &RecordedRequest| Reply::text("x"))).await;
    let out = command(&server, &["--otlp-endpoint", "localhost:4318"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--otlp-endpoint"), "{}", stderr(&out));
    assert!(stderr(&out).contains("http://"), "{}", stderr(&out));
    let out = command(&server, &[])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.request_count(), 0);
}
