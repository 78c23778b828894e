//! The OpenAI codecs: [`OpenAi`] (any OpenAI-compatible chat-completions server) and
//! [`AzureOpenAi`] (an Azure OpenAI deployment), their [`WireFormat`] impls (endpoint, key
//! header, variables), the client aliases and the builder extension trait for their options.

use std::time::Duration;

use rlm_core::{CompletionRequest, CompletionResponse, LlmError};
use rlm_http::header::{AUTHORIZATION, HeaderName};
use rlm_http::sse::SseEvent;
use rlm_http::stream::StreamState;
use rlm_http::{HttpModel, HttpModelBuilder, Url, WireFormat, codec};

use crate::codec::{MaxTokensField, decode_response, encode_request, encode_stream_request};
use crate::error_body::classify_status;
use crate::stream::decode_event;

/// The endpoint used when neither code nor `OPENAI_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Environment variable holding the API key.
pub const API_KEY_ENV: &str = "OPENAI_API_KEY";
/// Environment variable holding the base URL.
pub const BASE_URL_ENV: &str = "OPENAI_BASE_URL";
/// Environment variable holding the Azure OpenAI key (sent as `api-key`).
pub const AZURE_API_KEY_ENV: &str = "AZURE_OPENAI_API_KEY";
/// Environment variable holding the Azure OpenAI endpoint (`https://RESOURCE.openai.azure.com`).
pub const AZURE_ENDPOINT_ENV: &str = "AZURE_OPENAI_ENDPOINT";
/// Environment variable holding the `api-version` (required by Azure OpenAI, sent by either
/// codec when set).
pub const API_VERSION_ENV: &str = "OPENAI_API_VERSION";

const OPENAI_HOST: &str = "api.openai.com";
const USER_AGENT: &str = concat!("rlm-openai/", env!("CARGO_PKG_VERSION"));

/// A client of an OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama,
/// OpenRouter, LM Studio, llama.cpp server, SGLang): `POST {base_url}/chat/completions` with
/// `Authorization: Bearer {key}`.
///
/// ```
/// use std::time::Duration;
/// use rlm_openai::{MaxTokensField, OpenAiBuilderExt, OpenAiClient};
///
/// let client = OpenAiClient::builder("llama3.1")
///     .base_url("http://localhost:11434/v1") // Ollama needs no key
///     .timeout(Duration::from_secs(120))
///     .max_tokens_field(MaxTokensField::MaxTokens)
///     .build()
///     .unwrap();
/// assert_eq!(client.endpoint(), "http://localhost:11434/v1/chat/completions");
///
/// let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-from-env".to_string());
/// let err = OpenAiClient::builder("gpt-4o-mini").build().unwrap_err();
/// assert!(err.to_string().contains("OPENAI_API_KEY"));
/// assert!(OpenAiClient::builder("gpt-4o-mini").env_with(env).build().is_ok());
/// ```
pub type OpenAiClient = HttpModel<OpenAi>;

/// The builder of an [`OpenAiClient`].
pub type OpenAiClientBuilder = HttpModelBuilder<OpenAi>;

/// A client of an Azure OpenAI deployment: requests go to
/// `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version={api_version}` with
/// the key in an `api-key` header; `env()` reads `AZURE_OPENAI_ENDPOINT`,
/// `AZURE_OPENAI_API_KEY` and `OPENAI_API_VERSION`. A request naming another model goes to the
/// deployment of that name.
///
/// ```
/// use rlm_openai::{AzureOpenAiClient, OpenAiBuilderExt};
///
/// let client = AzureOpenAiClient::builder("gpt-4o-prod")
///     .base_url("https://my-resource.openai.azure.com")
///     .api_version("2024-10-21")
///     .api_key("azure-key")
///     .build()
///     .unwrap();
/// assert_eq!(
///     client.endpoint(),
///     "https://my-resource.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions"
/// );
/// ```
pub type AzureOpenAiClient = HttpModel<AzureOpenAi>;

/// The builder of an [`AzureOpenAiClient`].
pub type AzureOpenAiClientBuilder = HttpModelBuilder<AzureOpenAi>;

