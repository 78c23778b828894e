//! The client builder: endpoint, key, API version, retry policy, timeouts and extra headers,
//! validated once in [`GeminiClientBuilder::build`].

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rlm_core::LlmError;
use rlm_limits::ProviderSettings;
use rlm_limits::provider::config_error as config;
pub use rlm_limits::redact::ApiKey;

use crate::client::{GeminiClient, Parts};

/// The endpoint used when neither code nor `GEMINI_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// Environment variable holding the API key.
pub const API_KEY_ENV: &str = "GEMINI_API_KEY";
/// Environment variable holding the base URL.
pub const BASE_URL_ENV: &str = "GEMINI_BASE_URL";
/// The API version in the path, `{base}/{version}/models/{model}:generateContent`.
pub const DEFAULT_API_VERSION: &str = "v1beta";
/// Default time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const GEMINI_HOST: &str = "generativelanguage.googleapis.com";

/// Builds a [`GeminiClient`]. Values set in code win over the environment, whatever the order
/// of the calls.
///
/// ```
/// use std::time::Duration;
/// use rlm_gemini::GeminiClient;
///
/// let client = GeminiClient::builder("gemini-2.5-flash")
///     .api_key("AIza-example")
///     .timeout(Duration::from_secs(120))
///     .build()
///     .unwrap();
/// assert_eq!(
///     client.endpoint(),
///     "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
/// );
///
/// let err = GeminiClient::builder("gemini-2.5-flash").build().unwrap_err();
/// assert!(err.to_string().contains("GEMINI_API_KEY"));
/// let env = |name: &str| (name == "GEMINI_API_KEY").then(|| "AIza-env".to_string());
/// assert!(GeminiClient::builder("gemini-2.5-flash").env_with(env).build().is_ok());
/// ```
#[derive(Clone)]
pub struct GeminiClientBuilder {
    model: String,
    settings: ProviderSettings,
    api_version: String,
}

impl fmt::Debug for GeminiClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiClientBuilder")
            .field("model", &self.model)
            .field("settings", &self.settings)
            .field("api_version", &self.api_version)
            .finish()
    }
}

impl GeminiClientBuilder {
    pub(crate) fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            settings: ProviderSettings::new(DEFAULT_CONNECT_TIMEOUT),
            api_version: DEFAULT_API_VERSION.to_string(),
        }
    }

    rlm_limits::provider_setters! {
        /// The base URL (default `https://generativelanguage.googleapis.com`); requests go to
        /// `{base_url}/v1beta/models/{model}:generateContent`.
        base_url;
        /// The API key, sent as `x-goog-api-key` (never in the URL).
        api_key;
        /// An extra header sent with every request (a gateway's token, `x-goog-user-project`, ...).
        /// Values are treated as sensitive: never printed, scrubbed from errors.
        header;
    }

    /// Reads `GEMINI_API_KEY` and `GEMINI_BASE_URL` from the process environment, as fallbacks
    /// for values not set in code.
    pub fn env(self) -> Self {
        self.env_with(|name| std::env::var(name).ok())
    }

    /// Like [`GeminiClientBuilder::env`] with another source of variables: `lookup(name)`
    /// returns the value of `name`. Empty values count as unset.
    pub fn env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        self.settings.read_env(&lookup, API_KEY_ENV, BASE_URL_ENV);
        self
    }

    /// The API version in the path (default `v1beta`; `v1` is the stable surface).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// Validates the settings and builds the client.
    ///
    /// Fails with [`LlmError::Config`] when the model name or API version is empty, the base
    /// URL is not an `http`/`https` URL, a header is invalid, or the endpoint is
    /// `generativelanguage.googleapis.com` and no key was given (set `GEMINI_API_KEY`). Other
    /// endpoints (a proxy, a gateway) may go without a key.
    pub fn build(self) -> Result<GeminiClient, LlmError> {
        if self.model.trim().is_empty() {
            return Err(config("the model name is empty"));
        }
        let api_version = self.api_version.trim().trim_matches('/').to_string();
        if api_version.is_empty() || api_version.contains('/') {
            return Err(config(
                "the API version must be one path segment, such as v1beta",
            ));
        }
        let base = self
            .settings
            .chosen_base_url()
            .unwrap_or(DEFAULT_BASE_URL)
            .to_string();
        let base = reqwest::Url::parse(base.trim()).map_err(|e| {
            config(format!(
                "invalid base URL (set {BASE_URL_ENV} or base_url): {e}"
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(config(format!(
                "base URL must be http or https, got scheme {:?}",
                base.scheme()
            )));
        }
        let api_key = self.settings.chosen_api_key();
        if api_key.is_none() && base.host_str() == Some(GEMINI_HOST) {
            return Err(config(format!(
                "no API key for {GEMINI_HOST}: set {API_KEY_ENV} or pass one with api_key(..)"
            )));
        }

        let mut headers = HeaderMap::new();
        if let Some(key) = &api_key {
            let mut value = HeaderValue::from_str(key.expose_secret()).map_err(|_| {
                config("the API key contains characters not allowed in an HTTP header")
            })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-goog-api-key"), value);
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
            .user_agent(concat!("rlm-gemini/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(format!("could not build the HTTP client: {e}")))?;

        let retry = self.settings.effective_retry();
        let (extra_header_names, extra_secrets) = self.settings.header_names_and_secrets();
        GeminiClient::from_parts(Parts {
            model: self.model.trim().to_string(),
            base,
            api_version,
            api_key,
            extra_header_names,
            extra_secrets,
            retry,
            http,
            sleep: self.settings.sleep,
        })
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
            ("GEMINI_API_KEY", "AIza-env"),
            ("GEMINI_BASE_URL", "http://env.local:1234/"),
        ];
        let client = GeminiClient::builder("m")
            .env_with(env(&vars))
            .build()
            .unwrap();
        assert_eq!(
            client.endpoint(),
            "http://env.local:1234/v1beta/models/m:generateContent"
        );
        assert_eq!(
            client.api_key().map(ApiKey::expose_secret),
            Some("AIza-env")
        );
        let client = GeminiClient::builder("models/m2")
            .base_url("http://code.local/proxy")
            .api_key("AIza-code")
            .api_version("v1")
            .env_with(env(&vars))
            .build()
            .unwrap();
        assert_eq!(
            client.endpoint(),
            "http://code.local/proxy/v1/models/m2:generateContent"
        );
        assert_eq!(
            client.api_key().map(ApiKey::expose_secret),
            Some("AIza-code")
        );
    }

    #[test]
    fn invalid_settings_are_config_errors() {
        let cases = [
            GeminiClient::builder("").base_url("http://x"),
            GeminiClient::builder("m").base_url("not a url"),
            GeminiClient::builder("m").base_url("ftp://x"),
            GeminiClient::builder("m")
                .base_url("http://x")
                .api_version(""),
            GeminiClient::builder("m")
                .base_url("http://x")
                .api_version("v1/x"),
            GeminiClient::builder("m")
                .base_url("http://x")
                .header("bad name", "v"),
            GeminiClient::builder("m")
                .base_url("http://x")
                .api_key("AIza\nnewline"),
            GeminiClient::builder("m").env_with(env(&[])),
            GeminiClient::builder("m").api_key("  "),
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
        let builder = GeminiClient::builder("m")
            .api_key("AIza-secret-1")
            .header("x-goog-user-project", "project-secret-2");
        let shown = format!("{builder:?}");
        assert!(
            !shown.contains("AIza-secret-1") && !shown.contains("project-secret-2"),
            "{shown}"
        );
        assert!(shown.contains("ApiKey(***)"), "{shown}");
    }
}
