//! The Messages API stream: `message_start` (model and prompt usage), `content_block_start`,
//! `content_block_delta` (`text_delta` is text; `thinking_delta` and tool input are left out,
//! as in a plain response), `content_block_stop`, `message_delta` (`stop_reason` and the output
//! usage), `message_stop` (the end), `ping`, and `error`. Pure, like [`crate::codec`].

use rlm_core::LlmError;
use rlm_http::codec;
use rlm_http::sse::SseEvent;
use rlm_http::stream::StreamState;
use serde_json::Value;

use crate::codec::WireUsage;
use crate::error_body::{self, ErrorInfo};

/// Merges the usage fields an event carries into `state` (each event reports running totals).
fn merge_usage(state: &mut StreamState, usage: Option<&Value>) -> Result<(), serde_json::Error> {
    let Some(usage) = usage else { return Ok(()) };
    let wire: WireUsage = serde_json::from_value(usage.clone())?;
    let has_input = usage.get("input_tokens").is_some_and(|v| !v.is_null());
    let new = wire.into_usage();
    if has_input {
        state.usage.input_tokens = new.input_tokens;
        state.usage.cached_tokens = new.cached_tokens;
    }
    if usage.get("output_tokens").is_some_and(|v| !v.is_null()) {
        state.usage.output_tokens = new.output_tokens;
    }
    Ok(())
}

/// Takes one event into `state`; returns the text it adds. `message_stop` ends the stream;
/// an `error` event is the typed error of its kind (`overloaded_error`, ...).
pub fn decode_event(event: &SseEvent, state: &mut StreamState) -> Result<Option<String>, LlmError> {
    let data = event.data.trim();
    if data.is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(data)
        .map_err(|e| codec::invalid(format!("a stream event is not JSON: {e}"), data.as_bytes()))?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .or(event.event.as_deref())
        .unwrap_or_default();
    let bad =
        |e: serde_json::Error| codec::invalid(format!("bad {kind} event: {e}"), data.as_bytes());
    match kind {
        "error" => {
            let info = ErrorInfo::from_json(&value).unwrap_or_default();
            Err(error_body::classify_body_error(&info, data))
        }
        "message_start" => {
            let message = value.get("message");
            if let Some(model) = message
                .and_then(|m| m.get("model"))
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
            {
                state.model = Some(model.to_string());
            }
            merge_usage(state, message.and_then(|m| m.get("usage"))).map_err(bad)?;
            Ok(None)
        }
        "content_block_start" => {
            let block = value.get("content_block");
            let is_text = block.and_then(|b| b.get("type")).and_then(Value::as_str) == Some("text");
            Ok(block
                .filter(|_| is_text)
                .and_then(|b| b.get("text"))
                .and_then(Value::as_str)
                .map(str::to_string))
        }
        "content_block_delta" => {
            let delta = value.get("delta");
            let is_text =
                delta.and_then(|d| d.get("type")).and_then(Value::as_str) == Some("text_delta");
            Ok(delta
                .filter(|_| is_text)
                .and_then(|d| d.get("text"))
                .and_then(Value::as_str)
                .map(str::to_string))
        }
        "message_delta" => {
            if let Some(reason) = value
                .get("delta")
                .and_then(|d| d.get("stop_reason"))
                .and_then(Value::as_str)
            {
                state.finish_reason = Some(reason.to_string());
            }
            merge_usage(state, value.get("usage")).map_err(bad)?;
            Ok(None)
        }
        "message_stop" => {
            state.done = true;
            Ok(None)
        }
        _ => Ok(None), // ping, content_block_stop, and event types added later
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn feed(events: &[(&str, &str)]) -> (Vec<String>, StreamState) {
        let mut state = StreamState::default();
        let mut deltas = Vec::new();
        for (name, data) in events {
            let event = SseEvent {
                event: Some(name.to_string()),
                data: data.to_string(),
            };
            if let Some(d) = decode_event(&event, &mut state).unwrap() {
                state.text.push_str(&d);
                deltas.push(d);
            }
        }
        (deltas, state)
    }

    #[test]
    fn events_give_text_stop_reason_and_usage() {
        let (deltas, state) = feed(&[
            (
                "message_start",
                r#"{"type":"message_start","message":{"model":"claude-x","content":[],"usage":{"input_tokens":5,"cache_read_input_tokens":20,"cache_creation_input_tokens":3,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            ),
            ("ping", r#"{"type":"ping"}"#),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":" there"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":1}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ]);
        assert_eq!(deltas, vec!["", "Hi", " there"]);
        assert!(state.done);
        assert_eq!(state.model.as_deref(), Some("claude-x"));
        assert_eq!(state.finish_reason.as_deref(), Some("end_turn"));
        assert_eq!(
            (
                state.usage.input_tokens,
                state.usage.output_tokens,
                state.usage.cached_tokens
            ),
            (28, 9, 20)
        );
    }

    #[test]
    fn an_error_event_is_typed() {
        let mut state = StreamState::default();
        let event = SseEvent {
            event: Some("error".into()),
            data: r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                .into(),
        };
        assert!(matches!(
            decode_event(&event, &mut state),
            Err(LlmError::Http { status: 529, .. })
        ));
    }
}
