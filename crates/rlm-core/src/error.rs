//! Typed errors at the core boundaries.
//!
//! Messages are lower-case, carry no trailing period, and never contain a secret: providers cut
//! response bodies to a bounded size and scrub keys before building these values.

use std::time::Duration;

/// A language-model call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The endpoint could not be reached (DNS, refused, TLS, reset before a response).
    #[error("could not reach {url}: {message}")]
    Connect {
        /// The endpoint URL (never contains a key).
        url: String,
        /// What the transport said.
        message: String,
    },
    /// The call (including its retries) ran past its deadline.
    #[error("request to {url} timed out after {elapsed:?}")]
    Timeout {
        /// The endpoint URL.
        url: String,
        /// Time spent before giving up.
        elapsed: Duration,
    },
    /// The provider answered with a non-success status that is not classified further.
    #[error("provider returned HTTP {status}: {body}")]
    Http {
        /// HTTP status code.
        status: u16,
        /// The response body, cut to at most 2 KiB.
        body: String,
        /// The wait the provider asked for, if any.
        retry_after: Option<Duration>,
    },
    /// The key was refused (401/403). Retrying cannot help; the run should stop.
    #[error("authentication failed (HTTP {status}): {body}")]
    Authentication {
        /// HTTP status code.
        status: u16,
        /// The response body, cut to at most 2 KiB.
        body: String,
    },
    /// The account is out of quota or credit (a 429 `insufficient_quota`). The run should stop.
    #[error("quota exhausted: {body}")]
    QuotaExhausted {
        /// The response body, cut to at most 2 KiB.
        body: String,
    },
    /// The provider asked to wait longer than the configured cap, so the call failed fast.
    #[error("provider asked to retry after {wait:?}, more than the {cap:?} cap")]
    RetryAfterTooLong {
        /// The wait the provider asked for.
        wait: Duration,
        /// The longest wait we honour.
        cap: Duration,
    },
    /// The prompt does not fit the model's context window. Never retried.
    #[error("context length exceeded: {body}")]
    ContextLengthExceeded {
        /// The response body, cut to at most 2 KiB.
        body: String,
    },
    /// The provider's content filter withheld the answer.
    #[error("response withheld by the provider's content filter")]
    ContentFilter,
    /// Generation stopped early (`finish_reason` `length`), so the text is incomplete.
    #[error("response was cut short: {reason}")]
    Truncated {
        /// Why it stopped.
        reason: String,
    },
    /// HTTP 200 but no usable text (`content: null`, no choices).
    #[error("provider returned no content (finish reason {finish_reason})")]
    EmptyCompletion {
        /// The finish reason the provider gave, or `unknown`.
        finish_reason: String,
    },
    /// The response could not be decoded.
    #[error("invalid response from provider: {reason}")]
    InvalidResponse {
        /// What was wrong.
        reason: String,
        /// The start of the body, cut to at most 2 KiB.
        body: String,
    },
    /// A limit of the run refused the call before it was sent.
    #[error("{limit} limit reached: {detail}")]
    LimitExceeded {
        /// Which limit (`max_tokens`, `max_cost`, `max_llm_calls`, ...).
        limit: String,
        /// Human-readable detail.
        detail: String,
    },
    /// No API key was given and the endpoint needs one.
    #[error(
        "no API key for {provider}: set {env_var}, or give one to the client builder's `api_key`"
    )]
    MissingApiKey {
        /// Who needs it (`OpenAI at https://api.openai.com/v1`).
        provider: String,
        /// The environment variable the client reads it from.
        env_var: String,
    },
    /// The provider is misconfigured (bad URL, unknown model, conflicting settings).
    #[error("configuration error: {message}")]
    Config {
        /// What is wrong and what to do.
        message: String,
    },
    /// The call was cancelled.
    #[error("call cancelled")]
    Cancelled,
}

impl LlmError {
    /// A short, body-free name of the error for logs and metrics (bodies may quote the
    /// prompt): `connect`, `timeout`, `http`, `authentication`, `quota_exhausted`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Connect { .. } => "connect",
            LlmError::Timeout { .. } => "timeout",
            LlmError::Http { .. } => "http",
            LlmError::Authentication { .. } => "authentication",
            LlmError::QuotaExhausted { .. } => "quota_exhausted",
            LlmError::RetryAfterTooLong { .. } => "retry_after_too_long",
            LlmError::ContextLengthExceeded { .. } => "context_length_exceeded",
            LlmError::ContentFilter => "content_filter",
            LlmError::Truncated { .. } => "truncated",
            LlmError::EmptyCompletion { .. } => "empty_completion",
            LlmError::InvalidResponse { .. } => "invalid_response",
            LlmError::LimitExceeded { .. } => "limit_exceeded",
            LlmError::MissingApiKey { .. } => "missing_api_key",
            LlmError::Config { .. } => "config",
            LlmError::Cancelled => "cancelled",
        }
    }

    /// Whether this error means every further call in the run will fail the same way
    /// (bad key, exhausted quota), so the whole run should stop rather than retry per call.
    pub fn is_fatal_for_run(&self) -> bool {
        matches!(
            self,
            LlmError::Authentication { .. } | LlmError::QuotaExhausted { .. }
        )
    }
}

/// A REPL backend failed (not the user's code: its errors are part of an [`crate::Execution`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplError {
    /// The execution ran past its time limit and was stopped.
    #[error("execution timed out after {limit:?}")]
    Timeout {
        /// The limit that was hit.
        limit: Duration,
    },
    /// A name is not a valid Python identifier or is reserved by the runtime.
    #[error("invalid variable name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// The backend could not start or has died.
    #[error("repl backend {backend} failed: {message}")]
    Backend {
        /// Which backend (`monty`, `python`).
        backend: String,
        /// What happened.
        message: String,
    },
    /// A value could not cross the REPL boundary.
    #[error("value conversion failed: {message}")]
    Conversion {
        /// What could not be converted.
        message: String,
    },
    /// The execution was cancelled by the host.
    #[error("execution cancelled")]
    Cancelled,
}
