//! The transport: one POST per attempt, the retry loop, the call deadline, key scrubbing and
//! tracing.

use std::borrow::Cow;
use std::error::Error as _;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::CONTENT_TYPE;
use rlm_core::{CompletionRequest, CompletionResponse, LanguageModel, LlmError};
use rlm_limits::{RetryPolicy, spans};
use tokio::time::Instant;
use tracing::Instrument;

use crate::codec::{self, MaxTokensField};
use crate::config::{ApiKey, OpenAiClientBuilder};
use crate::error_body::{self, is_retryable_status};
use crate::retry;

/// Largest response body read; a longer one fails with [`LlmError::InvalidResponse`].
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// Keys shorter than this are not scrubbed from bodies (a placeholder such as `x` would mangle
/// every message, and is no secret).
const MIN_SCRUB_LEN: usize = 4;

/// Performs a wait between attempts (`tokio::time::sleep` unless a test hook replaces it).
pub(crate) type SleepFn =
    Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What the builder hands over.
pub(crate) struct Parts {
    pub(crate) model: String,
    pub(crate) endpoint: reqwest::Url,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) extra_header_names: Vec<String>,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_tokens_field: MaxTokensField,
    pub(crate) http: reqwest::Client,
    pub(crate) sleep: Option<SleepFn>,
}

/// A client of an OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama,
/// OpenRouter, LM Studio, llama.cpp server, SGLang), implementing [`LanguageModel`].
///
/// Each call is one non-streaming `POST {base_url}/chat/completions`, retried per the
/// [`RetryPolicy`] (connect errors, dropped connections, truncated bodies, 408, 409, 429, 5xx;
/// `x-should-retry`, `retry-after-ms` and `Retry-After` honoured up to `max_retry_after`), all
/// within one deadline (`call_timeout`). Dropping the future cancels the call, including a
/// backoff sleep. The key never appears in errors, `Debug` output or traces.
///
/// ```no_run
/// use rlm_core::{CompletionRequest, LanguageModel, Message};
/// use rlm_openai::OpenAiClient;
///
/// # async fn demo() -> Result<(), rlm_core::LlmError> {
/// let client = OpenAiClient::from_env("gpt-4o-mini")?; // OPENAI_API_KEY, OPENAI_BASE_URL
/// let reply = client.complete(CompletionRequest::new(vec![Message::user("Say hi")])).await?;
/// println!("{} ({} tokens in)", reply.text, reply.usage.input_tokens);
/// # Ok(()) }
/// ```
///
/// Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct OpenAiClient {
    model: String,
    endpoint: reqwest::Url,
    /// The endpoint as shown in errors: no user info, no query.
    shown_endpoint: String,
    api_key: Option<ApiKey>,
    extra_header_names: Vec<String>,
    retry: RetryPolicy,
    max_tokens_field: MaxTokensField,
    http: reqwest::Client,
    sleep: Option<SleepFn>,
}

impl fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiClient")
            .field("model", &self.model)
            .field("endpoint", &self.shown_endpoint)
            .field("api_key", &self.api_key)
            .field("headers", &self.extra_header_names)
            .field("retry", &self.retry)
            .field("max_tokens_field", &self.max_tokens_field)
            .finish()
    }
}

/// A failed attempt and whether another one may help.
struct Failure {
    error: LlmError,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl Failure {
    fn transport(error: LlmError) -> Self {
        Self {
            error,
            retryable: true,
            retry_after: None,
        }
    }
}

/// Where a transport error happened.
#[derive(Clone, Copy)]
enum Phase {
    /// Connecting, sending, or waiting for the response head.
    Send,
    /// Reading the response body.
    Body,
}

/// Whether an error classified from a response is worth retrying when the server gave no
/// `x-should-retry` verdict.
fn retryable_by_default(error: &LlmError) -> bool {
    match error {
        LlmError::Http { status, .. } => is_retryable_status(*status),
        _ => false,
    }
}

/// An error's message followed by its sources, `: `-separated.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl OpenAiClient {
    /// A builder for `model` with nothing else set (the environment is not read unless you call
    /// [`OpenAiClientBuilder::env`]).
    pub fn builder(model: impl Into<String>) -> OpenAiClientBuilder {
        OpenAiClientBuilder::new(model)
    }

    /// A client for `model` configured from `OPENAI_API_KEY` and `OPENAI_BASE_URL` (default
    /// `https://api.openai.com/v1`). Use `builder(model).env()` to override some values in code.
    pub fn from_env(model: impl Into<String>) -> Result<Self, LlmError> {
        Self::builder(model).env().build()
    }

