//! The pieces of encoding, decoding and classification that are the same for every codec: the
//! model a request goes to, the sampling checks, the JSON body in and out (with the error
//! object a server may put inside an HTTP 200), the finish-reason rules and the status rules
//! every provider shares. Pure functions; a codec calls them and adds what is its own.
//!
//! ```
//! use rlm_core::LlmError;
//! use rlm_http::codec;
//!
//! assert!(matches!(codec::classify_status(401, "no", None), LlmError::Authentication { .. }));
//! let err = codec::classify_status(400, "This model's maximum context length is 4096", None);
//! assert!(matches!(err, LlmError::ContextLengthExceeded { .. }));
//! ```

use std::time::Duration;

use reqwest::Url;
use rlm_core::{CompletionRequest, CompletionResponse, FinishReason, LlmError, Role, Usage};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::hints::{is_retryable_status, mentions_context_length};
use crate::redact::{snippet, snippet_bytes};

/// [`LlmError::Config`] with `message`.
pub fn config_error(message: impl Into<String>) -> LlmError {
    LlmError::Config {
        message: message.into(),
    }
}

/// [`LlmError::InvalidResponse`] for `body`, cut to a snippet.
pub fn invalid(reason: impl Into<String>, body: &[u8]) -> LlmError {
    LlmError::InvalidResponse {
        reason: reason.into(),
        body: snippet_bytes(body),
    }
}

/// The model a request goes to: its own `model`, or `default_model`.
pub fn request_model<'a>(request: &'a CompletionRequest, default_model: &'a str) -> &'a str {
    request
        .model
        .as_deref()
        .filter(|m| !m.is_empty())
        .unwrap_or(default_model)
}

/// The model a request goes to, which must be named (by the request or the client).
pub fn named_model<'a>(
    request: &'a CompletionRequest,
    default_model: &'a str,
) -> Result<&'a str, LlmError> {
    let model = request_model(request, default_model);
    if model.is_empty() {
        return Err(config_error(
            "no model named: set one on the client or the request",
        ));
    }
    Ok(model)
}

/// Fails with [`LlmError::Config`] when `temperature` or `top_p` is set and not finite.
pub fn check_sampling(request: &CompletionRequest) -> Result<(), LlmError> {
    for (name, value) in [
        ("temperature", request.sampling.temperature),
        ("top_p", request.sampling.top_p),
    ] {
        if value.is_some_and(|v| !v.is_finite()) {
            return Err(config_error(format!("{name} must be a finite number")));
        }
    }
    Ok(())
}

/// A conversation as APIs without a `system` role take it (Anthropic, Gemini).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemAndTurns {
    /// The system messages, wherever they were, joined by a blank line (`None`: there were none).
    pub system: Option<String>,
    /// The other messages in order, consecutive messages of the same role merged into one
    /// (joined by a blank line), so that the roles alternate. Never empty.
    pub turns: Vec<(Role, String)>,
}

/// The system prompt and the turns of `request` (see [`SystemAndTurns`]). Fails with
/// [`LlmError::Config`] (saying `needs`) when there is no user or assistant message.
pub fn system_and_turns(
    request: &CompletionRequest,
    needs: &str,
) -> Result<SystemAndTurns, LlmError> {
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let mut turns: Vec<(Role, String)> = Vec::new();
    for message in request.messages.iter().filter(|m| m.role != Role::System) {
        match turns.last_mut() {
            Some((role, text)) if *role == message.role => {
                text.push_str("\n\n");
                text.push_str(&message.content);
            }
            _ => turns.push((message.role, message.content.clone())),
        }
    }
    if turns.is_empty() {
        return Err(config_error(needs));
    }
    Ok(SystemAndTurns {
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        turns,
    })
}

/// `wire` as a JSON body.
pub fn encode_json(wire: &impl Serialize) -> Result<Vec<u8>, LlmError> {
    serde_json::to_vec(wire).map_err(|e| config_error(format!("could not encode the request: {e}")))
}

