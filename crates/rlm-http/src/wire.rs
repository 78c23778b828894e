//! [`WireFormat`]: what one provider's API does differently, and nothing else. A codec names its
//! endpoint, its authentication header, its environment variables and its OpenTelemetry
//! provider name (associated constants), encodes requests, decodes responses and classifies
//! error statuses;
//! [`crate::HttpModel`] does the rest (the client, retries, deadlines, capped bodies, scrubbing).

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use rlm_core::{CompletionRequest, CompletionResponse, FinishReason, LlmError};

use crate::sse::SseEvent;
use crate::stream::{self, StreamState};

/// The wire format of one provider API: the codec under an [`HttpModel`](crate::HttpModel).
///
/// The constants name the provider; methods take `&self`, so a codec can carry its own
/// settings (Azure's `api-version`, the field OpenAI-compatible servers read `max_tokens` from,
/// Anthropic's default `max_tokens`).
/// Everything here is pure: no I/O, so each codec is tested against recorded fixtures.
///
/// A minimal codec, for a server that takes the prompt as plain text and answers in plain text:
///
/// ```
/// use std::time::Duration;
/// use rlm_core::{CompletionRequest, CompletionResponse, FinishReason, LlmError, Usage};
/// use rlm_http::header::HeaderName;
/// use rlm_http::{HttpModel, Url, WireFormat, codec};
///
/// #[derive(Debug, Clone, Default)]
/// struct PlainText;
///
/// impl WireFormat for PlainText {
///     const PROVIDER_NAME: &'static str = "plain";
///     const API_KEY_ENV: &'static str = "PLAIN_API_KEY";
///     const BASE_URL_ENV: &'static str = "PLAIN_BASE_URL";
///     const DEFAULT_BASE_URL: Option<&'static str> = Some("http://localhost:9000");
///     const USER_AGENT: &'static str = "plain-client/1";
///
///     fn endpoint(&self, base: &Url, _model: &str) -> Result<Url, LlmError> {
///         codec::join_path(base, ["complete"])
///     }
///     fn auth_header(&self, key: &str) -> (HeaderName, String) {
///         (HeaderName::from_static("x-key"), key.to_string())
///     }
///     fn encode(&self, request: &CompletionRequest, _model: &str) -> Result<Vec<u8>, LlmError> {
///         Ok(request.messages.iter().map(|m| m.content.as_str()).collect::<String>().into_bytes())
///     }
///     fn decode(&self, body: &[u8], model: &str) -> Result<CompletionResponse, LlmError> {
///         let text = String::from_utf8_lossy(body).into_owned();
///         codec::completion(None, model, text, None, FinishReason::Stop, Usage::default())
///     }
///     fn classify(&self, status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
///         codec::classify_status(status, body, retry_after)
///     }
/// }
///
/// let model = HttpModel::<PlainText>::builder("m").build().unwrap();
/// assert_eq!(model.endpoint(), "http://localhost:9000/complete");
/// ```
pub trait WireFormat: Clone + fmt::Debug + Send + Sync + 'static {
    /// The provider as OpenTelemetry's `gen_ai.provider.name` names it: `openai`, `anthropic`,
    /// `gcp.gemini`, `azure.ai.openai`.
    const PROVIDER_NAME: &'static str;

    /// The provider as messages name it (`Azure OpenAI`); the provider name by default.
    const DISPLAY_NAME: &'static str = Self::PROVIDER_NAME;

    /// The environment variable holding the API key (`OPENAI_API_KEY`).
    const API_KEY_ENV: &'static str;

    /// The environment variable holding the base URL (`OPENAI_BASE_URL`).
    const BASE_URL_ENV: &'static str;

    /// The base URL used when neither code nor the environment names one; `None` when the
    /// provider has no public endpoint (Azure: each resource has its own), which makes `build`
    /// fail until one is set.
    const DEFAULT_BASE_URL: Option<&'static str>;

    /// The `User-Agent` sent with every request (`rlm-openai/0.1.0`).
    const USER_AGENT: &'static str;

    /// Reads the codec's own variables (Azure's `OPENAI_API_VERSION`) as fallbacks for values
    /// not set in code; `lookup(name)` returns a variable's value. Nothing by default.
    fn read_env(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        let _ = lookup;
    }

    /// Validates the codec's settings for `model` and adjusts the validated base URL once, at
    /// build time (Azure adds its `api-version` query). Nothing by default.
    fn prepare(&self, model: &str, base: &mut Url) -> Result<(), LlmError> {
        let _ = (model, base);
        Ok(())
    }

    /// Who must be given a key at `base` (`Some("api.openai.com")`), for the error `build`
    /// fails with when none is set; `None` when the endpoint may go without one (a local
    /// server, a gateway). `extra_headers` names the extra headers set, one of which may stand
    /// in for the key. By default a key is never required.
    fn key_required(&self, base: &Url, extra_headers: &[&str]) -> Option<String> {
        let _ = (base, extra_headers);
        None
    }

    /// The URL a request for `model` goes to, under the validated `base`.
    fn endpoint(&self, base: &Url, model: &str) -> Result<Url, LlmError>;

    /// The header that carries `key` (`Authorization: Bearer {key}`, `x-api-key: {key}`). The
    /// transport marks it sensitive.
    fn auth_header(&self, key: &str) -> (HeaderName, String);

    /// Headers sent with every request besides the key (`anthropic-version`). None by default.
    fn static_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        Vec::new()
    }

    /// The body of `request`; `default_model` is the client's model, used when the request
    /// names none. Fails with [`LlmError::Config`] for a request the API cannot take.
    fn encode(&self, request: &CompletionRequest, default_model: &str)
    -> Result<Vec<u8>, LlmError>;

    /// The response to a 2xx `body` (already free of secrets); `requested_model` fills in the
    /// model when the body names none. HTTP 200 is not yet success: an error object, no text or
    /// a cut-off answer are typed errors.
    fn decode(&self, body: &[u8], requested_model: &str) -> Result<CompletionResponse, LlmError>;

    /// The typed error of an unsuccessful `status` with `body` (already free of secrets) and
    /// the wait the headers asked for. An [`LlmError::Http`] with a retryable status is
    /// retried; every other error is final.
    fn classify(&self, status: u16, body: &str, retry_after: Option<Duration>) -> LlmError;

    /// The body of a streaming request for `request` (the plain body with `stream: true` and
    /// whatever else the API needs to report usage in a stream); `None` when the codec cannot
    /// stream, which is the default: [`crate::HttpModel`] then makes a plain call.
    fn encode_stream(
        &self,
        request: &CompletionRequest,
        default_model: &str,
    ) -> Result<Option<Vec<u8>>, LlmError> {
        let _ = (request, default_model);
        Ok(None)
    }

    /// The URL of a streaming request, made from the plain request's `url` (Gemini streams
    /// from another method, `:streamGenerateContent?alt=sse`). The same URL by default.
    fn stream_url(&self, url: Url) -> Url {
        url
    }

    /// Takes one server-sent event of a stream (its data already free of secrets) into
    /// `state` (model, finish reason, usage, `done` at the last event) and returns the text it
    /// adds, if any; the transport appends that text to `state.text` and hands it to the
    /// caller. An error event is the typed error of its kind. Ignores everything by default.
    fn decode_event(
        &self,
        event: &SseEvent,
        state: &mut StreamState,
    ) -> Result<Option<String>, LlmError> {
        let _ = (event, state);
        Ok(None)
    }

    /// The response once the stream has ended with its last event. By default the finish
    /// reason is parsed with [`FinishReason::parse`] and checked as a plain response's would
    /// be ([`stream::finish`]); a codec with its own finish reasons overrides this.
    fn finish_stream(
        &self,
        state: StreamState,
        requested_model: &str,
    ) -> Result<CompletionResponse, LlmError> {
        stream::finish(state, requested_model, FinishReason::parse)
    }
}