    /// Like [`OpenAiClient::from_env`], reading variables through `lookup`.
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
        Self {
            model: parts.model,
            endpoint: parts.endpoint,
            shown_endpoint: shown.to_string(),
            api_key: parts.api_key,
            extra_header_names: parts.extra_header_names,
            retry: parts.retry,
            max_tokens_field: parts.max_tokens_field,
            http: parts.http,
            sleep: parts.sleep,
        }
    }

    /// The URL requests go to (`{base_url}/chat/completions`), as shown in errors.
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

    /// The key, when it is long enough to be worth scrubbing.
    fn secret(&self) -> Option<&str> {
        self.api_key
            .as_ref()
            .map(ApiKey::expose_secret)
            .filter(|k| k.len() >= MIN_SCRUB_LEN)
    }

    fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.secret() {
            Some(key) if text.contains(key) => Cow::Owned(text.replace(key, "***")),
            _ => Cow::Borrowed(text),
        }
    }

    fn scrub_owned(&self, text: String) -> String {
        match self.scrub(&text) {
            Cow::Owned(scrubbed) => scrubbed,
            Cow::Borrowed(_) => text,
        }
    }

    /// Removes the key from a body before anything reads it.
    fn scrub_body(&self, body: Vec<u8>) -> Vec<u8> {
        match self.secret() {
            Some(key) if body.windows(key.len()).any(|w| w == key.as_bytes()) => {
                String::from_utf8_lossy(&body)
                    .replace(key, "***")
                    .into_bytes()
            }
            _ => body,
        }
    }

    /// Removes the key from every text field of an error (the last line of defence: bodies are
    /// already scrubbed when read).
    fn scrub_error(&self, error: LlmError) -> LlmError {
        if self.secret().is_none() {
            return error;
        }
        let s = |text: String| self.scrub_owned(text);
        match error {
            LlmError::Connect { url, message } => LlmError::Connect {
                url: s(url),
                message: s(message),
            },
            LlmError::Timeout { url, elapsed } => LlmError::Timeout {
                url: s(url),
                elapsed,
            },
            LlmError::Http {
                status,
                body,
                retry_after,
            } => LlmError::Http {
                status,
                body: s(body),
                retry_after,
            },
            LlmError::Authentication { status, body } => LlmError::Authentication {
                status,
                body: s(body),
            },
            LlmError::QuotaExhausted { body } => LlmError::QuotaExhausted { body: s(body) },
            LlmError::ContextLengthExceeded { body } => {
                LlmError::ContextLengthExceeded { body: s(body) }
            }
            LlmError::Truncated { reason } => LlmError::Truncated { reason: s(reason) },
            LlmError::EmptyCompletion { finish_reason } => LlmError::EmptyCompletion {
                finish_reason: s(finish_reason),
            },
            LlmError::InvalidResponse { reason, body } => LlmError::InvalidResponse {
                reason: s(reason),
                body: s(body),
            },
            LlmError::LimitExceeded { limit, detail } => LlmError::LimitExceeded {
                limit: s(limit),
                detail: s(detail),
            },
            LlmError::Config { message } => LlmError::Config {
                message: s(message),
            },
            other => other,
        }
    }

    fn transport_failure(&self, error: reqwest::Error, phase: Phase, start: Instant) -> Failure {
        let url = self.shown_endpoint.clone();
        let (is_connect, is_timeout) = (error.is_connect(), error.is_timeout());
        // The URL goes in our own `url` field; the message says only what went wrong.
        let message = self.scrub_owned(error_chain(&error.without_url()));
        if is_connect {
            return Failure::transport(LlmError::Connect { url, message });
        }
        if is_timeout {
            // The per-request timeout is the time left until the call deadline: nothing remains.
            return Failure {
                error: LlmError::Timeout {
                    url,
                    elapsed: start.elapsed(),
                },
                retryable: false,
                retry_after: None,
            };
        }
        match phase {
            Phase::Send => Failure::transport(LlmError::Connect {
                url,
                message: format!("connection failed before a response: {message}"),
            }),
            Phase::Body => Failure::transport(LlmError::Truncated {
                reason: format!(
                    "connection closed before the response body was complete: {message}"
                ),
            }),
        }
    }

    /// Reads the body, refusing more than [`MAX_RESPONSE_BYTES`].
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        start: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_failure(e, Phase::Body, start))?
        {
            if body.len().saturating_add(chunk.len()) > MAX_RESPONSE_BYTES {
                return Err(Failure {
                    error: LlmError::InvalidResponse {
                        reason: format!("response body larger than {MAX_RESPONSE_BYTES} bytes"),
                        body: error_body::snippet_bytes(&self.scrub_body(body)),
                    },
                    retryable: false,
                    retry_after: None,
                });
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
        deadline: Option<Instant>,
        start: Instant,
    ) -> Result<CompletionResponse, Failure> {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(at) = deadline {
            request = request.timeout(at.saturating_duration_since(Instant::now()));
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_failure(e, Phase::Send, start))?;
        let status = response.status().as_u16();
        let retry_after = retry::retry_after(response.headers(), SystemTime::now());
        let should_retry = retry::should_retry(response.headers());
        let raw = self.scrub_body(self.read_body(response, start).await?);
        let result = if (200..300).contains(&status) {
            codec::decode_response(&raw, model)
        } else {
            Err(error_body::classify_status(
                status,
                &String::from_utf8_lossy(&raw),
                retry_after,
            ))
        };
        result.map_err(|error| {
            let error = match error {
                LlmError::Http {
                    status,
                    body,
                    retry_after: None,
                } => LlmError::Http {
                    status,
                    body,
                    retry_after,
                },
                other => other,
            };
            let retryable = should_retry.unwrap_or_else(|| retryable_by_default(&error));
            tracing::debug!(status, retryable, "attempt failed");
            Failure {
                error,
                retryable,
                retry_after,
            }
        })
    }

    /// Attempts until success, a final error, or no retries or time left.
    async fn retry_loop(
        &self,
        body: &[u8],
        model: &str,
        deadline: Option<Instant>,
        start: Instant,
    ) -> Result<CompletionResponse, LlmError> {
        let mut retry: u32 = 0;
        loop {
            tracing::Span::current().record(spans::RETRY_ATTEMPT, retry);
            let failure = match self.attempt(body, model, deadline, start).await {
                Ok(response) => return Ok(response),
                Err(failure) => failure,
            };
            if !failure.retryable || retry >= self.retry.max_retries {
                return Err(failure.error);
            }
            let wait = match failure.retry_after {
                Some(wait) if wait > self.retry.max_retry_after => {
                    tracing::warn!(
                        wait_ms = wait.as_millis() as u64,
                        "retry-after above the cap: failing fast"
                    );
                    return Err(LlmError::RetryAfterTooLong {
                        wait,
                        cap: self.retry.max_retry_after,
                    });
                }
                Some(wait) => wait,
                None => self.retry.backoff(retry, fastrand::f64()),
            };
            if deadline.is_some_and(|at| Instant::now() + wait >= at) {
                // Waiting would outlive the call: the last error says more than a timeout would.
                return Err(failure.error);
            }
            tracing::info!(
                retry = retry + 1,
                wait_ms = wait.as_millis() as u64,
                "retrying after a failed attempt"
            );
            match &self.sleep {
                None => tokio::time::sleep(wait).await,
                Some(sleep) => sleep(wait).await,
            }
            retry += 1;
        }
    }

    async fn call(&self, request: &CompletionRequest) -> Result<CompletionResponse, LlmError> {
        let model = codec::request_model(request, &self.model);
        let body = codec::encode_request(request, &self.model, self.max_tokens_field)?;
        let start = Instant::now();
        let deadline = self.retry.call_timeout.map(|t| start + t);
        let attempts = self.retry_loop(&body, model, deadline, start);
        match deadline {
            None => attempts.await,
            Some(at) => tokio::time::timeout_at(at, attempts)
                .await
                .unwrap_or_else(|_| {
                    Err(LlmError::Timeout {
                        url: self.shown_endpoint.clone(),
                        elapsed: start.elapsed(),
                    })
                }),
        }
    }
}

