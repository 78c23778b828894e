//! Streaming over real loopback HTTP against the testkit's fake server, through a small
//! OpenAI-shaped streaming codec: deltas as they arrive, usage from the last event, retries
//! before the first byte only, a cut stream, a plain JSON answer, and a codec that cannot
//! stream (a plain call, its text handed over once).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use rlm_core::{CompletionRequest, CompletionResponse, FinishReason, LlmError, Usage};
use rlm_http::header::{AUTHORIZATION, HeaderName};
use rlm_http::sse::SseEvent;
use rlm_http::stream::StreamState;
use rlm_http::{HttpModel, RetryPolicy, Url, WireFormat, codec};
use rlm_testkit::stream_checks::{STREAMED_TEXT, check_streaming, stream_call};
use rlm_testkit::{FakeServer, Reply, Script, Wire};
use serde_json::{Value, json};

/// An OpenAI-shaped codec; streams unless `plain_only`.
#[derive(Debug, Clone, Default)]
struct StreamWire {
    plain_only: bool,
}

impl WireFormat for StreamWire {
    const PROVIDER_NAME: &'static str = "test";
    const API_KEY_ENV: &'static str = "TEST_API_KEY";
    const BASE_URL_ENV: &'static str = "TEST_BASE_URL";
    const DEFAULT_BASE_URL: Option<&'static str> = None;
    const USER_AGENT: &'static str = "rlm-http-test/1";

    fn endpoint(&self, base: &Url, _model: &str) -> Result<Url, LlmError> {
        codec::join_path(base, ["chat", "completions"])
    }

    fn auth_header(&self, key: &str) -> (HeaderName, String) {
        (AUTHORIZATION, format!("Bearer {key}"))
    }

    fn encode(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, LlmError> {
        let model = codec::named_model(request, model)?;
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        codec::encode_json(&json!({"model": model, "messages": messages}))
    }

    fn encode_stream(
        &self,
        request: &CompletionRequest,
        model: &str,
    ) -> Result<Option<Vec<u8>>, LlmError> {
        if self.plain_only {
            return Ok(None);
        }
        let mut body: Value = serde_json::from_slice(&self.encode(request, model)?).unwrap();
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        codec::encode_json(&body).map(Some)
    }

    fn decode(&self, body: &[u8], model: &str) -> Result<CompletionResponse, LlmError> {
        let value: Value = codec::decode_json(body, "a chat completion", |_, _| None)?;
        let choice = &value["choices"][0];
        let raw = choice["finish_reason"].as_str().map(str::to_string);
        let finish = FinishReason::parse(raw.as_deref());
        let text = choice["message"]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let usage = Usage {
            input_tokens: value["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            output_tokens: value["usage"]["completion_tokens"].as_u64().unwrap_or(0),
            calls: 1,
            ..Usage::default()
        };
        codec::completion(None, model, text, raw, finish, usage)
    }

    fn decode_event(
        &self,
        event: &SseEvent,
        state: &mut StreamState,
    ) -> Result<Option<String>, LlmError> {
        if event.data == "[DONE]" {
            state.done = true;
            return Ok(None);
        }
        let value: Value = serde_json::from_str(&event.data)
            .map_err(|e| codec::invalid(e.to_string(), event.data.as_bytes()))?;
        if let Some(usage) = value.get("usage") {
            state.usage.input_tokens = usage["prompt_tokens"].as_u64().unwrap_or(0);
            state.usage.output_tokens = usage["completion_tokens"].as_u64().unwrap_or(0);
        }
        let choice = &value["choices"][0];
        if let Some(reason) = choice["finish_reason"].as_str() {
            state.finish_reason = Some(reason.to_string());
        }
        Ok(choice["delta"]["content"].as_str().map(str::to_string))
    }

    fn classify(&self, status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
        codec::classify_status(status, body, retry_after)
    }
}

fn client_with(server: &FakeServer, policy: RetryPolicy) -> HttpModel<StreamWire> {
    HttpModel::<StreamWire>::builder("gpt-test")
        .base_url(server.base_url())
        .retry_policy(policy)
        .build()
        .unwrap()
}

#[tokio::test]
async fn streams_over_sse() {
    check_streaming(Wire::OpenAi, client_with).await;
}

#[tokio::test]
async fn a_codec_that_cannot_stream_makes_a_plain_call() {
    let server = FakeServer::start(Script::queue([Reply::text(STREAMED_TEXT)])).await;
    let plain = {
        let mut b = HttpModel::<StreamWire>::builder("gpt-test").base_url(server.base_url());
        b.wire_mut().plain_only = true;
        b.build().unwrap()
    };
    let (result, deltas) = stream_call(&plain).await;
    assert_eq!(result.unwrap().text, STREAMED_TEXT);
    assert_eq!(deltas, vec![STREAMED_TEXT.to_string()]);
    assert!(!server.requests()[0].wants_stream());
}

#[tokio::test]
async fn a_stream_that_ends_before_its_last_event_is_cut() {
    // Every event but `[DONE]` and the finish chunk: a clean close, yet not the whole answer.
    let body = "data: {\"choices\":[{\"delta\":{\"content\":\"half \"}}]}\n\n";
    let server = FakeServer::start(Script::always(
        Reply::status(200, body).header("content-type", "text/event-stream"),
    ))
    .await;
    let client = client_with(&server, rlm_testkit::provider_tests::fast_policy());
    let (result, deltas) = stream_call(&client).await;
    assert!(
        matches!(&result, Err(LlmError::Truncated { reason }) if reason.contains("before its last event")),
        "{result:?}"
    );
    assert_eq!(deltas, vec!["half ".to_string()]);
    assert_eq!(server.request_count(), 1, "not retried once text was shown");
}
