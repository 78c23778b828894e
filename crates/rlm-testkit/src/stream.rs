//! Streamed completions: a [`Reply`] completion served to a request that asks for a stream
//! (`"stream": true` in the body, or Gemini's `:streamGenerateContent` path) goes out as
//! server-sent events in its provider's format, the text cut into word-sized deltas: OpenAI
//! `chat.completion.chunk`s ended by `[DONE]` (with a usage chunk when
//! `stream_options.include_usage` is set), Anthropic's `message_start` ... `message_stop`, or
//! Gemini `GenerateContentResponse`s. The modifiers here script the streaming faults.

use serde_json::{Value, json};

use crate::reply::{ChatReply, RecordedRequest, Reply};
use crate::wire::{self, Wire};

impl RecordedRequest {
    /// Whether the request asks for a stream: `"stream": true` in its JSON body (OpenAI,
    /// Anthropic) or a `:streamGenerateContent` path (Gemini).
    pub fn wants_stream(&self) -> bool {
        self.json
            .as_ref()
            .and_then(|j| j.get("stream"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || self.path.contains(":streamGenerateContent")
    }

    /// Whether an OpenAI stream should end with a usage chunk
    /// (`stream_options.include_usage`).
    fn wants_stream_usage(&self) -> bool {
        self.json
            .as_ref()
            .and_then(|j| j.pointer("/stream_options/include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

impl Reply {
    /// Answers with the plain JSON completion even when the request asks for a stream (a
    /// server that does not stream).
    pub fn plain_json(mut self) -> Self {
        if let Some(chat) = self.chat_mut() {
            chat.plain = true;
        }
        self
    }

    /// When served as a stream, sends only the first `events` events (the full length is
    /// announced), then closes the connection: a stream dropped in the middle.
    pub fn cut_stream_after(mut self, events: usize) -> Self {
        self.cut_events = Some(events);
        self
    }
}

/// The words of `text`, each with the spaces after it (the deltas of a stream).
fn deltas(text: &str) -> Vec<&str> {
    text.split_inclusive(' ').collect()
}

fn event(out: &mut Vec<u8>, name: Option<&str>, data: &Value) {
    if let Some(name) = name {
        out.extend_from_slice(format!("event: {name}\n").as_bytes());
    }
    out.extend_from_slice(format!("data: {data}\n\n").as_bytes());
}

/// The body of a streamed `chat` for `request`, in the reply's wire format.
pub(crate) fn render(chat: &ChatReply, request: &RecordedRequest, id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let model = wire::reply_model(chat, request);
    match chat.wire {
        Wire::OpenAi => openai(&mut out, chat, request, &model, id),
        Wire::Anthropic => anthropic(&mut out, chat, &model, id),
        Wire::Gemini => gemini(&mut out, chat, &model, id),
    }
    out
}

/// The byte length of the first `events` events of a rendered stream.
pub(crate) fn events_len(body: &[u8], events: usize) -> usize {
    let mut seen = 0;
    let mut at = 0;
    while seen < events {
        match body[at..].windows(2).position(|w| w == b"\n\n") {
            Some(i) => {
                at += i + 2;
                seen += 1;
            }
            None => return body.len(),
        }
    }
    at
}

fn openai(out: &mut Vec<u8>, chat: &ChatReply, request: &RecordedRequest, model: &str, id: u64) {
    let chunk = |choices: Value| {
        json!({
            "id": format!("chatcmpl-fake-{id}"),
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": choices,
        })
    };
    let delta = |content: Value, finish: Option<&str>| json!([{ "index": 0, "delta": content, "finish_reason": finish }]);
    event(
        out,
        None,
        &chunk(delta(json!({"role": "assistant", "content": ""}), None)),
    );
    for piece in deltas(&chat.text) {
        event(out, None, &chunk(delta(json!({ "content": piece }), None)));
    }
    event(
        out,
        None,
        &chunk(delta(json!({}), chat.finish_reason.as_deref())),
    );
    if request.wants_stream_usage() {
        let mut last = chunk(json!([]));
        last["usage"] = json!({
            "prompt_tokens": chat.prompt_tokens,
            "completion_tokens": chat.completion_tokens,
            "total_tokens": chat.prompt_tokens.saturating_add(chat.completion_tokens),
        });
        if let Some(cached) = chat.cached_tokens {
            last["usage"]["prompt_tokens_details"] = json!({ "cached_tokens": cached });
        }
        if let Some(cost) = chat.cost {
            last["usage"]["cost"] = json!(cost);
        }
        event(out, None, &last);
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
}

fn anthropic(out: &mut Vec<u8>, chat: &ChatReply, model: &str, id: u64) {
    let full = wire::anthropic_json(chat, model.to_string(), id);
    let mut start = full.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"]["output_tokens"] = json!(1);
    event(
        out,
        Some("message_start"),
        &json!({"type": "message_start", "message": start}),
    );
    event(
        out,
        Some("content_block_start"),
        &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    event(out, Some("ping"), &json!({"type": "ping"}));
    for piece in deltas(&chat.text) {
        event(
            out,
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        );
    }
    event(
        out,
        Some("content_block_stop"),
        &json!({"type": "content_block_stop", "index": 0}),
    );
    event(
        out,
        Some("message_delta"),
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": chat.finish_reason, "stop_sequence": null},
            "usage": {"output_tokens": chat.completion_tokens},
        }),
    );
    event(out, Some("message_stop"), &json!({"type": "message_stop"}));
}

fn gemini(out: &mut Vec<u8>, chat: &ChatReply, model: &str, id: u64) {
    let full = wire::gemini_json(chat, model.to_string(), id);
    let pieces = deltas(&chat.text);
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.iter().enumerate() {
        let mut candidate = json!({
            "content": {"parts": [{"text": piece}], "role": "model"},
            "index": 0,
        });
        let mut response = json!({"modelVersion": model, "responseId": full["responseId"]});
        if i == last {
            candidate["finishReason"] = json!(chat.finish_reason);
            response["usageMetadata"] = full["usageMetadata"].clone();
        } else {
            response["usageMetadata"] = json!({"promptTokenCount": chat.prompt_tokens});
        }
        response["candidates"] = json!([candidate]);
        event(out, None, &response);
    }
    if pieces.is_empty() {
        event(out, None, &full);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_by_their_blank_lines() {
        let body = b"data: a\n\ndata: b\n\ndata: c\n\n";
        assert_eq!(events_len(body, 0), 0);
        assert_eq!(events_len(body, 1), 9);
        assert_eq!(events_len(body, 2), 18);
        assert_eq!(events_len(body, 9), body.len());
        assert_eq!(deltas("a b  c"), vec!["a ", "b ", " ", "c"]);
    }
}
