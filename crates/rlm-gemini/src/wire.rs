//! The Gemini codec: [`Gemini`], its [`WireFormat`] impl (the per-model endpoint,
//! `x-goog-api-key`, variables), the client alias and the builder option for the API version.

use std::time::Duration;

use rlm_core::{CompletionRequest, CompletionResponse, LlmError};
use rlm_http::header::HeaderName;
use rlm_http::{HttpModel, HttpModelBuilder, Url, WireFormat, codec};

use crate::codec::{decode_response, encode_request};
use crate::error_body::classify_status;

/// The endpoint used when neither code nor `GEMINI_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// Environment variable holding the API key.
pub const API_KEY_ENV: &str = "GEMINI_API_KEY";
/// Environment variable holding the base URL.
pub const BASE_URL_ENV: &str = "GEMINI_BASE_URL";
/// The API version in the path, `{base}/{version}/models/{model}:generateContent`.
pub const DEFAULT_API_VERSION: &str = "v1beta";

const GEMINI_HOST: &str = "generativelanguage.googleapis.com";

/// A client of the Gemini API's `generateContent`: `POST
/// {base_url}/v1beta/models/{model}:generateContent` with the key in the `x-goog-api-key`
/// header (never in the URL). A request naming a model goes to that model's URL. A 429 for a
/// daily quota or depleted credits is [`LlmError::QuotaExhausted`] and is not retried; other
/// 429s wait for the body's `RetryInfo.retryDelay` when no `Retry-After` is given.
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
pub type GeminiClient = HttpModel<Gemini>;

/// The builder of a [`GeminiClient`].
pub type GeminiClientBuilder = HttpModelBuilder<Gemini>;

/// The `generateContent` codec. Carries the API version in the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gemini {
    api_version: String,
}

impl Default for Gemini {
    fn default() -> Self {
        Self {
            api_version: DEFAULT_API_VERSION.to_string(),
        }
    }
}

impl Gemini {
    /// The API version in the path (default `v1beta`).
    pub fn api_version(&self) -> &str {
        self.api_version.trim().trim_matches('/')
    }
}

impl WireFormat for Gemini {
    fn provider_name(&self) -> &'static str {
        "gcp.gemini"
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
        concat!("rlm-gemini/", env!("CARGO_PKG_VERSION"))
    }

    fn prepare(&self, _model: &str, _base: &mut Url) -> Result<(), LlmError> {
        let version = self.api_version();
        if version.is_empty() || version.contains('/') {
            return Err(codec::config_error(
                "the API version must be one path segment, such as v1beta",
            ));
        }
        Ok(())
    }

    /// `generativelanguage.googleapis.com` needs a key; a proxy or gateway may go without.
    fn key_required(&self, base: &Url, _extra_headers: &[&str]) -> Option<String> {
        (base.host_str() == Some(GEMINI_HOST)).then(|| GEMINI_HOST.to_string())
    }

    /// `{base}/{version}/models/{model}:generateContent`. A bare name goes under `models/`; a
    /// name with a collection (`models/gemini-2.5-flash`, `tunedModels/my-model`) is used as
    /// given.
    fn endpoint(&self, base: &Url, model: &str) -> Result<Url, LlmError> {
        let model = model.trim().trim_matches('/');
        let names: Vec<&str> = if model.contains('/') {
            model.split('/').collect()
        } else {
            vec!["models", model]
        };
        let Some((last, collection)) = names.split_last() else {
            return Err(codec::config_error("the model name is empty"));
        };
        if last.is_empty() || collection.iter().any(|s| s.is_empty()) {
            return Err(codec::config_error(format!(
                "invalid Gemini model name {model:?}"
            )));
        }
        let method = format!("{last}:generateContent");
        let path = std::iter::once(self.api_version())
            .chain(collection.iter().copied())
            .chain(std::iter::once(method.as_str()));
        codec::join_path(base, path)
    }

    fn auth_header(&self, key: &str) -> (HeaderName, String) {
        (HeaderName::from_static("x-goog-api-key"), key.to_string())
    }

    /// The model goes in the URL, not the body.
    fn encode(&self, request: &CompletionRequest, _model: &str) -> Result<Vec<u8>, LlmError> {
        encode_request(request)
    }

    fn decode(&self, body: &[u8], model: &str) -> Result<CompletionResponse, LlmError> {
        decode_response(body, model)
    }

    fn classify(&self, status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
        classify_status(status, body, retry_after)
    }
}

/// The option of a [`GeminiClientBuilder`].
pub trait GeminiBuilderExt {
    /// The API version in the path (default `v1beta`; `v1` is the stable surface).
    fn api_version(self, version: impl Into<String>) -> Self;
}

impl GeminiBuilderExt for GeminiClientBuilder {
    fn api_version(mut self, version: impl Into<String>) -> Self {
        self.wire_mut().api_version = version.into();
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
