//! The client builder: endpoint, key, `max_tokens` default, retry policy, timeouts and extra
//! headers, validated once in [`AnthropicClientBuilder::build`].

use std::fmt;
use std::future::Future;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rlm_core::LlmError;
use rlm_limits::RetryPolicy;
use rlm_limits::http_retry::{self, SleepFn};
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
    base_url: Option<String>,
    api_key: Option<ApiKey>,
    env_base_url: Option<String>,
    env_api_key: Option<ApiKey>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    headers: Vec<(String, String)>,
    max_tokens: u32,
    sleep: Option<SleepFn>,
}

impl fmt::Debug for AnthropicClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: names only.
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("AnthropicClientBuilder")
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("env_base_url", &self.env_base_url)
            .field("env_api_key", &self.env_api_key)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("headers", &header_names)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

fn config(message: impl Into<String>) -> LlmError {
    LlmError::Config {
        message: message.into(),
    }
}

impl AnthropicClientBuilder {
    pub(crate) fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            base_url: None,
            api_key: None,
            env_base_url: None,
            env_api_key: None,
            retry: RetryPolicy::default(),
            timeout: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            headers: Vec::new(),
            max_tokens: DEFAULT_MAX_TOKENS,
            sleep: None,
        }
    }

    /// The base URL (default `https://api.anthropic.com`); requests go to
    /// `{base_url}/v1/messages`.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The API key, sent as `x-api-key`.
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Reads `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL` from the process environment, as
    /// fallbacks for values not set in code.
    pub fn env(self) -> Self {
        self.env_with(|name| std::env::var(name).ok())
    }

    /// Like [`AnthropicClientBuilder::env`] with another source of variables: `lookup(name)`
    /// returns the value of `name`. Empty values count as unset.
    pub fn env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        self.env_api_key = get(API_KEY_ENV).map(ApiKey::from);
        self.env_base_url = get(BASE_URL_ENV);
        self
    }

    /// `max_tokens` of requests that set none (default 8192; the API requires a value).
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// How failed calls are retried, and the per-call deadline (`call_timeout`).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The deadline of one call including its retries and backoff; overrides the retry policy's
    /// `call_timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Time allowed to open a connection (default 5 s); a connect timeout is retried.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// An extra header sent with every request (`anthropic-beta`, a gateway's token, ...).
    /// Values are treated as sensitive: never printed, scrubbed from errors.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Test hook: performs the waits between attempts instead of `tokio::time::sleep`, so a
    /// test can record how long the client asked to wait. Not part of the stable API.
    #[doc(hidden)]
    pub fn sleep_hook<F, Fut>(mut self, sleep: F) -> Self
    where
        F: Fn(Duration) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.sleep = Some(http_retry::sleep_fn(sleep));
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
            .base_url
            .or(self.env_base_url)
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
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
        let api_key = self.api_key.or(self.env_api_key).filter(|k| !k.is_blank());
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
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| config(format!("invalid header name {name:?}")))?;
            let mut value = HeaderValue::from_str(value.trim())
                .map_err(|_| config(format!("invalid value for header {name}")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(self.connect_timeout)
            // Small JSON requests must not wait for the peer's delayed ACK.
            .tcp_nodelay(true)
            .user_agent(concat!("rlm-anthropic/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(format!("could not build the HTTP client: {e}")))?;

        let mut retry = self.retry;
        if let Some(timeout) = self.timeout {
            retry.call_timeout = Some(timeout);
        }
        let (extra_header_names, extra_secrets) = self
            .headers
            .into_iter()
            .map(|(n, v)| (n, v.trim().to_string()))
            .unzip();
        Ok(AnthropicClient::from_parts(Parts {
            model: self.model,
            endpoint,
            api_key,
            extra_header_names,
            extra_secrets,
            retry,
            max_tokens: self.max_tokens,
            http,
            sleep: self.sleep,
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
