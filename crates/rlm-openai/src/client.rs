//! The transport: one POST per attempt, the retry loop, the call deadline, key scrubbing and
//! tracing.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use reqwest::header::CONTENT_TYPE;
use rlm_core::{CompletionRequest, CompletionResponse, LanguageModel, LlmError};
use rlm_limits::RetryPolicy;
use rlm_limits::http_retry::{self, Attempt, AttemptFailure, Phase, SleepFn, TransportErrorKind};
use rlm_limits::redact::{ApiKey, Scrubber};
use tracing::Instrument;

use crate::codec::{self, MaxTokensField};
use crate::config::OpenAiClientBuilder;
use crate::error_body;

/// Largest response body read; a longer one fails with [`LlmError::InvalidResponse`].
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// What the builder hands over.
pub(crate) struct Parts {
    pub(crate) model: String,
    /// The base URL as configured (with its `api-version` query, if any).
    pub(crate) base: reqwest::Url,
    pub(crate) endpoint: reqwest::Url,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) extra_header_names: Vec<String>,
    /// Values of extra headers, scrubbed from errors like the key.
    pub(crate) extra_secrets: Vec<String>,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_tokens_field: MaxTokensField,
    pub(crate) http: reqwest::Client,
    pub(crate) sleep: Option<SleepFn>,
    /// Azure OpenAI: the model names the deployment in the URL.
    pub(crate) azure: bool,
}

