//! The streaming side of [`HttpModel`]: one `POST` asking for server-sent events, the events
//! decoded by the codec as they arrive and each piece of text handed to the caller. Retried
//! like a plain call until the first byte of the body; after it, every failure is final.

use reqwest::header::CONTENT_TYPE;
use rlm_core::{CompletionRequest, CompletionResponse, LlmError, OnDelta};

use super::{HttpModel, MAX_RESPONSE_BYTES, Target};
use crate::codec::request_model;
use crate::redact::snippet;
use crate::retry::{self, Attempt, AttemptFailure, Phase};
use crate::sse::SseParser;
use crate::stream::StreamState;
use crate::wire::WireFormat;

/// Whether a response is an event stream (`text/event-stream`, any parameters).
fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// A failure once the stream has started: final, never retried.
fn cut(reason: String) -> AttemptFailure {
    AttemptFailure::fatal(LlmError::Truncated { reason })
}

impl<W: WireFormat> HttpModel<W> {
    pub(super) async fn call_streaming(
        &self,
        request: &CompletionRequest,
        on_delta: &OnDelta,
    ) -> Result<CompletionResponse, LlmError> {
        let Some(body) = self.wire.encode_stream(request, &self.model)? else {
            // The codec cannot stream: a plain call, its text handed over at once.
            let response = self.call(request).await?;
            deliver(on_delta, &response.text);
            return Ok(response);
        };
        let model = request_model(request, &self.model);
        let plain = self.target(model)?;
        let url = self.wire.stream_url(plain.url);
        let target = Target {
            shown: super::shown_url(&url),
            url,
        };
        retry::call_with_retries(&self.retry, self.sleep.as_ref(), &target.shown, |attempt| {
            self.stream_attempt(&target, &body, model, attempt, on_delta)
        })
        .await
    }

    /// One streaming exchange.
    async fn stream_attempt(
        &self,
        target: &Target,
        body: &[u8],
        model: &str,
        attempt: Attempt,
        on_delta: &OnDelta,
    ) -> Result<CompletionResponse, AttemptFailure> {
        let mut response = self.send(target, body, attempt).await?;
        if !response.status().is_success() || !is_event_stream(&response) {
            // An error status, or a server that answered with a plain body: read it whole.
            let answer = self.read_response(response, target, model, attempt).await?;
            deliver(on_delta, &answer.text);
            return Ok(answer);
        }
        let mut parser = SseParser::default();
        let mut state = StreamState::default();
        let mut received = 0usize;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                // Nothing arrived yet: retried like a connection dropped before a response.
                Err(e) if received == 0 => {
                    return Err(self.transport_failure(e, Phase::Body, target, attempt));
                }
                Err(e) => {
                    let failure = self.transport_failure(e, Phase::Body, target, attempt);
                    return Err(match failure.error {
                        timeout @ LlmError::Timeout { .. } => AttemptFailure::fatal(timeout),
                        other => cut(format!(
                            "the stream was cut after {received} bytes: {other}"
                        )),
                    });
                }
            };
            received = received.saturating_add(chunk.len());
            if received > MAX_RESPONSE_BYTES {
                return Err(AttemptFailure::fatal(LlmError::InvalidResponse {
                    reason: format!("stream larger than {MAX_RESPONSE_BYTES} bytes"),
                    body: String::new(),
                }));
            }
            for mut event in parser.push(&chunk) {
                event.data = self.scrubber.scrub_owned(event.data);
                let delta = self
                    .wire
                    .decode_event(&event, &mut state)
                    .map_err(AttemptFailure::fatal)?;
                if let Some(delta) = delta.filter(|d| !d.is_empty()) {
                    state.text.push_str(&delta);
                    on_delta(&delta);
                }
            }
        }
        if !state.done && received == 0 {
            // An empty body: nothing was shown yet, so it is retried like a cut body.
            return Err(AttemptFailure::transport(LlmError::Truncated {
                reason: "the stream ended before its first event".into(),
            }));
        }
        if !state.done {
            let pending = if parser.has_pending() {
                " (inside an event)"
            } else {
                ""
            };
            return Err(cut(format!(
                "the stream ended before its last event{pending} after {received} bytes; text so far: {}",
                snippet(&state.text)
            )));
        }
        self.wire
            .finish_stream(state, model)
            .map_err(AttemptFailure::fatal)
    }
}

/// Hands a whole text over as one delta (nothing for an empty text).
fn deliver(on_delta: &OnDelta, text: &str) {
    if !text.is_empty() {
        on_delta(text);
    }
}
