//! The retry hints a response carries and the facts about statuses and messages every codec
//! classifies by: `Retry-After` / `retry-after-ms` and `x-should-retry` parsing, which statuses
//! are worth retrying, and whether an error message is about the context length. Pure functions
//! over header strings, status codes and durations.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use rlm_http::hints::{is_retryable_status, retry_after, should_retry};
//!
//! let headers = [("retry-after", "2"), ("x-should-retry", "true")];
//! let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
//! assert_eq!(retry_after(get, SystemTime::now()), Some(Duration::from_secs(2)));
//! assert_eq!(should_retry(get("x-should-retry")), Some(true));
//! assert!(is_retryable_status(529) && !is_retryable_status(400));
//! ```

use std::time::{Duration, SystemTime};

/// Phrases (lower-case) by which servers say the prompt does not fit the context window:
/// OpenAI's `context_length_exceeded` code, vLLM's "maximum context length is N tokens",
/// Anthropic's "prompt is too long", llama.cpp's `exceed_context_size_error`, Gemini's "input
/// token count (N) exceeds the maximum number of tokens allowed".
const CONTEXT_LENGTH_MARKERS: &[&str] = &[
    "maximum context length",
    "context_length_exceeded",
    "prompt is too long",
    "exceeds the context window",
    "exceed_context_size",
    "exceeds the available context size",
    "exceeds the maximum number of tokens allowed",
];

/// Whether a response with this status is worth retrying: 408, 409, 429 and every 5xx
/// (Anthropic's 529 `overloaded_error` included).
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// Whether an error message says the prompt exceeded the model's context window.
pub fn mentions_context_length(text: &str) -> bool {
    let lower = text.to_lowercase();
    CONTEXT_LENGTH_MARKERS.iter().any(|m| lower.contains(m))
}

/// The wait a response asks for, from its headers (`header(name)` returns the value of the
/// lower-case header `name`): `retry-after-ms` (milliseconds, float), else `retry-after` as
/// seconds (integer or float) or as an HTTP date. `None` when absent, unparsable, zero,
/// negative or in the past (the caller then uses its own backoff). A value too large for a
/// `Duration` becomes [`Duration::MAX`], so it is refused by any cap.
pub fn retry_after<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
    now: SystemTime,
) -> Option<Duration> {
    let text = |name: &str| header(name).map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return positive_secs(ms / 1000.0);
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return positive_secs(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    at.duration_since(now).ok().filter(|d| !d.is_zero())
}

/// A positive number of seconds as a [`Duration`] (`None` for zero, negative or NaN; too large
/// saturates to [`Duration::MAX`]).
pub fn positive_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs <= 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// The server's explicit verdict in `x-should-retry: true|false` (given the header's value),
/// which overrides every other rule.
pub fn should_retry(value: Option<&str>) -> Option<bool> {
    match value?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let in_5s = httpdate::fmt_http_date(now + Duration::from_secs(5));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(5));
        type Case<'a> = (Vec<(&'a str, &'a str)>, Option<Duration>);
        let cases: Vec<Case<'_>> = vec![
            (vec![], None),
            (
                vec![("retry-after-ms", "1500")],
                Some(Duration::from_millis(1500)),
            ),
            (
                vec![("retry-after-ms", "250.5"), ("retry-after", "9")],
                Some(Duration::from_micros(250_500)),
            ),
            (
                vec![("retry-after-ms", "junk"), ("retry-after", "2")],
                Some(Duration::from_secs(2)),
            ),
            (
                vec![("retry-after", " 0.5 ")],
                Some(Duration::from_millis(500)),
            ),
            (vec![("retry-after", "0")], None),
            (vec![("retry-after", "-3")], None),
            (vec![("retry-after", "1e300")], Some(Duration::MAX)),
            (
                vec![("retry-after", in_5s.as_str())],
                Some(Duration::from_secs(5)),
            ),
            (vec![("retry-after", past.as_str())], None),
            (vec![("retry-after", "soon")], None),
        ];
        for (pairs, want) in cases {
            assert_eq!(retry_after(lookup(&pairs), now), want, "{pairs:?}");
        }
    }

    #[test]
    fn should_retry_header() {
        assert_eq!(should_retry(Some("true")), Some(true));
        assert_eq!(should_retry(Some(" false ")), Some(false));
        assert_eq!(should_retry(Some("maybe")), None);
        assert_eq!(should_retry(None), None);
    }

    #[test]
    fn retryable_statuses_and_context_markers() {
        let retryable: Vec<u16> = [400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 503, 529]
            .into_iter()
            .filter(|s| is_retryable_status(*s))
            .collect();
        assert_eq!(retryable, vec![408, 409, 429, 500, 503, 529]);
        assert!(mentions_context_length(
            "prompt is too long: 209353 tokens > 199999 maximum"
        ));
        assert!(mentions_context_length(
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
        ));
        assert!(!mentions_context_length("bad temperature"));
    }
}
