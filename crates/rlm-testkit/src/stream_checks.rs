//! The streaming cases every provider's transport passes, over real HTTP on 127.0.0.1: deltas
//! arrive one by one and join to the answer, usage is still counted, an error status before the
//! stream is retried, a stream dropped after its first event is an error (never retried), a
//! plain JSON answer to a streaming request works, and a plain call asks for no stream.
//! Parameterised by the provider's wire format and a closure building its client.

use std::sync::{Arc, Mutex};

use rlm_core::{CompletionResponse, LanguageModel, LlmError, OnDelta};
use rlm_limits::RetryPolicy;

use crate::provider_tests::{fast_policy, request};
use crate::{FakeServer, Reply, Script, Wire};

/// The answer the streamed replies carry (five words: five deltas).
pub const STREAMED_TEXT: &str = "the answer is forty two";

/// Calls `client.complete_streaming` and returns the result with the deltas it handed over.
pub async fn stream_call<C: LanguageModel>(
    client: &C,
) -> (Result<CompletionResponse, LlmError>, Vec<String>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let on_delta: OnDelta = Arc::new(move |text: &str| {
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text.to_string());
    });
    let result = client.complete_streaming(request(), on_delta).await;
    let deltas = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    (result, deltas)
}

/// A streamed completion of [`STREAMED_TEXT`] in `wire`'s format, with usage 30 in, 5 out.
fn streamed(wire: Wire) -> Reply {
    Reply::completion(wire, STREAMED_TEXT).usage(30, 5)
}

/// Runs every streaming case against a fresh fake server; `build` makes the client.
pub async fn check_streaming<C: LanguageModel>(
    wire: Wire,
    build: impl Fn(&FakeServer, RetryPolicy) -> C,
) {
    // A stream: several deltas, joined to the answer, with the usage of its events.
    let server = FakeServer::start(Script::queue([streamed(wire), streamed(wire)])).await;
    let client = build(&server, fast_policy());
    let (result, deltas) = stream_call(&client).await;
    let response = result.unwrap_or_else(|e| panic!("{wire:?} stream: {e:?}"));
    assert_eq!(response.text, STREAMED_TEXT, "{wire:?}");
    assert!(
        deltas.len() >= 5,
        "{wire:?}: one delta per word: {deltas:?}"
    );
    assert_eq!(deltas.concat(), STREAMED_TEXT, "{wire:?}");
    assert_eq!(
        (
            response.usage.input_tokens,
            response.usage.output_tokens,
            response.usage.calls
        ),
        (30, 5, 1),
        "{wire:?}: usage is counted from the stream"
    );
    let sent = &server.requests()[0];
    assert!(
        sent.wants_stream(),
        "{wire:?}: the request asks for a stream"
    );
    if wire == Wire::OpenAi {
        let json = sent
            .json
            .as_ref()
            .map(|j| j["stream_options"]["include_usage"].clone());
        assert_eq!(json, Some(serde_json::json!(true)), "include_usage");
    }

    // A plain call asks for no stream.
    client
        .complete(request())
        .await
        .unwrap_or_else(|e| panic!("{wire:?} plain: {e:?}"));
    assert!(!server.requests()[1].wants_stream(), "{wire:?}: plain call");

    // A 429 before the stream starts is retried like any call.
    let limited = match wire {
        Wire::Anthropic => Reply::anthropic_error(429, "rate_limit_error", "slow down"),
        Wire::Gemini => Reply::gemini_error(429, "RESOURCE_EXHAUSTED", "slow down"),
        _ => Reply::openai_error(429, "rate_limit_exceeded", "slow down"),
    };
    let server = FakeServer::start(Script::queue([
        limited.header("retry-after-ms", "1"),
        Reply::drop_before_headers(),
        streamed(wire),
    ]))
    .await;
    let client = build(&server, fast_policy());
    let (result, deltas) = stream_call(&client).await;
    assert_eq!(
        result.map(|r| r.text).ok().as_deref(),
        Some(STREAMED_TEXT),
        "{wire:?}: retried"
    );
    assert_eq!(
        deltas.concat(),
        STREAMED_TEXT,
        "{wire:?}: no delta from failed attempts"
    );
    assert_eq!(server.request_count(), 3, "{wire:?}: two retries");

    // A stream dropped after its first events is an error, not retried: text was shown.
    let server = FakeServer::start(Script::queue([streamed(wire).cut_stream_after(4)])).await;
    let client = build(&server, fast_policy());
    let (result, deltas) = stream_call(&client).await;
    assert!(
        matches!(result, Err(LlmError::Truncated { .. })),
        "{wire:?}: cut stream: {result:?}"
    );
    assert!(
        !deltas.is_empty(),
        "{wire:?}: deltas arrived before the cut"
    );
    assert_eq!(server.request_count(), 1, "{wire:?}: not retried");

    // A server that answers a streaming request with plain JSON still works.
    let server = FakeServer::start(Script::queue([streamed(wire).plain_json()])).await;
    let client = build(&server, fast_policy());
    let (result, deltas) = stream_call(&client).await;
    assert_eq!(
        result.map(|r| (r.text, r.usage.input_tokens)).ok(),
        Some((STREAMED_TEXT.to_string(), 30)),
        "{wire:?}: plain answer"
    );
    assert_eq!(
        deltas,
        vec![STREAMED_TEXT.to_string()],
        "{wire:?}: one delta"
    );
}