/// A short, body-free name of an error for logs (bodies may quote the prompt).
fn error_kind(error: &LlmError) -> &'static str {
    match error {
        LlmError::Connect { .. } => "connect",
        LlmError::Timeout { .. } => "timeout",
        LlmError::Http { .. } => "http",
        LlmError::Authentication { .. } => "authentication",
        LlmError::QuotaExhausted { .. } => "quota_exhausted",
        LlmError::RetryAfterTooLong { .. } => "retry_after_too_long",
        LlmError::ContextLengthExceeded { .. } => "context_length_exceeded",
        LlmError::ContentFilter => "content_filter",
        LlmError::Truncated { .. } => "truncated",
        LlmError::EmptyCompletion { .. } => "empty_completion",
        LlmError::InvalidResponse { .. } => "invalid_response",
        LlmError::LimitExceeded { .. } => "limit_exceeded",
        LlmError::Config { .. } => "config",
        LlmError::Cancelled => "cancelled",
        _ => "other",
    }
}

#[async_trait]
impl LanguageModel for OpenAiClient {
    fn model_name(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        let span = tracing::info_span!(
            spans::LLM_CALL,
            { spans::OPERATION_NAME } = "chat",
            { spans::PROVIDER_NAME } = "openai",
            { spans::REQUEST_MODEL } = codec::request_model(&request, &self.model),
            { spans::RESPONSE_MODEL } = tracing::field::Empty,
            { spans::INPUT_TOKENS } = tracing::field::Empty,
            { spans::OUTPUT_TOKENS } = tracing::field::Empty,
            { spans::FINISH_REASONS } = tracing::field::Empty,
            { spans::RETRY_ATTEMPT } = tracing::field::Empty,
        );
        let result = self.call(&request).instrument(span.clone()).await;
        match &result {
            Ok(response) => {
                span.record(spans::RESPONSE_MODEL, response.model.as_str());
                span.record(spans::INPUT_TOKENS, response.usage.input_tokens);
                span.record(spans::OUTPUT_TOKENS, response.usage.output_tokens);
                span.record(
                    spans::FINISH_REASONS,
                    tracing::field::debug(&response.finish_reason),
                );
            }
            Err(error) => {
                let _entered = span.enter();
                let status = match error {
                    LlmError::Http { status, .. } | LlmError::Authentication { status, .. } => {
                        Some(*status)
                    }
                    _ => None,
                };
                tracing::warn!(error.kind = error_kind(error), status, "llm call failed");
            }
        }
        result.map_err(|e| self.scrub_error(e))
    }
}
