//! The exporter end to end: spans made by the runtime's decorators reach an OTLP/HTTP
//! receiver on 127.0.0.1 with their GenAI names, attributes and parent links, and are sent
//! when the guard shuts down.

use std::time::Duration;

use rlm_core::{CompletionRequest, LanguageModel, LlmError, Message, Usage};
use rlm_limits::Traced;
use rlm_otlp::{OtlpConfig, OtlpError};
use rlm_testkit::{OtlpReceiver, ScriptedModel};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

fn ask(text: &str) -> CompletionRequest {
    CompletionRequest::new(vec![Message::user(text)])
}

// Multi-threaded: the receiver answers on a worker while the test thread blocks in the
// guard's shutdown (the exporter's HTTP client is blocking, on a thread of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_spans_reach_the_collector_with_names_usage_and_parents() {
    let receiver = OtlpReceiver::start().await;
    let config = OtlpConfig {
        endpoint: Some(receiver.base_url()),
        service_name: Some("otlp-test".into()),
        content: false,
    };
    let (layer, guard) = rlm_otlp::layer(&config).unwrap().unwrap();
    assert_eq!(
        guard.endpoint(),
        format!("{}/v1/traces", receiver.base_url())
    );
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));

    let model = Traced::new(
        ScriptedModel::new("root-model")
            .with_usage(Usage {
                input_tokens: 120,
                output_tokens: 7,
                ..Usage::default()
            })
            .then_text("the reply")
            .then_error(LlmError::ContentFilter),
    );
    let run = tracing::info_span!(target: "rlm_runner::run", "rlm.run", rlm.depth = 0);
    async {
        model.complete(ask("secret prompt")).await.unwrap();
        assert!(model.complete(ask("again")).await.is_err());
    }
    .instrument(run)
    .await;
    // Outside the runtime's targets: not exported.
    tracing::info_span!(target: "some_app", "app.work").in_scope(|| {});

    guard.shutdown_within(Duration::from_secs(10)).unwrap();
    let spans = receiver.spans();
    let names: Vec<_> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["chat root-model", "chat root-model", "rlm.run"],
        "{spans:#?}"
    );
    let (ok, failed, root) = (&spans[0], &spans[1], &spans[2]);
    assert_eq!(root.parent_span_id, None);
    for call in [ok, failed] {
        assert_eq!(call.trace_id, root.trace_id);
        assert_eq!(call.parent_span_id.as_deref(), Some(root.span_id.as_str()));
        assert_eq!(call.kind, 3, "CLIENT");
        assert_eq!(call.service_name.as_deref(), Some("otlp-test"));
        assert_eq!(call.attr("gen_ai.operation.name").as_deref(), Some("chat"));
        assert_eq!(
            call.attr("gen_ai.request.model").as_deref(),
            Some("root-model")
        );
    }
    assert_eq!(ok.int("gen_ai.usage.input_tokens"), Some(120), "{ok:#?}");
    assert_eq!(ok.int("gen_ai.usage.output_tokens"), Some(7));
    assert_eq!(ok.status.0, 0);
    assert_eq!(failed.status.0, 2, "{failed:#?}");
    assert_eq!(failed.attr("error.type").as_deref(), Some("content_filter"));
    // Content is off: no prompt or reply anywhere in what was sent.
    for body in receiver.bodies() {
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("secret prompt") && !text.contains("the reply"));
    }
    assert_eq!(receiver.refused(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_is_exported_only_when_asked() {
    let receiver = OtlpReceiver::start().await;
    let config = OtlpConfig {
        content: true,
        ..OtlpConfig::endpoint(receiver.base_url())
    };
    let (layer, guard) = rlm_otlp::layer(&config).unwrap().unwrap();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let model = Traced::with_content(ScriptedModel::new("m").then_text("the reply"));
    model.complete(ask("the prompt")).await.unwrap();
    guard.shutdown_within(Duration::from_secs(10)).unwrap();
    let spans = receiver.spans();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].service_name.as_deref(), Some("rlm"));
    let events: Vec<_> = spans[0]
        .events
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(events, ["prompt", "completion"]);
    assert_eq!(
        spans[0].events[0]
            .1
            .get("gen_ai.prompt")
            .and_then(|v| v.as_str()),
        Some("user: the prompt")
    );
}

#[test]
fn no_endpoint_means_no_exporter_and_a_bad_one_is_refused() {
    let none = OtlpConfig::default();
    // The variables may be set around the test run; only assert without them.
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        && std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
    {
        assert!(
            rlm_otlp::layer::<tracing_subscriber::Registry>(&none)
                .unwrap()
                .is_none()
        );
    }
    let bad = OtlpConfig::endpoint("localhost:4318");
    assert!(matches!(
        rlm_otlp::layer::<tracing_subscriber::Registry>(&bad),
        Err(OtlpError::InvalidEndpoint { .. })
    ));
}
