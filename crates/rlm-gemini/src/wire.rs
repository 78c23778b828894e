//! The Gemini codec: [`Gemini`], its [`WireFormat`] impl (the per-model endpoint,
//! `x-goog-api-key`, variables), the client alias and the builder option for the API version.

use std::time::Duration;

use rlm_core::{CompletionRequest, CompletionResponse, LlmError};
use rlm_http::header::HeaderName;
use rlm_http::sse::SseEvent;
use rlm_http::stream::StreamState;
use rlm_http::{HttpModel, HttpModelBuilder, Url, WireFormat, codec};

use crate::codec::{decode_response, encode_request};
use crate::error_body::classify_status;
use crate::stream;

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
    const PROVIDER_NAME: &'static str = "gcp.gemini";
    const API_KEY_ENV: &'static str = API_KEY_ENV;
    const BASE_URL_ENV: &'static str = BASE_URL_ENV;
    const DEFAULT_BASE_URL: Option<&'static str> = Some(DEFAULT_BASE_URL);
    const USER_AGENT: &'static str = concat!("rlm-gemini/", env!("CARGO_PKG_VERSION"));

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
    ///
    /// The base is the API's root (`https://generativelanguage.googleapis.com`). A base ending
    /// in an API version (`.../v1beta`, `.../v1`, as the docs' URLs show it) is cut back to that
    /// root and its version is used: the URL the user gave wins over the default version.
    fn endpoint(&self, base: &Url, model: &str) -> Result<Url, LlmError> {
        let (base, version) = match codec::last_path_segment(base).filter(|s| is_api_version(s)) {
            Some(version) => (
                codec::strip_path_suffix(base, &[version]).unwrap_or_else(|| base.clone()),
                version.to_ascii_lowercase(),
            ),
            None => (base.clone(), self.api_version().to_string()),
        };
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
        let path = std::iter::once(version.as_str())
            .chain(collection.iter().copied())
            .chain(std::iter::once(method.as_str()));
        codec::join_path(&base, path)
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

    /// The same body as a plain request: the method in the URL asks for the stream.
    fn encode_stream(
        &self,
        request: &CompletionRequest,
        _model: &str,
    ) -> Result<Option<Vec<u8>>, LlmError> {
        encode_request(request).map(Some)
    }

    /// `...:streamGenerateContent?alt=sse` in place of `...:generateContent`.
    fn stream_url(&self, url: Url) -> Url {
        stream::stream_url(url)
    }

    fn decode_event(
        &self,
        event: &SseEvent,
        state: &mut StreamState,
    ) -> Result<Option<String>, LlmError> {
        stream::decode_event(event, state)
    }

    /// The `finishReason` rules of a plain response ([`crate::codec::finish_reason`]).
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

/// Whether a path segment names a Gemini API version: `v1`, `v1beta`, `v1alpha`, `v2beta3`.
fn is_api_version(segment: &str) -> bool {
    let Some(rest) = segment
        .strip_prefix('v')
        .or_else(|| segment.strip_prefix('V'))
    else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let tail = rest.get(digits..).unwrap_or_default().to_ascii_lowercase();
    let label = tail.trim_end_matches(|c: char| c.is_ascii_digit());
    digits > 0 && matches!(label, "" | "alpha" | "beta")
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
