//! The chat-completions stream: one `chat.completion.chunk` per server-sent event, ended by
//! `data: [DONE]`. Pure, like [`crate::codec`].
//!
//! Each chunk may carry the model, `choices[0].delta.content` (the text), `reasoning_content`
//! (left out, as in a plain response), `choices[0].finish_reason`, and, with
//! `stream_options.include_usage`, a last chunk with no choices and the call's `usage`. An
//! error object in a chunk is the typed error of a body error.

use rlm_core::LlmError;
use rlm_http::codec;
use rlm_http::sse::SseEvent;
use rlm_http::stream::StreamState;
use serde::Deserialize;
use serde_json::Value;

use crate::codec::{WireUsage, content_text};
use crate::error_body::{self, ErrorInfo};

#[derive(Deserialize)]
struct Chunk {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<Value>,
}

/// Takes one event into `state`; returns the text it adds. `[DONE]` (or a finish reason: some
/// servers leave `[DONE]` out) marks the stream complete.
pub fn decode_event(event: &SseEvent, state: &mut StreamState) -> Result<Option<String>, LlmError> {
    let data = event.data.trim();
    if data == "[DONE]" {
        state.done = true;
        return Ok(None);
    }
    if data.is_empty() {
        return Ok(None);
    }
    // Most events are plain chunks: parsed straight into one; only an event that names an
    // error goes through the error-object rules.
    if data.contains("\"error\"") {
        let value: Value = serde_json::from_str(data).map_err(|e| {
            codec::invalid(format!("a stream event is not JSON: {e}"), data.as_bytes())
        })?;
        if let Some(info) = ErrorInfo::from_json(&value) {
            return Err(error_body::classify_body_error(&info, data));
        }
    }
    let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
        codec::invalid(
            format!("a stream event is not a chat completion chunk: {e}"),
            data.as_bytes(),
        )
    })?;
    if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
        state.model = Some(model);
    }
    if let Some(usage) = chunk.usage {
        state.usage = usage.into_usage();
    }
    let Some(choice) = chunk.choices.into_iter().next() else {
        return Ok(None);
    };
    if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
        state.finish_reason = Some(reason);
        state.done = true;
    }
    let text = content_text(choice.delta.as_ref().and_then(|d| d.content.as_ref()))
        .map_err(|reason| codec::invalid(reason, data.as_bytes()))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn feed(events: &[&str]) -> (Vec<String>, StreamState) {
        let mut state = StreamState::default();
        let mut deltas = Vec::new();
        for data in events {
            let event = SseEvent {
                event: None,
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
    fn chunks_give_text_finish_and_usage() {
        let (deltas, state) = feed(&[
            r#"{"model":"gpt-x","choices":[{"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"hmm"},"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{"content":"Hel"},"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":3}}}"#,
            "[DONE]",
        ]);
        assert_eq!(deltas, vec!["", "Hel", "lo"]);
        assert!(state.done);
        assert_eq!(state.model.as_deref(), Some("gpt-x"));
        assert_eq!(state.finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            (
                state.usage.input_tokens,
                state.usage.output_tokens,
                state.usage.cached_tokens
            ),
            (7, 2, 3)
        );
    }

    #[test]
    fn an_error_chunk_is_typed() {
        let mut state = StreamState::default();
        let event = SseEvent {
            event: None,
            data: r#"{"error":{"message":"overloaded","type":"server_error","code":503}}"#.into(),
        };
        assert!(matches!(
            decode_event(&event, &mut state),
            Err(LlmError::Http { status: 503, .. })
        ));
        let junk = SseEvent {
            event: None,
            data: "not json".into(),
        };
        assert!(matches!(
            decode_event(&junk, &mut state),
            Err(LlmError::InvalidResponse { .. })
        ));
    }
}
