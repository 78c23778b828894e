//! The Anthropic codec: [`Anthropic`], its [`WireFormat`] impl (endpoint, `x-api-key`,
//! `anthropic-version`, variables), the client alias and the builder option for the default
//! `max_tokens`.

use std::time::Duration;

use rlm_core::{CompletionRequest, CompletionResponse, LlmError};
use rlm_http::header::{HeaderName, HeaderValue};
use rlm_http::sse::SseEvent;
use rlm_http::stream::StreamState;
use rlm_http::{HttpModel, HttpModelBuilder, Url, WireFormat, codec};

use crate::codec::{DEFAULT_MAX_TOKENS, decode_response, encode_request, encode_stream_request};
use crate::error_body::classify_status;
use crate::stream;

/// The endpoint used when neither code nor `ANTHROPIC_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// Environment variable holding the API key.
pub const API_KEY_ENV: &str = "ANTHROPIC_API_KEY";
/// Environment variable holding the base URL.
pub const BASE_URL_ENV: &str = "ANTHROPIC_BASE_URL";
/// The `anthropic-version` header sent with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

const ANTHROPIC_HOST: &str = "api.anthropic.com";

/// A client of the Anthropic Messages API (Claude models): `POST {base_url}/v1/messages` with
/// `x-api-key` and `anthropic-version: 2023-06-01`. A spend-limit 429 is
/// [`LlmError::QuotaExhausted`] and is not retried; 529 `overloaded_error` is.
///
/// ```
/// use std::time::Duration;
/// use rlm_anthropic::{AnthropicBuilderExt, AnthropicClient};
///
/// let client = AnthropicClient::builder("claude-sonnet-4-5")
///     .api_key("sk-ant-example")
///     .max_tokens(4096)
///     .timeout(Duration::from_secs(120))
///     .build()
///     .unwrap();
/// assert_eq!(client.endpoint(), "https://api.anthropic.com/v1/messages");
///
/// let err = AnthropicClient::builder("claude-sonnet-4-5").build().unwrap_err();
/// assert!(err.to_string().contains("ANTHROPIC_API_KEY"));
/// let env = |name: &str| (name == "ANTHROPIC_API_KEY").then(|| "sk-ant-env".to_string());
/// assert!(AnthropicClient::builder("claude-sonnet-4-5").env_with(env).build().is_ok());
/// ```
pub type AnthropicClient = HttpModel<Anthropic>;

/// The builder of an [`AnthropicClient`].
pub type AnthropicClientBuilder = HttpModelBuilder<Anthropic>;

/// The Messages API codec. Carries the `max_tokens` sent when a request sets none (the API
/// requires a value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anthropic {
    max_tokens: u32,
}

impl Default for Anthropic {
    fn default() -> Self {
        Self {
            max_tokens: DEFAULT_MAX_TOKENS,
        }
    }
}

impl Anthropic {
    /// `max_tokens` sent when a request sets none (default 8192).
    pub fn max_tokens(&self) -> u32 {
        self.max_tokens
    }
}

impl WireFormat for Anthropic {
    const PROVIDER_NAME: &'static str = "anthropic";
    const API_KEY_ENV: &'static str = API_KEY_ENV;
    const BASE_URL_ENV: &'static str = BASE_URL_ENV;
    const DEFAULT_BASE_URL: Option<&'static str> = Some(DEFAULT_BASE_URL);
    const USER_AGENT: &'static str = concat!("rlm-anthropic/", env!("CARGO_PKG_VERSION"));

    fn prepare(&self, _model: &str, _base: &mut Url) -> Result<(), LlmError> {
        if self.max_tokens == 0 {
            return Err(codec::config_error("max_tokens must be at least 1"));
        }
        Ok(())
    }

    /// `api.anthropic.com` needs a key; a proxy or gateway may go without.
    fn key_required(&self, base: &Url, _extra_headers: &[&str]) -> Option<String> {
        (base.host_str() == Some(ANTHROPIC_HOST)).then(|| ANTHROPIC_HOST.to_string())
    }

    /// `{base}/v1/messages`, whatever the model (it goes in the body). The base is the API's
    /// root (`https://api.anthropic.com`); a base ending in `/v1` (the OpenAI habit) or in
    /// the whole `/v1/messages` endpoint is cut back to that root, so `/v1` is never doubled.
    fn endpoint(&self, base: &Url, _model: &str) -> Result<Url, LlmError> {
        let base = codec::strip_path_suffix(base, &["v1", "messages"])
            .or_else(|| codec::strip_path_suffix(base, &["v1"]))
            .unwrap_or_else(|| base.clone());
        codec::join_path(&base, ["v1", "messages"])
    }

    fn auth_header(&self, key: &str) -> (HeaderName, String) {
        (HeaderName::from_static("x-api-key"), key.to_string())
    }

    fn static_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        vec![(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        )]
    }

    fn encode(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, LlmError> {
        encode_request(request, model, self.max_tokens)
    }

    fn decode(&self, body: &[u8], model: &str) -> Result<CompletionResponse, LlmError> {
        decode_response(body, model)
    }

    /// The body with `"stream": true`.
    fn encode_stream(
        &self,
        request: &CompletionRequest,
        model: &str,
    ) -> Result<Option<Vec<u8>>, LlmError> {
        encode_stream_request(request, model, self.max_tokens).map(Some)
    }

    fn decode_event(
        &self,
        event: &SseEvent,
        state: &mut StreamState,
    ) -> Result<Option<String>, LlmError> {
        stream::decode_event(event, state)
    }

    /// The `stop_reason` rules of a plain response ([`crate::codec::finish_reason`]).
    fn finish_stream(
        &self,
        state: StreamState,
        model: &str,
    ) -> Result<CompletionResponse, LlmError> {
        rlm_http::stream::finish(state, model, crate::codec::finish_reason)
    }

    fn classify(&self, status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
        classify_status(status, body, retry_after)
    }
}

/// The option of an [`AnthropicClientBuilder`].
pub trait AnthropicBuilderExt {
    /// `max_tokens` of requests that set none (default 8192; the API requires a value).
    fn max_tokens(self, max_tokens: u32) -> Self;
}

impl AnthropicBuilderExt for AnthropicClientBuilder {
    fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.wire_mut().max_tokens = max_tokens;
        self
    }
}