/// The settings both OpenAI codecs carry, set through [`OpenAiBuilderExt`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenAiOptions {
    /// Which field carries `max_tokens` (default [`MaxTokensField::MaxTokens`]).
    pub max_tokens_field: MaxTokensField,
    /// The `api-version` set in code; wins over `OPENAI_API_VERSION`.
    pub api_version: Option<String>,
    /// The `api-version` read from `OPENAI_API_VERSION`.
    env_api_version: Option<String>,
}

impl OpenAiOptions {
    /// The `api-version` sent: the one set in code, else the one from `OPENAI_API_VERSION`.
    pub fn chosen_api_version(&self) -> Option<String> {
        self.api_version
            .clone()
            .or_else(|| self.env_api_version.clone())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Adds the `api-version` query to `base`, when there is one.
    fn add_api_version(&self, base: &mut Url) {
        if let Some(version) = self.chosen_api_version() {
            base.query_pairs_mut().append_pair("api-version", &version);
        }
    }

    fn encode(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, LlmError> {
        encode_request(request, model, self.max_tokens_field)
    }

    fn encode_stream(
        &self,
        request: &CompletionRequest,
        model: &str,
    ) -> Result<Option<Vec<u8>>, LlmError> {
        encode_stream_request(request, model, self.max_tokens_field).map(Some)
    }
}

/// The OpenAI chat-completions codec (any OpenAI-compatible server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenAi {
    options: OpenAiOptions,
}

impl OpenAi {
    /// The codec's options.
    pub fn options(&self) -> &OpenAiOptions {
        &self.options
    }
}

impl WireFormat for OpenAi {
    const PROVIDER_NAME: &'static str = "openai";
    const API_KEY_ENV: &'static str = API_KEY_ENV;
    const BASE_URL_ENV: &'static str = BASE_URL_ENV;
    const DEFAULT_BASE_URL: Option<&'static str> = Some(DEFAULT_BASE_URL);
    const USER_AGENT: &'static str = USER_AGENT;

    fn read_env(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        self.options.env_api_version = codec::env_value(lookup, API_VERSION_ENV);
    }

    fn prepare(&self, _model: &str, base: &mut Url) -> Result<(), LlmError> {
        self.options.add_api_version(base);
        Ok(())
    }

    /// `api.openai.com` needs a key; other servers (Ollama, vLLM, ...) may go without.
    fn key_required(&self, base: &Url, _extra_headers: &[&str]) -> Option<String> {
        (base.host_str() == Some(OPENAI_HOST)).then(|| OPENAI_HOST.to_string())
    }

    /// `{base}/chat/completions`, whatever the model (it goes in the body). The base is the
    /// API root with its version (`https://api.openai.com/v1`, `http://localhost:11434/v1`,
    /// `https://openrouter.ai/api/v1`); one with no path at all (`http://localhost:8000`) gets
    /// the `/v1` every OpenAI-compatible server serves, and a pasted whole endpoint
    /// (`.../v1/chat/completions`) is cut back to its base.
    fn endpoint(&self, base: &Url, _model: &str) -> Result<Url, LlmError> {
        let base = codec::strip_path_suffix(base, &["chat", "completions"])
            .unwrap_or_else(|| base.clone());
        if codec::path_is_empty(&base) {
            return codec::join_path(&base, ["v1", "chat", "completions"]);
        }
        codec::join_path(&base, ["chat", "completions"])
    }

    fn auth_header(&self, key: &str) -> (HeaderName, String) {
        (AUTHORIZATION, format!("Bearer {key}"))
    }

    fn encode(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, LlmError> {
        self.options.encode(request, model)
    }

    /// The body with `"stream": true` and `stream_options.include_usage`.
    fn encode_stream(
        &self,
        request: &CompletionRequest,
        model: &str,
    ) -> Result<Option<Vec<u8>>, LlmError> {
        self.options.encode_stream(request, model)
    }

    fn decode_event(
        &self,
        event: &SseEvent,
        state: &mut StreamState,
    ) -> Result<Option<String>, LlmError> {
        decode_event(event, state)
    }

    fn decode(&self, body: &[u8], model: &str) -> Result<CompletionResponse, LlmError> {
        decode_response(body, model)
    }

    fn classify(&self, status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
        classify_status(status, body, retry_after)
    }
}

/// The Azure OpenAI codec: the chat-completions wire format of [`OpenAi`], sent to a deployment
/// URL with `api-version` and the key in `api-key`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureOpenAi {
    options: OpenAiOptions,
}

impl AzureOpenAi {
    /// The codec's options (the `api-version` is required).
    pub fn options(&self) -> &OpenAiOptions {
        &self.options
    }
}

impl WireFormat for AzureOpenAi {
    const PROVIDER_NAME: &'static str = "azure.ai.openai";
    const DISPLAY_NAME: &'static str = "Azure OpenAI";
    const API_KEY_ENV: &'static str = AZURE_API_KEY_ENV;
    const BASE_URL_ENV: &'static str = AZURE_ENDPOINT_ENV;
    /// None: each Azure resource has its own endpoint.
    const DEFAULT_BASE_URL: Option<&'static str> = None;
    const USER_AGENT: &'static str = USER_AGENT;

