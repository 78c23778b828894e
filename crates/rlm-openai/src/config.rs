//! The client builder: endpoint, key, retry policy, timeouts and extra headers (and the Azure
//! OpenAI deployment settings), validated once in [`OpenAiClientBuilder::build`].

use std::fmt;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use rlm_core::LlmError;
use rlm_limits::ProviderSettings;
use rlm_limits::provider::config_error as config;
pub use rlm_limits::redact::ApiKey;

use crate::client::OpenAiClient;
use crate::codec::MaxTokensField;

/// The endpoint used when neither code nor `OPENAI_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Environment variable holding the API key.
pub const API_KEY_ENV: &str = "OPENAI_API_KEY";
/// Environment variable holding the base URL.
pub const BASE_URL_ENV: &str = "OPENAI_BASE_URL";
/// Default time allowed to open a connection (as the official SDKs).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Environment variable holding the Azure OpenAI key (sent as `api-key`).
pub const AZURE_API_KEY_ENV: &str = "AZURE_OPENAI_API_KEY";
/// Environment variable holding the Azure OpenAI endpoint (`https://RESOURCE.openai.azure.com`).
pub const AZURE_ENDPOINT_ENV: &str = "AZURE_OPENAI_ENDPOINT";
/// Environment variable holding the Azure OpenAI `api-version`.
pub const API_VERSION_ENV: &str = "OPENAI_API_VERSION";

const OPENAI_HOST: &str = "api.openai.com";

/// Builds an [`OpenAiClient`]. Values set in code win over the environment, whatever the order
/// of the calls.
///
/// ```
/// use std::time::Duration;
/// use rlm_openai::{MaxTokensField, OpenAiClient};
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
#[derive(Clone)]
pub struct OpenAiClientBuilder {
    model: String,
    settings: ProviderSettings,
    max_tokens_field: MaxTokensField,
    /// Azure OpenAI: the model is a deployment name, the key goes in `api-key`.
    azure: bool,
    api_version: Option<String>,
    env_api_version: Option<String>,
}

impl fmt::Debug for OpenAiClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiClientBuilder")
            .field("model", &self.model)
            .field("settings", &self.settings)
            .field("max_tokens_field", &self.max_tokens_field)
            .field("azure", &self.azure)
            .field("api_version", &self.api_version)
            .finish()
    }
}

