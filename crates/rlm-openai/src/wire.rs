//! The OpenAI codecs: [`OpenAi`] (any OpenAI-compatible chat-completions server) and
//! [`AzureOpenAi`] (an Azure OpenAI deployment), their [`WireFormat`] impls (endpoint, key
//! header, variables), the client aliases and the builder extension traits for their options.

use std::time::Duration;

use rlm_core::{CompletionRequest, CompletionResponse, LlmError};
use rlm_http::header::{AUTHORIZATION, HeaderName};
use rlm_http::{HttpModel, HttpModelBuilder, Url, WireFormat, codec};

use crate::codec::{MaxTokensField, decode_response, encode_request};
use crate::error_body::classify_status;

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
/// use rlm_openai::{AzureOpenAiBuilderExt, AzureOpenAiClient};
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

/// The settings both OpenAI codecs carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Options {
    max_tokens_field: MaxTokensField,
    /// The `api-version` set in code.
    api_version: Option<String>,
    /// The `api-version` read from `OPENAI_API_VERSION`.
    env_api_version: Option<String>,
}

impl Options {
    /// The `api-version` set in code, else the one from the environment.
    fn api_version(&self) -> Option<String> {
        self.api_version
            .clone()
            .or_else(|| self.env_api_version.clone())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Adds the `api-version` query to `base`, when there is one.
    fn add_api_version(&self, base: &mut Url) {
        if let Some(version) = self.api_version() {
            base.query_pairs_mut().append_pair("api-version", &version);
        }
    }

    fn encode(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, LlmError> {
        encode_request(request, model, self.max_tokens_field)
    }
}

/// The OpenAI chat-completions codec (any OpenAI-compatible server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenAi {
    options: Options,
}

impl OpenAi {
    /// Which field carries `max_tokens` (default [`MaxTokensField::MaxTokens`]).
    pub fn max_tokens_field(&self) -> MaxTokensField {
        self.options.max_tokens_field
    }

    /// The `api-version` query parameter sent with every request, if any (some gateways want
    /// one): set in code, else `OPENAI_API_VERSION`.
    pub fn api_version(&self) -> Option<String> {
        self.options.api_version()
    }
}

impl WireFormat for OpenAi {
    fn provider_name(&self) -> &'static str {
        "openai"
    }

