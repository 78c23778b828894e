//! Keeping secrets and large bodies out of errors: the [`ApiKey`] wrapper that never prints its
//! value, body snippets cut to [`MAX_BODY_SNIPPET`] bytes, and the [`Scrubber`] that removes
//! keys from text, bodies and [`LlmError`]s. [`crate::HttpModel`] scrubs every error it returns.
//!
//! ```
//! use rlm_core::LlmError;
//! use rlm_http::redact::{ApiKey, Scrubber, snippet};
//!
//! let key = ApiKey::new("sk-secret-123");
//! assert_eq!(format!("{key:?}"), "ApiKey(***)");
//! let scrubber = Scrubber::new([key.expose_secret()]);
//! let error = LlmError::Authentication { status: 401, body: "bad key sk-secret-123".into() };
//! assert_eq!(scrubber.scrub_error(error).to_string(), "authentication failed (HTTP 401): bad key ***");
//! assert_eq!(snippet(&"x".repeat(5000)).len(), 2048);
//! ```

use std::borrow::Cow;
use std::fmt;

use rlm_core::LlmError;

/// Most bytes of a response body kept in an error (cut at a character boundary).
pub const MAX_BODY_SNIPPET: usize = 2048;

/// Secrets shorter than this are not scrubbed from text (a placeholder such as `x` would mangle
/// every message, and is no secret).
pub const MIN_SCRUB_LEN: usize = 4;

/// The start of `body`, at most [`MAX_BODY_SNIPPET`] bytes, cut at a character boundary.
pub fn snippet(body: &str) -> String {
    body[..body.floor_char_boundary(MAX_BODY_SNIPPET)].to_string()
}

/// [`snippet`] of bytes that may not be UTF-8 (invalid sequences are replaced).
pub fn snippet_bytes(body: &[u8]) -> String {
    let head = &body[..body.len().min(MAX_BODY_SNIPPET + 4)];
    snippet(&String::from_utf8_lossy(head))
}

/// An API key. Providers send it only in their authentication header and never show it:
/// `Debug` prints `ApiKey(***)` and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the one place that must send it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the key is empty or only whitespace (such a key counts as unset).
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self(key.to_string())
    }
}

/// Replaces secrets with `***` in text, response bodies and errors. `Debug` shows only how
/// many secrets it holds.
///
/// Bodies are scrubbed as soon as they are read (before they are cut to a snippet, so a key
/// straddling the cut cannot leak half of itself), and errors once more on the way out.
#[derive(Clone, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} secrets)", self.secrets.len())
    }
}