/// Parses a 2xx `body` as JSON and then as `T` (named `what` in errors), after asking
/// `error_in_body(json, body_text)` whether the body is an error object instead (which is then
/// the result). A body that is not JSON, or not a `T`, is [`LlmError::InvalidResponse`].
pub fn decode_json<T: DeserializeOwned>(
    body: &[u8],
    what: &str,
    error_in_body: impl FnOnce(&Value, &str) -> Option<LlmError>,
) -> Result<T, LlmError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("body is not JSON ({e})"), body))?;
    if let Some(error) = error_in_body(&value, &String::from_utf8_lossy(body)) {
        return Err(error);
    }
    serde_json::from_value(value).map_err(|e| invalid(format!("body is not {what} ({e})"), body))
}

/// Fails for a finish reason that means the answer is unusable: [`FinishReason::Length`] is
/// [`LlmError::Truncated`] (with `truncated_reason()`), [`FinishReason::ContentFilter`] is
/// [`LlmError::ContentFilter`].
pub fn check_finish(
    finish: &FinishReason,
    truncated_reason: impl FnOnce() -> String,
) -> Result<(), LlmError> {
    match finish {
        FinishReason::Length => Err(LlmError::Truncated {
            reason: truncated_reason(),
        }),
        FinishReason::ContentFilter => Err(LlmError::ContentFilter),
        _ => Ok(()),
    }
}

/// The response: `text` (empty text is [`LlmError::EmptyCompletion`] with `raw_reason`, or
/// `unknown`), the model the body names (else `requested_model`), the finish reason and usage.
pub fn completion(
    model: Option<String>,
    requested_model: &str,
    text: String,
    raw_reason: Option<String>,
    finish_reason: FinishReason,
    usage: Usage,
) -> Result<CompletionResponse, LlmError> {
    if text.is_empty() {
        return Err(LlmError::EmptyCompletion {
            finish_reason: raw_reason.unwrap_or_else(|| "unknown".into()),
        });
    }
    Ok(CompletionResponse {
        model: model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested_model.to_string()),
        text,
        finish_reason,
        usage,
    })
}

/// The rules every provider's error statuses follow (a codec checks its own cases first):
///
/// - 401, 403: [`LlmError::Authentication`];
/// - a 4xx (other than 408, 409, 429) whose text mentions the context length:
///   [`LlmError::ContextLengthExceeded`];
/// - anything else: [`LlmError::Http`] with `retry_after` (retried when the status is).
///
/// Bodies are cut to 2 KiB.
pub fn classify_status(status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
    let body_snippet = snippet(body);
    match status {
        401 | 403 => LlmError::Authentication {
            status,
            body: body_snippet,
        },
        400..=499 if !is_retryable_status(status) && mentions_context_length(body) => {
            LlmError::ContextLengthExceeded { body: body_snippet }
        }
        _ => LlmError::Http {
            status,
            body: body_snippet,
            retry_after,
        },
    }
}

