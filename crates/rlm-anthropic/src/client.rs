//! The transport: one POST per attempt, handed to the provider-neutral retry loop of
//! [`rlm_limits::http_retry`]; key scrubbing and tracing.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use reqwest::header::CONTENT_TYPE;
use rlm_core::{CompletionRequest, CompletionResponse, LanguageModel, LlmError};
use rlm_limits::RetryPolicy;
use rlm_limits::http_retry::{self, Attempt, AttemptFailure, Phase, SleepFn, TransportErrorKind};
use rlm_limits::redact::{ApiKey, Scrubber, snippet_bytes};
use tracing::Instrument;

use crate::codec;
use crate::config::AnthropicClientBuilder;
use crate::error_body;

/// Largest response body read; a longer one fails with [`LlmError::InvalidResponse`].
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// What the builder hands over.
pub(crate) struct Parts {
    pub(crate) model: String,
    pub(crate) endpoint: reqwest::Url,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) extra_header_names: Vec<String>,
    pub(crate) extra_secrets: Vec<String>,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_tokens: u32,
    pub(crate) http: reqwest::Client,
    pub(crate) sleep: Option<SleepFn>,
}

/// A client of the Anthropic Messages API (Claude models), implementing [`LanguageModel`].
///
/// Each call is one non-streaming `POST {base_url}/v1/messages` with `x-api-key` and
/// `anthropic-version: 2023-06-01`, retried per the [`RetryPolicy`] (connect errors, dropped
/// connections, 408, 409, 429 rate limits, 5xx and 529 `overloaded_error`; `x-should-retry`,
/// `retry-after-ms` and `Retry-After` honoured up to `max_retry_after`), all within one deadline
/// (`call_timeout`). A spend-limit 429 is [`LlmError::QuotaExhausted`] and is not retried.
/// Dropping the future cancels the call. The key never appears in errors, `Debug` output or
/// traces.
///
/// ```no_run
/// use rlm_anthropic::AnthropicClient;
/// use rlm_core::{CompletionRequest, LanguageModel, Message};
///
/// # async fn demo() -> Result<(), rlm_core::LlmError> {
/// let client = AnthropicClient::from_env("claude-sonnet-4-5")?; // ANTHROPIC_API_KEY
/// let reply = client.complete(CompletionRequest::new(vec![Message::user("Say hi")])).await?;
/// println!("{} ({} tokens in)", reply.text, reply.usage.input_tokens);
/// # Ok(()) }
/// ```
///
/// Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct AnthropicClient {
    model: String,
    endpoint: reqwest::Url,
    /// The endpoint as shown in errors: no user info, no query.
    shown_endpoint: String,
    api_key: Option<ApiKey>,
    extra_header_names: Vec<String>,
    retry: RetryPolicy,
    max_tokens: u32,
    http: reqwest::Client,
    sleep: Option<SleepFn>,
    scrubber: Scrubber,
}

impl fmt::Debug for AnthropicClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicClient")
            .field("model", &self.model)
            .field("endpoint", &self.shown_endpoint)
            .field("api_key", &self.api_key)
            .field("headers", &self.extra_header_names)
            .field("retry", &self.retry)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

impl AnthropicClient {
    /// A builder for `model` with nothing else set (the environment is not read unless you call
    /// [`AnthropicClientBuilder::env`]).
    pub fn builder(model: impl Into<String>) -> AnthropicClientBuilder {
        AnthropicClientBuilder::new(model)
    }

    /// A client for `model` configured from `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL`
    /// (default `https://api.anthropic.com`).
    pub fn from_env(model: impl Into<String>) -> Result<Self, LlmError> {
        Self::builder(model).env().build()
    }

    /// Like [`AnthropicClient::from_env`], reading variables through `lookup`.
    pub fn from_env_with(
        model: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LlmError> {
        Self::builder(model).env_with(lookup).build()
    }

    pub(crate) fn from_parts(parts: Parts) -> Self {
        let mut shown = parts.endpoint.clone();
        // Only fails for URLs that cannot have user info, which have none to hide.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        shown.set_query(None);
        shown.set_fragment(None);
        let key = parts.api_key.as_ref().map(ApiKey::expose_secret);
        let scrubber = Scrubber::new(
            key.into_iter()
                .chain(parts.extra_secrets.iter().map(String::as_str)),
        );
        Self {
            model: parts.model,
            endpoint: parts.endpoint,
            shown_endpoint: shown.to_string(),
            api_key: parts.api_key,
            extra_header_names: parts.extra_header_names,
            retry: parts.retry,
            max_tokens: parts.max_tokens,
            http: parts.http,
            sleep: parts.sleep,
            scrubber,
        }
    }

    /// The URL requests go to (`{base_url}/v1/messages`), as shown in errors.
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

    /// `max_tokens` sent when a request sets none.
    pub fn default_max_tokens(&self) -> u32 {
        self.max_tokens
    }

    fn transport_failure(
        &self,
        error: reqwest::Error,
        phase: Phase,
        attempt: Attempt,
    ) -> AttemptFailure {
        let kind = if error.is_connect() {
            TransportErrorKind::Connect
        } else if error.is_timeout() {
            TransportErrorKind::Timeout
        } else {
            TransportErrorKind::Other
        };
        let message = self
            .scrubber
            .scrub_owned(http_retry::error_chain(&error.without_url()));
        http_retry::transport_failure(
            kind,
            phase,
            &self.shown_endpoint,
            message,
            attempt.start.elapsed(),
        )
    }

    /// Reads the body, refusing more than [`MAX_RESPONSE_BYTES`].
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        attempt: Attempt,
    ) -> Result<Vec<u8>, AttemptFailure> {
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_failure(e, Phase::Body, attempt))?
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

    /// One HTTP exchange.
    async fn attempt(
        &self,
        body: &[u8],
        model: &str,
        attempt: Attempt,
    ) -> Result<CompletionResponse, AttemptFailure> {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(left) = attempt.time_left() {
            request = request.timeout(left);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_failure(e, Phase::Send, attempt))?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        let retry_after = http_retry::retry_after(header, SystemTime::now());
        let should_retry = http_retry::should_retry(header("x-should-retry"));
        let raw = self
            .scrubber
            .scrub_bytes(self.read_body(response, attempt).await?);
        let result = if (200..300).contains(&status) {
            codec::decode_response(&raw, model)
        } else {
            Err(error_body::classify_status(
                status,
                &String::from_utf8_lossy(&raw),
                retry_after,
            ))
        };
        result.map_err(|error| AttemptFailure::from_response(error, retry_after, should_retry))
    }

    async fn call(&self, request: &CompletionRequest) -> Result<CompletionResponse, LlmError> {
        let model = codec::request_model(request, &self.model);
        let body = codec::encode_request(request, &self.model, self.max_tokens)?;
        http_retry::call_with_retries(
            &self.retry,
            self.sleep.as_ref(),
            &self.shown_endpoint,
            |attempt| self.attempt(&body, model, attempt),
        )
        .await
    }
}

#[async_trait]
impl LanguageModel for AnthropicClient {
    fn model_name(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        let span =
            rlm_limits::llm_call_span!("anthropic", codec::request_model(&request, &self.model));
        let result = self.call(&request).instrument(span.clone()).await;
        http_retry::record_call(&span, &result);
        result.map_err(|e| self.scrubber.scrub_error(e))
    }
}
