//! The client builder: endpoint, key, `max_tokens` default, retry policy, timeouts and extra
//! headers, validated once in [`AnthropicClientBuilder::build`].

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rlm_core::LlmError;
use rlm_limits::ProviderSettings;
use rlm_limits::provider::config_error as config;
pub use rlm_limits::redact::ApiKey;

use crate::client::{AnthropicClient, Parts};
use crate::codec::DEFAULT_MAX_TOKENS;

/// The endpoint used when neither code nor `ANTHROPIC_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// Environment variable holding the API key.
pub const API_KEY_ENV: &str = "ANTHROPIC_API_KEY";
/// Environment variable holding the base URL.
pub const BASE_URL_ENV: &str = "ANTHROPIC_BASE_URL";
/// The `anthropic-version` header sent with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Default time allowed to open a connection (as the official SDK).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const ANTHROPIC_HOST: &str = "api.anthropic.com";

/// Builds an [`AnthropicClient`]. Values set in code win over the environment, whatever the
/// order of the calls.
///
/// ```
/// use std::time::Duration;
/// use rlm_anthropic::AnthropicClient;
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
#[derive(Clone)]
pub struct AnthropicClientBuilder {
    model: String,
    settings: ProviderSettings,
    max_tokens: u32,
}

impl fmt::Debug for AnthropicClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicClientBuilder")
            .field("model", &self.model)
            .field("settings", &self.settings)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

impl AnthropicClientBuilder {
    pub(crate) fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            settings: ProviderSettings::new(DEFAULT_CONNECT_TIMEOUT),
            max_tokens: DEFAULT_MAX_TOKENS,
        }
    }

    rlm_limits::provider_setters! {
        /// The base URL (default `https://api.anthropic.com`); requests go to
        /// `{base_url}/v1/messages`.
        base_url;
        /// The API key, sent as `x-api-key`.
        api_key;
        /// An extra header sent with every request (`anthropic-beta`, a gateway's token, ...).
        /// Values are treated as sensitive: never printed, scrubbed from errors.
        header;
    }

    /// Reads `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL` from the process environment, as
    /// fallbacks for values not set in code.
    pub fn env(self) -> Self {
        self.env_with(|name| std::env::var(name).ok())
    }

    /// Like [`AnthropicClientBuilder::env`] with another source of variables: `lookup(name)`
    /// returns the value of `name`. Empty values count as unset.
    pub fn env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        self.settings.read_env(&lookup, API_KEY_ENV, BASE_URL_ENV);
        self
    }

    /// `max_tokens` of requests that set none (default 8192; the API requires a value).
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// Validates the settings and builds the client.
    ///
    /// Fails with [`LlmError::Config`] when the model name is empty, `max_tokens` is 0, the base
    /// URL is not an `http`/`https` URL, a header is invalid, or the endpoint is
    /// `api.anthropic.com` and no key was given (set `ANTHROPIC_API_KEY`). Other endpoints (a
    /// proxy, a gateway) may go without a key.
    pub fn build(self) -> Result<AnthropicClient, LlmError> {
        if self.model.trim().is_empty() {
            return Err(config("the model name is empty"));
        }
        if self.max_tokens == 0 {
            return Err(config("max_tokens must be at least 1"));
        }
        let base = self
            .settings
            .chosen_base_url()
            .unwrap_or(DEFAULT_BASE_URL)
            .to_string();
        let mut endpoint = reqwest::Url::parse(base.trim()).map_err(|e| {
            config(format!(
                "invalid base URL (set {BASE_URL_ENV} or base_url): {e}"
            ))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.cannot_be_a_base() {
            return Err(config(format!(
                "base URL must be http or https, got scheme {:?}",
                endpoint.scheme()
            )));
        }
        endpoint
            .path_segments_mut()
            .map_err(|()| config("base URL cannot take a path"))?
            .pop_if_empty()
            .extend(["v1", "messages"]);
        let api_key = self.settings.chosen_api_key();
        if api_key.is_none() && endpoint.host_str() == Some(ANTHROPIC_HOST) {
            return Err(config(format!(
                "no API key for {ANTHROPIC_HOST}: set {API_KEY_ENV} or pass one with api_key(..)"
            )));
        }

        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        if let Some(key) = &api_key {
            let mut value = HeaderValue::from_str(key.expose_secret()).map_err(|_| {
                config("the API key contains characters not allowed in an HTTP header")
            })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-api-key"), value);
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
            .user_agent(concat!("rlm-anthropic/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(format!("could not build the HTTP client: {e}")))?;

        let retry = self.settings.effective_retry();
        let (extra_header_names, extra_secrets) = self.settings.header_names_and_secrets();
        Ok(AnthropicClient::from_parts(Parts {
            model: self.model,
            endpoint,
            api_key,
            extra_header_names,
            extra_secrets,
            retry,
            max_tokens: self.max_tokens,
            http,
            sleep: self.settings.sleep,
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
            ("ANTHROPIC_API_KEY", "sk-ant-env"),
            ("ANTHROPIC_BASE_URL", "http://env.local:1234/"),
        ];
        let client = AnthropicClient::builder("m")
            .env_with(env(&vars))
            .build()
            .unwrap();
        assert_eq!(client.endpoint(), "http://env.local:1234/v1/messages");
        assert_eq!(
            client.api_key().map(ApiKey::expose_secret),
            Some("sk-ant-env")
        );
        let client = AnthropicClient::builder("m")
            .base_url("http://code.local/proxy")
            .api_key("sk-ant-code")
            .env_with(env(&vars))
            .build()
            .unwrap();
        assert_eq!(client.endpoint(), "http://code.local/proxy/v1/messages");
        assert_eq!(
            client.api_key().map(ApiKey::expose_secret),
            Some("sk-ant-code")
        );
    }

    #[test]
    fn invalid_settings_are_config_errors() {
        let cases = [
            AnthropicClient::builder("").base_url("http://x"),
            AnthropicClient::builder("m").base_url("not a url"),
            AnthropicClient::builder("m").base_url("ftp://x"),
            AnthropicClient::builder("m")
                .base_url("http://x")
                .max_tokens(0),
            AnthropicClient::builder("m")
                .base_url("http://x")
                .header("bad name", "v"),
            AnthropicClient::builder("m")
                .base_url("http://x")
                .api_key("sk\nnewline"),
            AnthropicClient::builder("m").env_with(env(&[])),
            AnthropicClient::builder("m").api_key("  "),
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
        let builder = AnthropicClient::builder("m")
            .api_key("sk-ant-secret-1")
            .header("anthropic-beta", "beta-secret-2");
        let shown = format!("{builder:?}");
        assert!(
            !shown.contains("sk-ant-secret-1") && !shown.contains("beta-secret-2"),
            "{shown}"
        );
        assert!(shown.contains("ApiKey(***)"), "{shown}");
    }
}