    fn api_key_env(&self) -> &'static str {
        API_KEY_ENV
    }

    fn base_url_env(&self) -> &'static str {
        BASE_URL_ENV
    }

    fn default_base_url(&self) -> Option<&'static str> {
        Some(DEFAULT_BASE_URL)
    }

    fn user_agent(&self) -> &'static str {
        USER_AGENT
    }

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

    /// `{base}/chat/completions`, whatever the model (it goes in the body).
    fn endpoint(&self, base: &Url, _model: &str) -> Result<Url, LlmError> {
        codec::join_path(base, ["chat", "completions"])
    }

    fn auth_header(&self, key: &str) -> (HeaderName, String) {
        (AUTHORIZATION, format!("Bearer {key}"))
    }

    fn encode(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, LlmError> {
        self.options.encode(request, model)
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
    options: Options,
}

impl AzureOpenAi {
    /// Which field carries `max_tokens` (default [`MaxTokensField::MaxTokens`]).
    pub fn max_tokens_field(&self) -> MaxTokensField {
        self.options.max_tokens_field
    }

    /// The `api-version` (required): set in code, else `OPENAI_API_VERSION`.
    pub fn api_version(&self) -> Option<String> {
        self.options.api_version()
    }
}

impl WireFormat for AzureOpenAi {
    fn provider_name(&self) -> &'static str {
        "azure.ai.openai"
    }

    fn display_name(&self) -> &'static str {
        "Azure OpenAI"
    }

    fn api_key_env(&self) -> &'static str {
        AZURE_API_KEY_ENV
    }

    fn base_url_env(&self) -> &'static str {
        AZURE_ENDPOINT_ENV
    }

    /// None: each Azure resource has its own endpoint.
    fn default_base_url(&self) -> Option<&'static str> {
        None
    }

    fn user_agent(&self) -> &'static str {
        USER_AGENT
    }

    fn read_env(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        self.options.env_api_version = codec::env_value(lookup, API_VERSION_ENV);
    }

    fn prepare(&self, _model: &str, base: &mut Url) -> Result<(), LlmError> {
        if self.options.api_version().is_none() {
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
        let has_auth_header = extra_headers.iter().any(|n| {
            n.eq_ignore_ascii_case("api-key") || n.eq_ignore_ascii_case("authorization")
        });
        (!has_auth_header).then(|| "Azure OpenAI".to_string())
    }

    /// `{endpoint}/openai/deployments/{model}/chat/completions`: the model names the deployment.
    fn endpoint(&self, base: &Url, model: &str) -> Result<Url, LlmError> {
        codec::join_path(
            base,
            ["openai", "deployments", model.trim(), "chat", "completions"],
        )
    }

    fn auth_header(&self, key: &str) -> (HeaderName, String) {
        (HeaderName::from_static("api-key"), key.to_string())
    }

    fn encode(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, LlmError> {
        self.options.encode(request, model)
    }

    fn decode(&self, body: &[u8], model: &str) -> Result<CompletionResponse, LlmError> {
        decode_response(body, model)
    }

    fn classify(&self, status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
        classify_status(status, body, retry_after)
    }
}

/// The options of an [`OpenAiClientBuilder`].
pub trait OpenAiBuilderExt {
    /// Which field carries `max_tokens` (default [`MaxTokensField::MaxTokens`]).
    fn max_tokens_field(self, field: MaxTokensField) -> Self;
    /// An `api-version` query parameter sent with every request (some gateways want one).
    fn api_version(self, version: impl Into<String>) -> Self;
}

impl OpenAiBuilderExt for OpenAiClientBuilder {
    fn max_tokens_field(mut self, field: MaxTokensField) -> Self {
        self.wire_mut().options.max_tokens_field = field;
        self
    }

    fn api_version(mut self, version: impl Into<String>) -> Self {
        self.wire_mut().options.api_version = Some(version.into());
        self
    }
}

/// The options of an [`AzureOpenAiClientBuilder`].
pub trait AzureOpenAiBuilderExt {
    /// Which field carries `max_tokens` (default [`MaxTokensField::MaxTokens`]).
    fn max_tokens_field(self, field: MaxTokensField) -> Self;
    /// The `api-version` query parameter Azure OpenAI requires (for example `2024-10-21`);
    /// wins over `OPENAI_API_VERSION`.
    fn api_version(self, version: impl Into<String>) -> Self;
}

impl AzureOpenAiBuilderExt for AzureOpenAiClientBuilder {
    fn max_tokens_field(mut self, field: MaxTokensField) -> Self {
        self.wire_mut().options.max_tokens_field = field;
        self
    }

    fn api_version(mut self, version: impl Into<String>) -> Self {
        self.wire_mut().options.api_version = Some(version.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use rlm_http::ApiKey;

    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn code_overrides_env_and_env_overrides_default() {
        let vars = [
            ("OPENAI_API_KEY", "sk-env"),
            ("OPENAI_BASE_URL", "http://env.local:1234/v1/"),
        ];
        let client = OpenAiClient::builder("m")
            .env_with(env(&vars))
            .build()
            .unwrap();
        assert_eq!(
            client.endpoint(),
            "http://env.local:1234/v1/chat/completions"
        );
        assert_eq!(client.api_key().map(ApiKey::expose_secret), Some("sk-env"));
        let client = OpenAiClient::builder("m")
            .base_url("http://code.local/api/v1")
            .api_key("sk-code")
            .env_with(env(&vars))
            .build()
            .unwrap();
        assert_eq!(
            client.endpoint(),
            "http://code.local/api/v1/chat/completions"
        );
        assert_eq!(client.api_key().map(ApiKey::expose_secret), Some("sk-code"));
    }

    #[test]
    fn key_is_required_only_for_api_openai_com() {
        let err = OpenAiClient::builder("m")
            .env_with(env(&[]))
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, LlmError::Config { message } if message.contains("OPENAI_API_KEY")),
            "{err}"
        );
        let err = OpenAiClient::builder("m")
            .api_key("  ")
            .base_url("https://api.openai.com/v1")
            .build();
        assert!(err.is_err());
        let local = OpenAiClient::builder("m")
            .base_url("http://127.0.0.1:11434/v1")
            .build()
            .unwrap();
        assert!(local.api_key().is_none());
    }

    #[test]
    fn invalid_settings_are_config_errors() {
        let cases = [
            OpenAiClient::builder("").base_url("http://x/v1"),
            OpenAiClient::builder("m").base_url("not a url"),
            OpenAiClient::builder("m").base_url("ftp://x/v1"),
            OpenAiClient::builder("m")
                .base_url("http://x/v1")
                .header("bad name", "v"),
            OpenAiClient::builder("m")
                .base_url("http://x/v1")
                .header("x-ok", "line\nbreak"),
            OpenAiClient::builder("m")
                .base_url("http://x/v1")
                .api_key("sk\nnewline"),
        ];
        for builder in cases {
            let shown = format!("{builder:?}");
            assert!(
                matches!(builder.build(), Err(LlmError::Config { .. })),
                "{shown}"
            );
        }
    }

    #[test]
    fn debug_hides_key_and_header_values() {
        let builder = OpenAiClient::builder("m")
            .api_key("sk-secret-1")
            .header("api-key", "gw-secret-2");
        let shown = format!("{builder:?}");
        assert!(
            !shown.contains("sk-secret-1") && !shown.contains("gw-secret-2"),
            "{shown}"
        );
        assert!(
            shown.contains("ApiKey(***)") && shown.contains("api-key"),
            "{shown}"
        );
    }
}
