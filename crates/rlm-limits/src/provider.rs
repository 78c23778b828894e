//! [`ProviderSettings`]: the settings every provider's client builder shares (endpoint, key,
//! their environment fallbacks, retry policy, timeouts, extra headers), with the precedence
//! rules (code over environment over default) and a Debug that never shows a secret. Pure data:
//! each provider turns it into its own HTTP client.
//!
//! [`provider_setters!`](crate::provider_setters) generates the builder setters.

use std::fmt;
use std::time::Duration;

use rlm_core::LlmError;

use crate::RetryPolicy;
use crate::http_retry::SleepFn;
use crate::redact::ApiKey;

/// [`LlmError::Config`] with `message`: what a builder's `build` fails with.
pub fn config_error(message: impl Into<String>) -> LlmError {
    LlmError::Config {
        message: message.into(),
    }
}

/// The settings shared by the providers' client builders. Values set in code win over the
/// environment, whatever the order of the calls.
///
/// ```
/// use std::time::Duration;
/// use rlm_limits::ProviderSettings;
///
/// let mut settings = ProviderSettings::new(Duration::from_secs(5));
/// let env = |name: &str| (name == "X_API_KEY").then(|| " sk-env ".to_string());
/// settings.read_env(&env, "X_API_KEY", "X_BASE_URL");
/// assert_eq!(settings.chosen_api_key().unwrap().expose_secret(), "sk-env");
/// settings.api_key = Some("sk-code".into());
/// assert_eq!(settings.chosen_api_key().unwrap().expose_secret(), "sk-code");
/// assert_eq!(settings.chosen_base_url(), None);
/// assert!(!format!("{settings:?}").contains("sk-"));
/// ```
#[derive(Clone)]
pub struct ProviderSettings {
    /// The base URL set in code.
    pub base_url: Option<String>,
    /// The API key set in code.
    pub api_key: Option<ApiKey>,
    /// The base URL read from the environment.
    pub env_base_url: Option<String>,
    /// The API key read from the environment.
    pub env_api_key: Option<ApiKey>,
    /// How failed calls are retried.
    pub retry: RetryPolicy,
    /// The deadline of one call; overrides `retry.call_timeout`.
    pub timeout: Option<Duration>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Extra headers (name, value); values are treated as secrets.
    pub headers: Vec<(String, String)>,
    /// Test hook performing the waits between attempts.
    pub sleep: Option<SleepFn>,
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: names only.
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ProviderSettings")
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

impl ProviderSettings {
    /// Nothing set, the default retry policy, and `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        Self {
            base_url: None,
            api_key: None,
            env_base_url: None,
            env_api_key: None,
            retry: RetryPolicy::default(),
            timeout: None,
            connect_timeout,
            headers: Vec::new(),
            sleep: None,
        }
    }

    /// The value of `name` from `lookup`, trimmed; empty values count as unset.
    pub fn env_value(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
        lookup(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Reads the key from `key_var` and the base URL from `url_var` as fallbacks (replacing
    /// those read before).
    pub fn read_env(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
        key_var: &str,
        url_var: &str,
    ) {
        self.env_api_key = Self::env_value(lookup, key_var).map(ApiKey::from);
        self.env_base_url = Self::env_value(lookup, url_var);
    }

    /// The base URL set in code, else the one from the environment.
    pub fn chosen_base_url(&self) -> Option<&str> {
        self.base_url.as_deref().or(self.env_base_url.as_deref())
    }

    /// The key set in code, else the one from the environment; a blank key counts as none.
    pub fn chosen_api_key(&self) -> Option<ApiKey> {
        self.api_key
            .as_ref()
            .or(self.env_api_key.as_ref())
            .filter(|k| !k.is_blank())
            .cloned()
    }

    /// The retry policy with `timeout`, when set, as its `call_timeout`.
    pub fn effective_retry(&self) -> RetryPolicy {
        let mut retry = self.retry.clone();
        if let Some(timeout) = self.timeout {
            retry.call_timeout = Some(timeout);
        }
        retry
    }

    /// The extra headers' names, and their trimmed values (secrets to scrub from errors).
    pub fn header_names_and_secrets(&self) -> (Vec<String>, Vec<String>) {
        self.headers
            .iter()
            .map(|(n, v)| (n.clone(), v.trim().to_string()))
            .unzip()
    }
}

/// The setters every provider's client builder has: `base_url`, `api_key` and `header` (with
/// the provider's own documentation, given before each name), and `retry_policy`, `timeout`,
/// `connect_timeout` and the hidden `sleep_hook`, which mean the same for every provider.
/// Expands inside an `impl` block of a builder with a `settings: ProviderSettings` field.
///
/// ```
/// use rlm_limits::ProviderSettings;
///
/// pub struct Builder {
///     settings: ProviderSettings,
/// }
///
/// impl Builder {
///     rlm_limits::provider_setters! {
///         /// The base URL.
///         base_url;
///         /// The API key.
///         api_key;
///         /// An extra header.
///         header;
///     }
/// }
///
/// let builder = Builder { settings: ProviderSettings::new(std::time::Duration::from_secs(5)) }
///     .base_url("http://localhost:8000")
///     .header("x-gateway", "secret")
///     .timeout(std::time::Duration::from_secs(60));
/// assert_eq!(builder.settings.chosen_base_url(), Some("http://localhost:8000"));
/// assert_eq!(builder.settings.effective_retry().call_timeout, Some(std::time::Duration::from_secs(60)));
/// ```
#[macro_export]
macro_rules! provider_setters {
    (
        $(#[$base_url_doc:meta])* base_url;
        $(#[$api_key_doc:meta])* api_key;
        $(#[$header_doc:meta])* header;
    ) => {
        $(#[$base_url_doc])*
        pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
            self.settings.base_url = Some(base_url.into());
            self
        }

        $(#[$api_key_doc])*
        pub fn api_key(mut self, key: impl Into<$crate::redact::ApiKey>) -> Self {
            self.settings.api_key = Some(key.into());
            self
        }

        $(#[$header_doc])*
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.settings.headers.push((name.into(), value.into()));
            self
        }

        /// How failed calls are retried, and the per-call deadline (`call_timeout`).
        pub fn retry_policy(mut self, policy: $crate::RetryPolicy) -> Self {
            self.settings.retry = policy;
            self
        }

        /// The deadline of one call including its retries and backoff; overrides the retry
        /// policy's `call_timeout`.
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.settings.timeout = Some(timeout);
            self
        }

        /// Time allowed to open a connection (default 5 s); a connect timeout is retried.
        pub fn connect_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.settings.connect_timeout = timeout;
            self
        }

        /// Test hook: performs the waits between attempts instead of `tokio::time::sleep`, so a
        /// test can record how long the client asked to wait. Not part of the stable API.
        #[doc(hidden)]
        pub fn sleep_hook<F, Fut>(mut self, sleep: F) -> Self
        where
            F: Fn(::std::time::Duration) -> Fut + Send + Sync + 'static,
            Fut: ::std::future::Future<Output = ()> + Send + 'static,
        {
            self.settings.sleep = Some($crate::http_retry::sleep_fn(sleep));
            self
        }
    };
}