impl OpenAiClientBuilder {
    pub(crate) fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            settings: ProviderSettings::new(DEFAULT_CONNECT_TIMEOUT),
            max_tokens_field: MaxTokensField::default(),
            azure: false,
            api_version: None,
            env_api_version: None,
        }
    }

    /// A builder for an Azure OpenAI `deployment` (see [`OpenAiClient::azure`]).
    pub(crate) fn new_azure(deployment: impl Into<String>) -> Self {
        Self {
            azure: true,
            ..Self::new(deployment)
        }
    }

    /// The `api-version` query parameter, required by Azure OpenAI (for example
    /// `2024-10-21`); sent with every request.
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = Some(version.into());
        self
    }

    rlm_limits::provider_setters! {
        /// The OpenAI-compatible base URL, such as `https://openrouter.ai/api/v1` or
        /// `http://localhost:8000/v1`; requests go to `{base_url}/chat/completions`. For Azure
        /// OpenAI this is the resource endpoint (`https://RESOURCE.openai.azure.com`); requests go
        /// to `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`.
        base_url;
        /// The API key, sent as `Authorization: Bearer <key>` (as `api-key: <key>` to Azure).
        api_key;
        /// An extra header sent with every request (OpenRouter's `HTTP-Referer`, a gateway's
        /// `api-key`, ...). Values are treated as sensitive and never printed.
        header;
    }

    /// Reads `OPENAI_API_KEY` and `OPENAI_BASE_URL` from the process environment, as fallbacks
    /// for values not set in code. For Azure: `AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_ENDPOINT`
    /// and `OPENAI_API_VERSION`.
    pub fn env(self) -> Self {
        self.env_with(|name| std::env::var(name).ok())
    }

    /// Like [`OpenAiClientBuilder::env`] with another source of variables (a map in tests, a
    /// config file): `lookup(name)` returns the value of `name`. Empty values count as unset.
    pub fn env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let (key_var, url_var) = if self.azure {
            (AZURE_API_KEY_ENV, AZURE_ENDPOINT_ENV)
        } else {
            (API_KEY_ENV, BASE_URL_ENV)
        };
        self.settings.read_env(&lookup, key_var, url_var);
        self.env_api_version = ProviderSettings::env_value(&lookup, API_VERSION_ENV);
        self
    }

    /// Which field carries `max_tokens` (default [`MaxTokensField::MaxTokens`]).
    pub fn max_tokens_field(mut self, field: MaxTokensField) -> Self {
        self.max_tokens_field = field;
        self
    }

    /// Validates the settings and builds the client.
    ///
    /// Fails with [`LlmError::Config`] when the model name is empty, the base URL is not an
    /// `http`/`https` URL, a header is invalid, or the endpoint is `api.openai.com` and no key was
    /// given (set `OPENAI_API_KEY`). Other endpoints may go without a key (Ollama, vLLM, ...).
    /// Azure needs an endpoint (`AZURE_OPENAI_ENDPOINT`), an `api-version`
    /// (`OPENAI_API_VERSION`) and a key (`AZURE_OPENAI_API_KEY`, or your own `api-key` or
    /// `Authorization` header).
    pub fn build(self) -> Result<OpenAiClient, LlmError> {
        if self.model.trim().is_empty() {
            return Err(config("the model name is empty"));
        }
        let (url_var, key_var) = if self.azure {
            (AZURE_ENDPOINT_ENV, AZURE_API_KEY_ENV)
        } else {
            (BASE_URL_ENV, API_KEY_ENV)
        };
        let base = match self.settings.chosen_base_url() {
            Some(base) => base.to_string(),
            None if self.azure => {
                return Err(config(format!(
                    "no Azure OpenAI endpoint: set {AZURE_ENDPOINT_ENV} or pass one with base_url(..)"
                )));
            }
            None => DEFAULT_BASE_URL.to_string(),
        };
        let mut endpoint = reqwest::Url::parse(base.trim())
            .map_err(|e| config(format!("invalid base URL (set {url_var} or base_url): {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.cannot_be_a_base() {
            return Err(config(format!(
                "base URL must be http or https, got scheme {:?}",
                endpoint.scheme()
            )));
        }
        let api_version = self
            .api_version
            .or(self.env_api_version)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        if self.azure && api_version.is_none() {
            return Err(config(format!(
                "no Azure OpenAI api-version: set {API_VERSION_ENV} (for example 2024-10-21) or pass one with api_version(..)"
            )));
        }
        if let Some(version) = &api_version {
            endpoint
                .query_pairs_mut()
                .append_pair("api-version", version);
        }
        let base = endpoint.clone();
        let azure_deployment = self.azure.then(|| self.model.trim().to_string());
        crate::client::set_path(&mut endpoint, azure_deployment.as_deref())?;
        let api_key = self.settings.chosen_api_key();
        let has_auth_header = self.settings.headers.iter().any(|(n, _)| {
            let n = n.trim();
            n.eq_ignore_ascii_case("api-key") || n.eq_ignore_ascii_case("authorization")
        });
        if api_key.is_none() && self.azure && !has_auth_header {
            return Err(config(format!(
                "no API key for Azure OpenAI: set {key_var} or pass one with api_key(..)"
            )));
        }
        if api_key.is_none() && endpoint.host_str() == Some(OPENAI_HOST) {
            return Err(config(format!(
                "no API key for {OPENAI_HOST}: set {key_var} or pass one with api_key(..)"
            )));
        }

        let mut headers = HeaderMap::new();
        if let Some(key) = &api_key {
            let (name, text) = if self.azure {
                (
                    HeaderName::from_static("api-key"),
                    key.expose_secret().to_string(),
                )
            } else {
                (AUTHORIZATION, format!("Bearer {}", key.expose_secret()))
            };
            let mut value = HeaderValue::from_str(&text).map_err(|_| {
                config("the API key contains characters not allowed in an HTTP header")
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        for (name, value) in &self.settings.headers {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| config(format!("invalid header name {name:?}")))?;
            let mut value = HeaderValue::from_str(value.trim())
                .map_err(|_| config(format!("invalid value for header {name}")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(self.settings.connect_timeout)
            // Small JSON requests must not wait for the peer's delayed ACK.
            .tcp_nodelay(true)
            .user_agent(concat!("rlm-openai/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(format!("could not build the HTTP client: {e}")))?;

        let retry = self.settings.effective_retry();
        let (extra_header_names, extra_secrets) = self.settings.header_names_and_secrets();
        Ok(OpenAiClient::from_parts(crate::client::Parts {
            model: self.model,
            base,
            endpoint,
            api_key,
            extra_header_names,
            extra_secrets,
            retry,
            max_tokens_field: self.max_tokens_field,
            http,
            sleep: self.settings.sleep,
            azure: self.azure,
        }))
    }
}

#[cfg(test)]
mod tests {
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