/// `error.field` as text: a string as is, a number written out; `None` otherwise.
pub fn text_field(error: &Value, field: &str) -> Option<String> {
    match error.get(field) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// `base` with `segments` appended to its path (a trailing `/` of the base is dropped first).
pub fn join_path<'a>(
    base: &Url,
    segments: impl IntoIterator<Item = &'a str>,
) -> Result<Url, LlmError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| config_error("base URL cannot take a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The path segments of `base`, without the empty one a trailing `/` leaves.
fn segments(base: &Url) -> Vec<&str> {
    let mut segments: Vec<&str> = base
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    while segments.last() == Some(&"") {
        segments.pop();
    }
    segments
}

/// Whether the path of `base` is empty (`http://host` or `http://host/`).
pub fn path_is_empty(base: &Url) -> bool {
    segments(base).is_empty()
}

/// `base` without `suffix` at the end of its path (segments compared ignoring ASCII case, a
/// trailing `/` ignored), or `None` when its path does not end so. Base-URL conventions use it:
/// a user who copied `https://api.anthropic.com/v1` means the API's root.
pub fn strip_path_suffix(base: &Url, suffix: &[&str]) -> Option<Url> {
    let segments = segments(base);
    let keep = segments.len().checked_sub(suffix.len())?;
    let (head, tail) = segments.split_at(keep);
    if !tail
        .iter()
        .zip(suffix)
        .all(|(have, want)| have.eq_ignore_ascii_case(want))
    {
        return None;
    }
    let mut url = base.clone();
    url.set_path(&head.join("/"));
    Some(url)
}

/// The last path segment of `base` (a trailing `/` ignored), if any.
pub fn last_path_segment(base: &Url) -> Option<&str> {
    segments(base).last().copied()
}

/// The trimmed value of `name` from `lookup`; empty values count as unset.
pub fn env_value(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use rlm_core::Message;

    use super::*;

    #[test]
    fn shared_status_rules() {
        let cases: &[(u16, &str, &str)] = &[
            (401, "{}", "auth"),
            (403, "forbidden", "auth"),
            (
                400,
                "prompt is too long: 209353 tokens > 199999 maximum",
                "context",
            ),
            (413, "Prompt is too long", "context"),
            (429, "maximum context length", "http"),
            (500, "maximum context length", "http"),
            (404, "<html>not found</html>", "http"),
        ];
        for (status, body, want) in cases {
            let got = match classify_status(*status, body, None) {
                LlmError::Authentication { .. } => "auth",
                LlmError::ContextLengthExceeded { .. } => "context",
                LlmError::Http { .. } => "http",
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(got, *want, "{status} {body}");
        }
        match classify_status(500, &"x".repeat(10_000), None) {
            LlmError::Http { body, .. } => assert_eq!(body.len(), crate::MAX_BODY_SNIPPET),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requests_need_a_model_and_finite_sampling() {
        let req = CompletionRequest::new(vec![Message::user("u")]);
        assert_eq!(named_model(&req, "m"), Ok("m"));
        assert_eq!(named_model(&req.clone().with_model("x"), "m"), Ok("x"));
        assert!(matches!(
            named_model(&req, ""),
            Err(LlmError::Config { .. })
        ));
        let nan = CompletionRequest {
            sampling: rlm_core::Sampling {
                top_p: Some(f32::NAN),
                ..rlm_core::Sampling::default()
            },
            ..req
        };
        assert!(matches!(check_sampling(&nan), Err(LlmError::Config { .. })));
    }

    #[test]
    fn completions_need_text() {
        let empty = completion(
            None,
            "m",
            String::new(),
            None,
            FinishReason::Stop,
            Usage::default(),
        );
        assert_eq!(
            empty,
            Err(LlmError::EmptyCompletion {
                finish_reason: "unknown".into()
            })
        );
        let ok = completion(
            Some(String::new()),
            "m",
            "t".into(),
            None,
            FinishReason::Stop,
            Usage::default(),
        );
        assert_eq!(ok.map(|r| r.model), Ok("m".to_string()));
        assert_eq!(
            check_finish(&FinishReason::ContentFilter, String::new),
            Err(LlmError::ContentFilter)
        );
    }

    #[test]
    fn path_suffixes_are_stripped_only_when_present() {
        let url = |s: &str| Url::parse(s).unwrap();
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            ("http://h/v1", &["v1"], Some("http://h/")),
            ("http://h/v1/", &["v1"], Some("http://h/")),
            ("http://h/V1", &["v1"], Some("http://h/")),
            (
                "http://h/api/v1/messages",
                &["v1", "messages"],
                Some("http://h/api"),
            ),
            ("http://h/api/v1x", &["v1"], None),
            ("http://h/", &["v1"], None),
            ("http://h/v1?x=1", &["v1"], Some("http://h/?x=1")),
        ];
        for (base, suffix, expected) in cases {
            let got = strip_path_suffix(&url(base), suffix).map(|u| u.to_string());
            assert_eq!(got.as_deref(), *expected, "{base} - {suffix:?}");
        }
        assert!(path_is_empty(&url("http://h")));
        assert!(path_is_empty(&url("http://h/")));
        assert!(!path_is_empty(&url("http://h/v1")));
        assert_eq!(
            last_path_segment(&url("http://h/a/v1beta/")),
            Some("v1beta")
        );
        assert_eq!(last_path_segment(&url("http://h/")), None);
    }
}
