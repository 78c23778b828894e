//! [`HttpModel`]: the one [`LanguageModel`] over HTTP. One POST per attempt through the retry
//! loop, the call deadline, capped body reads, and key scrubbing; the codec says what goes on
//! the wire.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use rlm_core::{CompletionRequest, CompletionResponse, LanguageModel, LlmError, OnDelta};
use rlm_limits::RetryPolicy;

use crate::builder::HttpModelBuilder;
use crate::codec::request_model;
use crate::hints;
use crate::redact::{ApiKey, Scrubber, snippet_bytes};
use crate::retry::{self, Attempt, AttemptFailure, Phase, SleepFn, TransportErrorKind};
use crate::wire::WireFormat;

mod stream;

/// Largest response body read; a longer one fails with [`LlmError::InvalidResponse`].
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// What the builder hands over.
pub(crate) struct Parts<W> {
    pub(crate) model: String,
    pub(crate) wire: W,
    /// The validated base URL (with the codec's query, if any).
    pub(crate) base: Url,
    pub(crate) endpoint: Url,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) header_names: Vec<String>,
    /// Values of extra headers, scrubbed from errors like the key.
    pub(crate) header_secrets: Vec<String>,
    pub(crate) retry: RetryPolicy,
    pub(crate) http: reqwest::Client,
    pub(crate) sleep: Option<SleepFn>,
}

/// Where one call goes: the URL, and the same URL as shown in errors.
struct Target {
    url: Url,
    shown: String,
}

/// A URL as shown in errors and `Debug`: no user info, no query, no fragment (a key put in a
/// URL never shows).
pub fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    // Only fails for URLs that cannot have user info, which have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// A provider's client: [`LanguageModel`] over HTTP, speaking the wire format `W`.
///
/// Each call is one `POST` to the codec's endpoint for the request's model,
/// retried per the [`RetryPolicy`] (connect errors, dropped connections, truncated bodies, 408,
/// 409, 429, 5xx; `x-should-retry`, `retry-after-ms` and `Retry-After` honoured up to
/// `max_retry_after`, a longer wait failing fast with [`LlmError::RetryAfterTooLong`]), all
/// within one deadline (`call_timeout`). Bodies are read up to [`MAX_RESPONSE_BYTES`]. Dropping
/// the future cancels the call, including a backoff sleep. The key, and the values of extra
/// headers, never appear in errors, `Debug` output or logs; shown URLs carry no user info and
/// no query.
///
/// [`LanguageModel::complete`] sends a plain request. [`LanguageModel::complete_streaming`]
/// asks for a server-sent-event stream (the codec's [`WireFormat::encode_stream`]) and hands
/// each piece of text to its callback as it arrives; a server that answers with a plain JSON
/// body instead (any `Content-Type` but `text/event-stream`) is decoded as usual and its text
/// handed over at once. A stream is retried like a plain call until the first byte of its body
/// arrives; after that, a failure (a dropped connection, an error event, a stream that ends
/// before its last event) ends the call with an error, since the caller has already seen text.
/// Usage comes from the stream's own usage events.
///
/// The providers name it: `rlm_openai::OpenAiClient` is `HttpModel<rlm_openai::OpenAi>`.
/// Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct HttpModel<W> {
    model: String,
    wire: W,
    base: Url,
    endpoint: Url,
    /// The endpoint as shown in errors.
    shown_endpoint: String,
    api_key: Option<ApiKey>,
    header_names: Vec<String>,
    retry: RetryPolicy,
    http: reqwest::Client,
    sleep: Option<SleepFn>,
    scrubber: Scrubber,
}

impl<W: WireFormat> fmt::Debug for HttpModel<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpModel")
            .field("provider", &W::PROVIDER_NAME)
            .field("model", &self.model)
            .field("endpoint", &self.shown_endpoint)
            .field("api_key", &self.api_key)
            .field("headers", &self.header_names)
            .field("retry", &self.retry)
            .field("wire", &self.wire)
            .finish()
    }
}

impl<W: WireFormat + Default> HttpModel<W> {
    /// A builder for `model` with the codec's defaults and nothing else set (the environment is
    /// not read unless you call [`HttpModelBuilder::env`]).
    pub fn builder(model: impl Into<String>) -> HttpModelBuilder<W> {
        HttpModelBuilder::new(model, W::default())
    }

    /// A client for `model` configured from the codec's variables (key and base URL).
    pub fn from_env(model: impl Into<String>) -> Result<Self, LlmError> {
        Self::builder(model).env().build()
    }

    /// Like [`HttpModel::from_env`], reading variables through `lookup`.
    pub fn from_env_with(
        model: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LlmError> {
        Self::builder(model).env_with(lookup).build()
    }
}

impl<W: WireFormat> HttpModel<W> {
    pub(crate) fn from_parts(parts: Parts<W>) -> Self {
        let key = parts.api_key.as_ref().map(ApiKey::expose_secret);
        let scrubber = Scrubber::new(
            key.into_iter()
                .chain(parts.header_secrets.iter().map(String::as_str)),
        );
        Self {
            model: parts.model,
            wire: parts.wire,
            base: parts.base,
            shown_endpoint: shown_url(&parts.endpoint),
            endpoint: parts.endpoint,
            api_key: parts.api_key,
            header_names: parts.header_names,
            retry: parts.retry,
            http: parts.http,
            sleep: parts.sleep,
            scrubber,
        }
    }