impl Scrubber {
    /// A scrubber of these secrets (those shorter than [`MIN_SCRUB_LEN`] are ignored).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SCRUB_LEN)
            .map(str::to_string)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// Whether there is anything to scrub.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` without secrets (borrowed when there was none in it).
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), "***"));
            }
        }
        out
    }

    /// [`Scrubber::scrub`] of an owned string.
    pub fn scrub_owned(&self, text: String) -> String {
        match self.scrub(&text) {
            Cow::Owned(scrubbed) => scrubbed,
            Cow::Borrowed(_) => text,
        }
    }

    /// A response body without secrets (invalid UTF-8 is replaced only when a secret was found).
    pub fn scrub_bytes(&self, body: Vec<u8>) -> Vec<u8> {
        let found = self
            .secrets
            .iter()
            .any(|s| body.windows(s.len()).any(|w| w == s.as_bytes()));
        if !found {
            return body;
        }
        self.scrub_owned(String::from_utf8_lossy(&body).into_owned())
            .into_bytes()
    }

    /// Removes secrets from every text field of an error.
    pub fn scrub_error(&self, error: LlmError) -> LlmError {
        if self.is_empty() {
            return error;
        }
        let s = |text: String| self.scrub_owned(text);
        match error {
            LlmError::Connect { url, message } => LlmError::Connect {
                url: s(url),
                message: s(message),
            },
            LlmError::Timeout { url, elapsed } => LlmError::Timeout {
                url: s(url),
                elapsed,
            },
            LlmError::Http {
                status,
                body,
                retry_after,
            } => LlmError::Http {
                status,
                body: s(body),
                retry_after,
            },
            LlmError::Authentication { status, body } => LlmError::Authentication {
                status,
                body: s(body),
            },
            LlmError::QuotaExhausted { body } => LlmError::QuotaExhausted { body: s(body) },
            LlmError::ContextLengthExceeded { body } => {
                LlmError::ContextLengthExceeded { body: s(body) }
            }
            LlmError::Truncated { reason } => LlmError::Truncated { reason: s(reason) },
            LlmError::EmptyCompletion { finish_reason } => LlmError::EmptyCompletion {
                finish_reason: s(finish_reason),
            },
            LlmError::InvalidResponse { reason, body } => LlmError::InvalidResponse {
                reason: s(reason),
                body: s(body),
            },
            LlmError::LimitExceeded { limit, detail } => LlmError::LimitExceeded {
                limit: s(limit),
                detail: s(detail),
            },
            LlmError::Config { message } => LlmError::Config {
                message: s(message),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_cuts_at_a_char_boundary() {
        let body = "é".repeat(3000); // 2 bytes each
        assert_eq!(snippet(&body).len(), MAX_BODY_SNIPPET);
        let odd = format!("a{}", "é".repeat(3000));
        assert_eq!(snippet(&odd).len(), MAX_BODY_SNIPPET - 1);
        assert_eq!(
            snippet_bytes(&[0xff; 5000]).len(),
            MAX_BODY_SNIPPET - MAX_BODY_SNIPPET % 3
        );
        assert_eq!(snippet("short"), "short");
    }

    #[test]
    fn scrubs_text_bodies_and_every_error_field() {
        let scrubber = Scrubber::new(["sk-secret-1", "x", "gw-token-22"]);
        assert_eq!(format!("{scrubber:?}"), "Scrubber(2 secrets)");
        assert_eq!(scrubber.scrub("a sk-secret-1 b gw-token-22"), "a *** b ***");
        assert!(matches!(scrubber.scrub("nothing x"), Cow::Borrowed(_)));
        let body = b"{\"k\":\"sk-secret-1\"}\xff".to_vec();
        let scrubbed = scrubber.scrub_bytes(body);
        assert!(!String::from_utf8_lossy(&scrubbed).contains("sk-secret-1"));
        let untouched = b"\xffplain".to_vec();
        assert_eq!(scrubber.scrub_bytes(untouched.clone()), untouched);

        let k = || "sk-secret-1".to_string();
        let errors = [
            LlmError::Connect {
                url: k(),
                message: k(),
            },
            LlmError::Timeout {
                url: k(),
                elapsed: std::time::Duration::ZERO,
            },
            LlmError::Http {
                status: 500,
                body: k(),
                retry_after: None,
            },
            LlmError::Authentication {
                status: 401,
                body: k(),
            },
            LlmError::QuotaExhausted { body: k() },
            LlmError::ContextLengthExceeded { body: k() },
            LlmError::Truncated { reason: k() },
            LlmError::EmptyCompletion { finish_reason: k() },
            LlmError::InvalidResponse {
                reason: k(),
                body: k(),
            },
            LlmError::LimitExceeded {
                limit: k(),
                detail: k(),
            },
            LlmError::Config { message: k() },
        ];
        for error in errors {
            let shown = format!("{:?}", scrubber.scrub_error(error));
            assert!(!shown.contains("sk-secret-1"), "{shown}");
        }
        assert!(Scrubber::new([]).is_empty());
    }

    #[test]
    fn api_key_never_prints() {
        let key = ApiKey::from("sk-abc");
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        assert_eq!(key.expose_secret(), "sk-abc");
        assert!(ApiKey::new("  ").is_blank() && !key.is_blank());
    }
}
