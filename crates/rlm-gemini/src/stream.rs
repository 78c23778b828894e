//! The `streamGenerateContent` stream (`?alt=sse`): one `GenerateContentResponse` per event,
//! each with the next piece of the first candidate's text and the usage so far; the last one
//! has the `finishReason`. There is no end marker: a finish reason ends the stream. Pure, like
//! [`crate::codec`].

use rlm_core::LlmError;
use rlm_http::Url;
use rlm_http::codec;
use rlm_http::sse::SseEvent;
use rlm_http::stream::StreamState;
use serde_json::Value;

use crate::error_body::{self, ErrorInfo};

/// The streaming URL of a `...:generateContent` URL: `...:streamGenerateContent?alt=sse`
/// (other query pairs kept).
pub fn stream_url(mut url: Url) -> Url {
    let path = url.path().to_string();
    if let Some(prefix) = path.strip_suffix(":generateContent") {
        url.set_path(&format!("{prefix}:streamGenerateContent"));
    }
    url.query_pairs_mut().append_pair("alt", "sse");
    url
}

fn count(usage: &Value, field: &str) -> u64 {
    usage.get(field).and_then(Value::as_u64).unwrap_or(0)
}

/// Takes one event into `state`; returns the text it adds (thought summaries left out). A
/// `finishReason` ends the stream; a blocked prompt is [`LlmError::ContentFilter`]; an error
/// object is the typed error of its code.
pub fn decode_event(event: &SseEvent, state: &mut StreamState) -> Result<Option<String>, LlmError> {
    let data = event.data.trim();
    if data.is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(data)
        .map_err(|e| codec::invalid(format!("a stream event is not JSON: {e}"), data.as_bytes()))?;
    if let Some(info) = ErrorInfo::from_json(&value) {
        return Err(error_body::classify_body_error(&info, data));
    }
    if let Some(model) = value
        .get("modelVersion")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    {
        state.model = Some(model.to_string());
    }
    if let Some(usage) = value.get("usageMetadata") {
        state.usage.input_tokens = count(usage, "promptTokenCount");
        state.usage.output_tokens =
            count(usage, "candidatesTokenCount").saturating_add(count(usage, "thoughtsTokenCount"));
        state.usage.cached_tokens = count(usage, "cachedContentTokenCount");
    }
    let Some(candidate) = value
        .get("candidates")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
    else {
        let blocked = value
            .get("promptFeedback")
            .and_then(|f| f.get("blockReason"))
            .and_then(Value::as_str)
            .is_some_and(|r| !r.is_empty() && r != "BLOCK_REASON_UNSPECIFIED");
        return if blocked {
            Err(LlmError::ContentFilter)
        } else {
            Ok(None)
        };
    };
    if let Some(reason) = candidate
        .get("finishReason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        state.finish_reason = Some(reason.to_string());
        state.done = true;
    }
    let text: String = candidate
        .get("content")
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_url_names_the_stream_method() {
        let url = Url::parse("http://h/v1beta/models/g-1:generateContent").unwrap();
        assert_eq!(
            stream_url(url).as_str(),
            "http://h/v1beta/models/g-1:streamGenerateContent?alt=sse"
        );
    }

    #[test]
    fn events_give_text_finish_and_usage() {
        let mut state = StreamState::default();
        let events = [
            r#"{"candidates":[{"content":{"parts":[{"text":"plan","thought":true}],"role":"model"}}],"modelVersion":"g-1"}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":4}}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"thoughtsTokenCount":1}}"#,
        ];
        let mut deltas = Vec::new();
        for data in events {
            let event = SseEvent {
                event: None,
                data: data.into(),
            };
            deltas.push(decode_event(&event, &mut state).unwrap().unwrap());
        }
        assert_eq!(deltas, vec!["", "Hel", "lo"]);
        assert!(state.done);
        assert_eq!(state.model.as_deref(), Some("g-1"));
        assert_eq!(
            (state.usage.input_tokens, state.usage.output_tokens),
            (4, 3)
        );
        let blocked = SseEvent {
            event: None,
            data: r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#.into(),
        };
        assert_eq!(
            decode_event(&blocked, &mut StreamState::default()),
            Err(LlmError::ContentFilter)
        );
    }
}