    /// The URL requests for the client's model go to, as shown in errors: no user info, no
    /// query.
    pub fn endpoint(&self) -> &str {
        &self.shown_endpoint
    }

    /// The configured key, if any.
    pub fn api_key(&self) -> Option<&ApiKey> {
        self.api_key.as_ref()
    }

    /// The retry policy in force (with the builder's `timeout` applied).
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The codec, with its settings.
    pub fn wire(&self) -> &W {
        &self.wire
    }

    /// Where a request for `model` goes: the configured endpoint for the client's model, else
    /// the codec's endpoint for that model.
    fn target(&self, model: &str) -> Result<Target, LlmError> {
        if model == self.model {
            return Ok(Target {
                url: self.endpoint.clone(),
                shown: self.shown_endpoint.clone(),
            });
        }
        let url = self.wire.endpoint(&self.base, model)?;
        let shown = shown_url(&url);
        Ok(Target { url, shown })
    }

    fn transport_failure(
        &self,
        error: reqwest::Error,
        phase: Phase,
        target: &Target,
        attempt: Attempt,
    ) -> AttemptFailure {
        let kind = if error.is_connect() {
            TransportErrorKind::Connect
        } else if error.is_timeout() {
            // The per-request timeout is the time left until the call deadline.
            TransportErrorKind::Timeout
        } else {
            TransportErrorKind::Other
        };
        // The URL goes in our own `url` field; the message says only what went wrong.
        let message = self
            .scrubber
            .scrub_owned(retry::error_chain(&error.without_url()));
        retry::transport_failure(kind, phase, &target.shown, message, attempt.start.elapsed())
    }

    /// Reads the body, refusing more than [`MAX_RESPONSE_BYTES`].
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        target: &Target,
        attempt: Attempt,
    ) -> Result<Vec<u8>, AttemptFailure> {
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_failure(e, Phase::Body, target, attempt))?
        {
            if body.len().saturating_add(chunk.len()) > MAX_RESPONSE_BYTES {
                return Err(AttemptFailure::fatal(LlmError::InvalidResponse {
                    reason: format!("response body larger than {MAX_RESPONSE_BYTES} bytes"),
                    body: snippet_bytes(&self.scrubber.scrub_bytes(body)),
                }));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Sends one request: the POST with the call's time left as its timeout.
    async fn send(
        &self,
        target: &Target,
        body: &[u8],
        attempt: Attempt,
    ) -> Result<reqwest::Response, AttemptFailure> {
        let mut request = self
            .http
            .post(target.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(left) = attempt.time_left() {
            request = request.timeout(left);
        }
        request
            .send()
            .await
            .map_err(|e| self.transport_failure(e, Phase::Send, target, attempt))
    }

    /// Reads a whole response and decodes it: a 2xx body through the codec, any other status
    /// classified (with the server's wait and retry verdict).
    async fn read_response(
        &self,
        response: reqwest::Response,
        target: &Target,
        model: &str,
        attempt: Attempt,
    ) -> Result<CompletionResponse, AttemptFailure> {
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        let retry_after = hints::retry_after(header, SystemTime::now());
        let should_retry = hints::should_retry(header("x-should-retry"));
        let raw = self
            .scrubber
            .scrub_bytes(self.read_body(response, target, attempt).await?);
        let result = if (200..300).contains(&status) {
            self.wire.decode(&raw, model)
        } else {
            Err(self
                .wire
                .classify(status, &String::from_utf8_lossy(&raw), retry_after))
        };
        result.map_err(|error| AttemptFailure::from_response(error, retry_after, should_retry))
    }

    /// One HTTP exchange.
    async fn attempt(
        &self,
        target: &Target,
        body: &[u8],
        model: &str,
        attempt: Attempt,
    ) -> Result<CompletionResponse, AttemptFailure> {
        let response = self.send(target, body, attempt).await?;
        self.read_response(response, target, model, attempt).await
    }

    async fn call(&self, request: &CompletionRequest) -> Result<CompletionResponse, LlmError> {
        let model = request_model(request, &self.model);
        let body = self.wire.encode(request, &self.model)?;
        let target = self.target(model)?;
        retry::call_with_retries(&self.retry, self.sleep.as_ref(), &target.shown, |attempt| {
            self.attempt(&target, &body, model, attempt)
        })
        .await
    }
}

#[async_trait]
impl<W: WireFormat> LanguageModel for HttpModel<W> {
    fn model_name(&self) -> &str {
        &self.model
    }

    fn provider_name(&self) -> &str {
        W::PROVIDER_NAME
    }

    /// Runs the codec's encoder on `request` (nothing is sent).
    fn check_request(&self, request: &CompletionRequest) -> Result<(), LlmError> {
        self.wire
            .encode(request, &self.model)
            .map(drop)
            .map_err(|e| self.scrubber.scrub_error(e))
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        self.call(&request)
            .await
            .map_err(|e| self.scrubber.scrub_error(e))
    }

    /// One streaming `POST` when the codec can stream ([`WireFormat::encode_stream`]), else
    /// [`LanguageModel::complete`] with the text handed over at once. See [`HttpModel`] for the
    /// rules (retries before the first byte of the stream only).
    async fn complete_streaming(
        &self,
        request: CompletionRequest,
        on_delta: OnDelta,
    ) -> Result<CompletionResponse, LlmError> {
        self.call_streaming(&request, &on_delta)
            .await
            .map_err(|e| self.scrubber.scrub_error(e))
    }
}