/// Sets the path of a base URL to the chat-completions endpoint: `{base}/chat/completions`, or
/// `{base}/openai/deployments/{deployment}/chat/completions` for Azure OpenAI.
pub(crate) fn set_path(
    url: &mut reqwest::Url,
    azure_deployment: Option<&str>,
) -> Result<(), LlmError> {
    let mut segments = url.path_segments_mut().map_err(|()| LlmError::Config {
        message: "base URL cannot take a path".into(),
    })?;
    segments.pop_if_empty();
    if let Some(deployment) = azure_deployment {
        segments.extend(["openai", "deployments", deployment]);
    }
    segments.extend(["chat", "completions"]);
    Ok(())
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
    base: reqwest::Url,
    endpoint: reqwest::Url,
    /// The endpoint as shown in errors: no user info, no query.
    shown_endpoint: String,
    api_key: Option<ApiKey>,
    extra_header_names: Vec<String>,
    retry: RetryPolicy,
    max_tokens_field: MaxTokensField,
    http: reqwest::Client,
    sleep: Option<SleepFn>,
    scrubber: Scrubber,
    azure: bool,
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
            .field("azure", &self.azure)
            .finish()
    }
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

    /// A builder for an Azure OpenAI deployment: requests go to
    /// `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version={api_version}`
    /// with the key in an `api-key` header (set it with `api_key(..)`, or `env()` reads
    /// `AZURE_OPENAI_API_KEY`). A request naming another model goes to the deployment of that
    /// name.
    ///
    /// ```
    /// use rlm_openai::OpenAiClient;
    ///
    /// let client = OpenAiClient::azure("https://my-resource.openai.azure.com", "gpt-4o-prod", "2024-10-21")
    ///     .api_key("azure-key")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(
    ///     client.endpoint(),
    ///     "https://my-resource.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions"
    /// );
    /// ```
    pub fn azure(
        endpoint: impl Into<String>,
        deployment: impl Into<String>,
        api_version: impl Into<String>,
    ) -> OpenAiClientBuilder {
        OpenAiClientBuilder::new_azure(deployment)
            .base_url(endpoint)
            .api_version(api_version)
    }

    /// A builder for an Azure OpenAI `deployment` with nothing else set; `env()` reads
    /// `AZURE_OPENAI_ENDPOINT`, `AZURE_OPENAI_API_KEY` and `OPENAI_API_VERSION`.
    pub fn azure_builder(deployment: impl Into<String>) -> OpenAiClientBuilder {
        OpenAiClientBuilder::new_azure(deployment)
    }

    /// An Azure OpenAI client for `deployment` configured from `AZURE_OPENAI_ENDPOINT`,
    /// `AZURE_OPENAI_API_KEY` and `OPENAI_API_VERSION`.
    pub fn azure_from_env(deployment: impl Into<String>) -> Result<Self, LlmError> {
        Self::azure_builder(deployment).env().build()
    }

    pub(crate) fn from_parts(parts: Parts) -> Self {
        let key = parts.api_key.as_ref().map(ApiKey::expose_secret);
        let scrubber = Scrubber::new(
            key.into_iter()
                .chain(parts.extra_secrets.iter().map(String::as_str)),
        );
        Self {
            model: parts.model,
            base: parts.base,
            shown_endpoint: shown(&parts.endpoint),
            endpoint: parts.endpoint,
            api_key: parts.api_key,
            extra_header_names: parts.extra_header_names,
            retry: parts.retry,
            max_tokens_field: parts.max_tokens_field,
            http: parts.http,
            sleep: parts.sleep,
            scrubber,
            azure: parts.azure,
        }
    }

    /// The URL requests go to (`{base_url}/chat/completions`; for Azure
    /// `{endpoint}/openai/deployments/{deployment}/chat/completions`), as shown in errors: no
    /// query, no user info.
    pub fn endpoint(&self) -> &str {
        &self.shown_endpoint
    }

    /// Whether this client speaks to an Azure OpenAI deployment.
    pub fn is_azure(&self) -> bool {
        self.azure
    }

    /// Where a request for `model` goes: the configured endpoint, or for Azure the deployment
    /// the request names.
    fn target(&self, model: &str) -> Result<(reqwest::Url, String), LlmError> {
        if !self.azure || model == self.model {
            return Ok((self.endpoint.clone(), self.shown_endpoint.clone()));
        }
        let mut url = self.base.clone();
        set_path(&mut url, Some(model))?;
        let shown = shown(&url);
        Ok((url, shown))
    }

    /// The configured key, if any.
    pub fn api_key(&self) -> Option<&ApiKey> {
        self.api_key.as_ref()
    }

    /// The retry policy in force (with the builder's `timeout` applied).
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    fn transport_failure(
        &self,
        error: reqwest::Error,
        phase: Phase,
        shown_url: &str,
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
            .scrub_owned(http_retry::error_chain(&error.without_url()));
        http_retry::transport_failure(kind, phase, shown_url, message, attempt.start.elapsed())
    }

    /// Reads the body, refusing more than [`MAX_RESPONSE_BYTES`].
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        shown_url: &str,
        attempt: Attempt,
    ) -> Result<Vec<u8>, AttemptFailure> {
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_failure(e, Phase::Body, shown_url, attempt))?
        {
            if body.len().saturating_add(chunk.len()) > MAX_RESPONSE_BYTES {
                return Err(AttemptFailure::fatal(LlmError::InvalidResponse {
                    reason: format!("response body larger than {MAX_RESPONSE_BYTES} bytes"),
                    body: error_body::snippet_bytes(&self.scrubber.scrub_bytes(body)),
                }));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// One HTTP exchange.
    async fn attempt(
        &self,
        (url, shown_url): &(reqwest::Url, String),
        body: &[u8],
        model: &str,
        attempt: Attempt,
    ) -> Result<CompletionResponse, AttemptFailure> {
        let mut request = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(left) = attempt.time_left() {
            request = request.timeout(left);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_failure(e, Phase::Send, shown_url, attempt))?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        let retry_after = http_retry::retry_after(header, SystemTime::now());
        let should_retry = http_retry::should_retry(header("x-should-retry"));
        let raw = self
            .scrubber
            .scrub_bytes(self.read_body(response, shown_url, attempt).await?);
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
        let body = codec::encode_request(request, &self.model, self.max_tokens_field)?;
        let target = self.target(model)?;
        http_retry::call_with_retries(&self.retry, self.sleep.as_ref(), &target.1, |attempt| {
            self.attempt(&target, &body, model, attempt)
        })
        .await
    }
}

#[async_trait]
impl LanguageModel for OpenAiClient {
    fn model_name(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        let provider = if self.azure {
            "azure.ai.openai"
        } else {
            "openai"
        };
        let span =
            rlm_limits::llm_call_span!(provider, codec::request_model(&request, &self.model));
        let result = self.call(&request).instrument(span.clone()).await;
        http_retry::record_call(&span, &result);
        result.map_err(|e| self.scrubber.scrub_error(e))
    }
}