    fn read_env(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        self.options.env_api_version = codec::env_value(lookup, API_VERSION_ENV);
    }

    fn prepare(&self, _model: &str, base: &mut Url) -> Result<(), LlmError> {
        if self.options.chosen_api_version().is_none() {
            return Err(codec::config_error(format!(
                "no Azure OpenAI api-version: set {API_VERSION_ENV} (for example 2024-10-21) or pass one with api_version(..)"
            )));
        }
        self.options.add_api_version(base);
        Ok(())
    }

    /// Always, unless an `api-key` or `Authorization` header (a gateway's, an Entra token) is
    /// set in its place.
    fn key_required(&self, _base: &Url, extra_headers: &[&str]) -> Option<String> {
        let has_auth_header = extra_headers
            .iter()
            .any(|n| n.eq_ignore_ascii_case("api-key") || n.eq_ignore_ascii_case("authorization"));
        (!has_auth_header).then(|| "Azure OpenAI".to_string())
    }

    /// `{endpoint}/openai/deployments/{model}/chat/completions`: the model names the deployment.
    /// The endpoint is the resource's root (`https://NAME.openai.azure.com`); a trailing
    /// `/openai` (as some portals show it) is dropped so it is not doubled.
    fn endpoint(&self, base: &Url, model: &str) -> Result<Url, LlmError> {
        let base = codec::strip_path_suffix(base, &["openai"]).unwrap_or_else(|| base.clone());
        codec::join_path(
            &base,
            ["openai", "deployments", model.trim(), "chat", "completions"],
        )
    }

    fn auth_header(&self, key: &str) -> (HeaderName, String) {
        (HeaderName::from_static("api-key"), key.to_string())
    }

    fn encode(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, LlmError> {
        self.options.encode(request, model)
    }

    /// The body with `"stream": true` and `stream_options.include_usage`.
    fn encode_stream(
        &self,
        request: &CompletionRequest,
        model: &str,
    ) -> Result<Option<Vec<u8>>, LlmError> {
        self.options.encode_stream(request, model)
    }

    fn decode_event(
        &self,
        event: &SseEvent,
        state: &mut StreamState,
    ) -> Result<Option<String>, LlmError> {
        decode_event(event, state)
    }

    fn decode(&self, body: &[u8], model: &str) -> Result<CompletionResponse, LlmError> {
        decode_response(body, model)
    }

    fn classify(&self, status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
        classify_status(status, body, retry_after)
    }
}

/// The options of an [`OpenAiClientBuilder`] and an [`AzureOpenAiClientBuilder`].
pub trait OpenAiBuilderExt: Sized {
    /// The codec's options.
    fn openai_options(&mut self) -> &mut OpenAiOptions;

    /// Which field carries `max_tokens` (default [`MaxTokensField::MaxTokens`]).
    fn max_tokens_field(mut self, field: MaxTokensField) -> Self {
        self.openai_options().max_tokens_field = field;
        self
    }

    /// The `api-version` query parameter: required by Azure OpenAI (for example
    /// `2024-10-21`), sent to any other server when set (some gateways want one). Wins over
    /// `OPENAI_API_VERSION`.
    fn api_version(mut self, version: impl Into<String>) -> Self {
        self.openai_options().api_version = Some(version.into());
        self
    }
}

impl OpenAiBuilderExt for OpenAiClientBuilder {
    fn openai_options(&mut self) -> &mut OpenAiOptions {
        &mut self.wire_mut().options
    }
}

impl OpenAiBuilderExt for AzureOpenAiClientBuilder {
    fn openai_options(&mut self) -> &mut OpenAiOptions {
        &mut self.wire_mut().options
    }
}
