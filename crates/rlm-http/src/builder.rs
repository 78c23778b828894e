//! [`HttpModelBuilder`]: the one builder of every provider's client. Endpoint, key, their
//! environment fallbacks, retry policy, timeouts and extra headers, with the codec's own
//! settings reachable through [`HttpModelBuilder::wire_mut`]; validated once in
//! [`HttpModelBuilder::build`].

use std::fmt;
use std::future::Future;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rlm_core::LlmError;
use rlm_limits::RetryPolicy;

use crate::codec::{config_error as config, env_value};
use crate::model::{HttpModel, Parts};
use crate::redact::ApiKey;
use crate::retry::{SleepFn, sleep_fn};
use crate::wire::WireFormat;

/// Default time allowed to open a connection (as the official SDKs).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds an [`HttpModel`]. Values set in code win over the environment, whatever the order of
/// the calls; the environment wins over the codec's defaults.
///
/// A provider's codec options are methods of its builder extension trait (such as
/// `rlm_anthropic::AnthropicBuilderExt::max_tokens`), or reached through
/// [`wire_mut`](HttpModelBuilder::wire_mut).
#[derive(Clone)]
pub struct HttpModelBuilder<W> {
    model: String,
    wire: W,
    base_url: Option<String>,
    api_key: Option<ApiKey>,
    env_base_url: Option<String>,
    env_api_key: Option<ApiKey>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    /// Extra headers (name, value); values are treated as secrets.
    headers: Vec<(String, String)>,
    sleep: Option<SleepFn>,
}

impl<W: WireFormat> fmt::Debug for HttpModelBuilder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: names only.
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpModelBuilder")
            .field("model", &self.model)
            .field("wire", &self.wire)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("env_base_url", &self.env_base_url)
            .field("env_api_key", &self.env_api_key)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("headers", &header_names)
            .finish()
    }
}

impl<W: WireFormat> HttpModelBuilder<W> {
    /// A builder for `model` speaking `wire`, with nothing else set.
    pub fn new(model: impl Into<String>, wire: W) -> Self {
        Self {
            model: model.into(),
            wire,
            base_url: None,
            api_key: None,
            env_base_url: None,
            env_api_key: None,
            retry: RetryPolicy::default(),
            timeout: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            headers: Vec::new(),
            sleep: None,
        }
    }

    /// The codec and its settings.
    pub fn wire(&self) -> &W {
        &self.wire
    }

    /// The codec, to change its settings (what the providers' builder extension traits do).
    pub fn wire_mut(&mut self) -> &mut W {
        &mut self.wire
    }

    /// The base URL (default: the codec's); requests go to the codec's endpoint under it.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The API key, sent in the codec's authentication header and nowhere else.
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// An extra header sent with every request (OpenRouter's `HTTP-Referer`, `anthropic-beta`,
    /// a gateway's token, ...). Values are treated as sensitive: never printed, scrubbed from
    /// errors.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How failed calls are retried, and the per-call deadline (`call_timeout`).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The deadline of one call including its retries and backoff; overrides the retry
    /// policy's `call_timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Time allowed to open a connection (default 5 s); a connect timeout is retried.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
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
        self.sleep = Some(sleep_fn(sleep));
        self
    }

    /// Reads the codec's variables (key, base URL, and its own, such as Azure's
    /// `OPENAI_API_VERSION`) from the process environment, as fallbacks for values not set in
    /// code.
    pub fn env(self) -> Self {
        self.env_with(|name| std::env::var(name).ok())
    }

    /// Like [`HttpModelBuilder::env`] with another source of variables (a map in tests, a
    /// config file): `lookup(name)` returns the value of `name`. Empty values count as unset.
    pub fn env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        self.env_api_key = env_value(&lookup, W::API_KEY_ENV).map(ApiKey::from);
        self.env_base_url = env_value(&lookup, W::BASE_URL_ENV);
        self.wire.read_env(&lookup);
        self
    }

    /// The base URL, validated and prepared by the codec.
    fn base(&self) -> Result<Url, LlmError> {
        let url_var = W::BASE_URL_ENV;
        let chosen = self.base_url.as_deref().or(self.env_base_url.as_deref());
        let Some(base) = chosen.or(W::DEFAULT_BASE_URL) else {
            return Err(config(format!(
                "no {} endpoint: set {url_var} or pass one with base_url(..)",
                W::DISPLAY_NAME
            )));
        };
        let mut base = Url::parse(base.trim())
            .map_err(|e| config(format!("invalid base URL (set {url_var} or base_url): {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(config(format!(
                "base URL must be http or https, got scheme {:?}",
                base.scheme()
            )));
        }
        self.wire.prepare(&self.model, &mut base)?;
        Ok(base)
    }

    /// The default headers: the codec's, the key's, and the extra ones (all but the codec's
    /// marked sensitive).
    fn default_headers(&self, api_key: Option<&ApiKey>) -> Result<HeaderMap, LlmError> {
        let mut headers = HeaderMap::new();
        for (name, value) in self.wire.static_headers() {
            headers.insert(name, value);
        }
        if let Some(key) = api_key {
            let (name, text) = self.wire.auth_header(key.expose_secret());
            let mut value = HeaderValue::from_str(&text).map_err(|_| {
                config("the API key contains characters not allowed in an HTTP header")
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| config(format!("invalid header name {name:?}")))?;
            let mut value = HeaderValue::from_str(value.trim())
                .map_err(|_| config(format!("invalid value for header {name}")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(headers)
    }

    /// Validates the settings and builds the client.
    ///
    /// Fails with [`LlmError::Config`] when the model name is empty, there is no base URL (and
    /// the codec has no default), the base URL is not an `http`/`https` URL, the codec refuses
    /// its settings or the model name, a header is invalid, or the endpoint needs a key and none
    /// was given (the message names the variable to set).
    pub fn build(self) -> Result<HttpModel<W>, LlmError> {
        if self.model.trim().is_empty() {
            return Err(config("the model name is empty"));
        }
        let base = self.base()?;
        let endpoint = self.wire.endpoint(&base, &self.model)?;
        let api_key = self
            .api_key
            .as_ref()
            .or(self.env_api_key.as_ref())
            .filter(|k| !k.is_blank())
            .cloned();
        if api_key.is_none() {
            let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.trim()).collect();
            if let Some(who) = self.wire.key_required(&base, &names) {
                return Err(LlmError::MissingApiKey {
                    provider: who.to_string(),
                    env_var: W::API_KEY_ENV.to_string(),
                });
            }
        }
        let http = reqwest::Client::builder()
            .default_headers(self.default_headers(api_key.as_ref())?)
            .connect_timeout(self.connect_timeout)
            // Small JSON requests must not wait for the peer's delayed ACK.
            .tcp_nodelay(true)
            .user_agent(W::USER_AGENT)
            .build()
            .map_err(|e| config(format!("could not build the HTTP client: {e}")))?;
        let mut retry = self.retry;
        if let Some(timeout) = self.timeout {
            retry.call_timeout = Some(timeout);
        }
        let (header_names, header_secrets) = self
            .headers
            .into_iter()
            .map(|(n, v)| (n, v.trim().to_string()))
            .unzip();
        Ok(HttpModel::from_parts(Parts {
            model: self.model,
            wire: self.wire,
            base,
            endpoint,
            api_key,
            header_names,
            header_secrets,
            retry,
            http,
            sleep: self.sleep,
        }))
    }
}
