//! The transport: one POST per attempt, handed to the provider-neutral retry loop of
//! [`rlm_limits::http_retry`]; the per-model URL, key scrubbing and tracing.

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
use crate::config::GeminiClientBuilder;
use crate::error_body;

/// Largest response body read; a longer one fails with [`LlmError::InvalidResponse`].
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// What the builder hands over.
pub(crate) struct Parts {
    pub(crate) model: String,
    pub(crate) base: reqwest::Url,
    pub(crate) api_version: String,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) extra_header_names: Vec<String>,
    pub(crate) extra_secrets: Vec<String>,
    pub(crate) retry: RetryPolicy,
    pub(crate) http: reqwest::Client,
    pub(crate) sleep: Option<SleepFn>,
}

/// Where one call goes: the URL and the same URL as shown in errors (no query, no user info).
struct Target {
    url: reqwest::Url,
    shown: String,
}

/// A client of the Gemini API's `generateContent`, implementing [`LanguageModel`].
///
/// Each call is one non-streaming `POST {base_url}/v1beta/models/{model}:generateContent` with
/// the key in the `x-goog-api-key` header (never in the URL), retried per the [`RetryPolicy`]
/// (connect errors, dropped connections, 408, 409, 429 rate limits, 5xx; `Retry-After` or the
/// body's `RetryInfo.retryDelay` honoured up to `max_retry_after`), all within one deadline
/// (`call_timeout`). A 429 for a daily quota or depleted credits is
/// [`LlmError::QuotaExhausted`] and is not retried. A request naming a model goes to that
/// model's URL. The key never appears in errors, `Debug` output or traces.
///
/// ```no_run
/// use rlm_core::{CompletionRequest, LanguageModel, Message};
/// use rlm_gemini::GeminiClient;
///
/// # async fn demo() -> Result<(), rlm_core::LlmError> {
/// let client = GeminiClient::from_env("gemini-2.5-flash")?; // GEMINI_API_KEY
/// let reply = client.complete(CompletionRequest::new(vec![Message::user("Say hi")])).await?;
/// println!("{} ({} tokens in)", reply.text, reply.usage.input_tokens);
/// # Ok(()) }
/// ```
///
/// Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct GeminiClient {
    model: String,
    base: reqwest::Url,
    api_version: String,
    /// The default model's endpoint as shown in errors.
    shown_endpoint: String,
    api_key: Option<ApiKey>,
    extra_header_names: Vec<String>,
    retry: RetryPolicy,
    http: reqwest::Client,
    sleep: Option<SleepFn>,
    scrubber: Scrubber,
}

impl fmt::Debug for GeminiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiClient")
            .field("model", &self.model)
            .field("endpoint", &self.shown_endpoint)
            .field("api_key", &self.api_key)
            .field("headers", &self.extra_header_names)
            .field("retry", &self.retry)
            .finish()
    }
}

/// A URL as shown in errors: no user info, no query, no fragment.
fn shown(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    // Only fails for URLs that cannot have user info, which have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

impl GeminiClient {
    /// A builder for `model` with nothing else set (the environment is not read unless you call
    /// [`GeminiClientBuilder::env`]).
    pub fn builder(model: impl Into<String>) -> GeminiClientBuilder {
        GeminiClientBuilder::new(model)
    }

    /// A client for `model` configured from `GEMINI_API_KEY` and `GEMINI_BASE_URL` (default
    /// `https://generativelanguage.googleapis.com`).
    pub fn from_env(model: impl Into<String>) -> Result<Self, LlmError> {
        Self::builder(model).env().build()
    }

    /// Like [`GeminiClient::from_env`], reading variables through `lookup`.
    pub fn from_env_with(
        model: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LlmError> {
        Self::builder(model).env_with(lookup).build()
    }

    pub(crate) fn from_parts(parts: Parts) -> Result<Self, LlmError> {
        let key = parts.api_key.as_ref().map(ApiKey::expose_secret);
        let scrubber = Scrubber::new(
            key.into_iter()
                .chain(parts.extra_secrets.iter().map(String::as_str)),
        );
        let mut client = Self {
            model: parts.model,
            base: parts.base,
            api_version: parts.api_version,
            shown_endpoint: String::new(),
            api_key: parts.api_key,
            extra_header_names: parts.extra_header_names,
            retry: parts.retry,
            http: parts.http,
            sleep: parts.sleep,
            scrubber,
        };
        client.shown_endpoint = client.target(&client.model)?.shown;
        Ok(client)
    }

    /// The URL requests for the default model go to
    /// (`{base_url}/v1beta/models/{model}:generateContent`), as shown in errors.
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

    /// The URL of `model`'s `generateContent`. A bare name goes under `models/`; a name with a
    /// collection (`models/gemini-2.5-flash`, `tunedModels/my-model`) is used as given.
    fn target(&self, model: &str) -> Result<Target, LlmError> {
        let model = model.trim().trim_matches('/');
        let names: Vec<&str> = if model.contains('/') {
            model.split('/').collect()
        } else {
            vec!["models", model]
        };
        let Some((last, collection)) = names.split_last() else {
            return Err(LlmError::Config {
                message: "the model name is empty".into(),
            });
        };
        if last.is_empty() || collection.iter().any(|s| s.is_empty()) {
            return Err(LlmError::Config {
                message: format!("invalid Gemini model name {model:?}"),
            });
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| LlmError::Config {
                message: "base URL cannot take a path".into(),
            })?
            .pop_if_empty()
            .push(&self.api_version)
            .extend(collection)
            .push(&format!("{last}:generateContent"));
        let shown = shown(&url);
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
            TransportErrorKind::Timeout
        } else {
            TransportErrorKind::Other
        };
        let message = self
            .scrubber
            .scrub_owned(http_retry::error_chain(&error.without_url()));
        http_retry::transport_failure(kind, phase, &target.shown, message, attempt.start.elapsed())
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

    /// One HTTP exchange.
    async fn attempt(
        &self,
        target: &Target,
        body: &[u8],
        model: &str,
        attempt: Attempt,
    ) -> Result<CompletionResponse, AttemptFailure> {
        let mut request = self
            .http
            .post(target.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(left) = attempt.time_left() {
            request = request.timeout(left);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_failure(e, Phase::Send, target, attempt))?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        let retry_after = http_retry::retry_after(header, SystemTime::now());
        let should_retry = http_retry::should_retry(header("x-should-retry"));
        let raw = self
            .scrubber
            .scrub_bytes(self.read_body(response, target, attempt).await?);
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
        let body = codec::encode_request(request)?;
        let target = self.target(model)?;
        http_retry::call_with_retries(&self.retry, self.sleep.as_ref(), &target.shown, |attempt| {
            self.attempt(&target, &body, model, attempt)
        })
        .await
    }
}

#[async_trait]
impl LanguageModel for GeminiClient {
    fn model_name(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        let span =
            rlm_limits::llm_call_span!("gcp.gemini", codec::request_model(&request, &self.model));
        let result = self.call(&request).instrument(span.clone()).await;
        http_retry::record_call(&span, &result);
        result.map_err(|e| self.scrubber.scrub_error(e))
    }
}
