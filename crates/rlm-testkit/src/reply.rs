//! What the fake server answers: scripted [`Reply`] values, the [`Script`] that hands them out,
//! and the [`RecordedRequest`] each answer can depend on.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::wire::{self, Wire};

/// One request as the fake server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The request method (`POST`).
    pub method: String,
    /// The request target as sent (`/v1/chat/completions`, query string included).
    pub path: String,
    /// Headers with lower-cased names, in the order received.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// Which connection carried the request (1-based, in accept order); equal ids mean keep-alive
    /// reuse.
    pub connection_id: u64,
}

impl RecordedRequest {
    /// The first value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `model` field of a JSON body, else the model in a Gemini path
    /// (`/v1beta/models/{model}:generateContent`).
    pub fn model(&self) -> Option<&str> {
        self.json
            .as_ref()
            .and_then(|j| j.get("model"))
            .and_then(Value::as_str)
            .or_else(|| wire::gemini_path_model(&self.path))
    }

    /// The text of every message in a JSON body, in order: each `messages[].content` string
    /// (OpenAI, Anthropic), or the joined `parts[].text` of each of Gemini's `contents[]`.
    pub fn message_contents(&self) -> Vec<String> {
        let json = self.json.as_ref();
        if let Some(contents) = json
            .and_then(|j| j.get("contents"))
            .and_then(Value::as_array)
        {
            return contents
                .iter()
                .filter_map(|c| c.get("parts")?.as_array())
                .map(|parts| {
                    parts
                        .iter()
                        .filter_map(|p| p.get("text")?.as_str())
                        .collect()
                })
                .collect();
        }
        let Some(messages) = json
            .and_then(|j| j.get("messages"))
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        messages
            .iter()
            .filter_map(|m| m.get("content")?.as_str().map(str::to_string))
            .collect()
    }
}

/// A normal chat completion, built when it is served so the model can echo the request's.
#[derive(Debug, Clone)]
pub(crate) struct ChatReply {
    pub(crate) text: String,
    pub(crate) model: Option<String>,
    pub(crate) finish_reason: Option<String>,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    pub(crate) cached_tokens: Option<u64>,
    pub(crate) cost: Option<f64>,
    /// Anthropic's `cache_creation_input_tokens`.
    pub(crate) cache_creation_tokens: Option<u64>,
    pub(crate) wire: Wire,
    /// Answer with plain JSON even to a streaming request.
    pub(crate) plain: bool,
}

impl ChatReply {
    pub(crate) fn to_json(&self, request: &RecordedRequest, id: u64) -> Value {
        match self.wire {
            Wire::Anthropic => {
                return wire::anthropic_json(self, wire::reply_model(self, request), id);
            }
            Wire::Gemini => return wire::gemini_json(self, wire::reply_model(self, request), id),
            Wire::OpenAi => {}
        }
        let model = self
            .model
            .clone()
            .or_else(|| request.model().map(str::to_string));
        let mut usage = json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens.saturating_add(self.completion_tokens),
        });
        if let Some(cached) = self.cached_tokens {
            usage["prompt_tokens_details"] = json!({ "cached_tokens": cached });
        }
        if let Some(cost) = self.cost {
            usage["cost"] = json!(cost);
        }
        json!({
            "id": format!("chatcmpl-fake-{id}"),
            "object": "chat.completion",
            "created": 0,
            "model": model.unwrap_or_else(|| Reply::DEFAULT_MODEL.to_string()),
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": self.text },
                "finish_reason": self.finish_reason,
            }],
            "usage": usage,
        })
    }
}

/// How the body of a reply goes out.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Chat(ChatReply),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A status line, headers and a body.
    Response { status: u16, body: Body },
    /// Read the request, never answer (until the client hangs up or the server stops).
    Stall,
    /// Close the connection without sending anything.
    DropBeforeHeaders,
    /// Write these bytes verbatim, then close.
    RawHttp(Vec<u8>),
}

/// One scripted answer of the [`FakeServer`](crate::FakeServer): a normal completion, an error
/// status, or a fault. Modifiers (`header`, `latency`, `trickle`, ...) chain.
///
/// ```
/// use std::time::Duration;
/// use rlm_testkit::Reply;
///
/// let ok = Reply::text("42").usage(120, 3).cached_tokens(100).latency(Duration::from_millis(20));
/// let limited = Reply::status(429, r#"{"error":{"message":"slow down"}}"#).header("retry-after", "2");
/// let slow = Reply::text("a long answer").trickle(4, Duration::from_millis(5));
/// # let _ = (ok, limited, slow);
/// ```
#[derive(Debug, Clone)]
pub struct Reply {
    pub(crate) kind: Kind,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) latency: Option<Duration>,
    /// Write the body in chunks of this many bytes, sleeping between them.
    pub(crate) trickle: Option<(usize, Duration)>,
    /// Send only this many body bytes (the full length is announced), then close.
    pub(crate) cut_at: Option<usize>,
    /// Served as a stream: send only this many events, then close.
    pub(crate) cut_events: Option<usize>,
}

impl Reply {
    /// The model named in a [`Reply::text`] completion when the request named none.
    pub const DEFAULT_MODEL: &'static str = "fake-model";
    /// `usage.prompt_tokens` of a [`Reply::text`] completion unless [`Reply::usage`] says otherwise.
    pub const DEFAULT_PROMPT_TOKENS: u64 = 10;
    /// `usage.completion_tokens` of a [`Reply::text`] completion unless [`Reply::usage`] says
    /// otherwise.
    pub const DEFAULT_COMPLETION_TOKENS: u64 = 5;

    fn new(kind: Kind) -> Self {
        Self {
            kind,
            headers: Vec::new(),
            latency: None,
            trickle: None,
            cut_at: None,
            cut_events: None,
        }
    }

    /// HTTP 200 with a chat completion whose `choices[0].message.content` is `text`,
    /// `finish_reason` `stop`, the request's `model` echoed (or [`Reply::DEFAULT_MODEL`]), and
    /// usage of [`Reply::DEFAULT_PROMPT_TOKENS`] / [`Reply::DEFAULT_COMPLETION_TOKENS`].
    pub fn text(text: impl Into<String>) -> Self {
        Self::completion(Wire::OpenAi, text)
    }

    /// A completion of `text` in the given wire format (see [`Reply::text`],
    /// [`Reply::anthropic_text`], [`Reply::gemini_text`]).
    pub fn completion(wire: Wire, text: impl Into<String>) -> Self {
        Self::new(Kind::Response {
            status: 200,
            body: Body::Chat(ChatReply {
                text: text.into(),
                model: None,
                finish_reason: Some(wire.default_finish_reason().to_string()),
                prompt_tokens: Self::DEFAULT_PROMPT_TOKENS,
                completion_tokens: Self::DEFAULT_COMPLETION_TOKENS,
                cached_tokens: None,
                cost: None,
                cache_creation_tokens: None,
                wire,
                plain: false,
            }),
        })
        .header("content-type", "application/json")
    }

    /// HTTP 200 with an Anthropic Messages API response: `content: [{"type": "text", "text"}]`
    /// (empty when `text` is empty), `stop_reason` `end_turn`, the request's `model` echoed, and
    /// usage as [`Reply::text`]. The modifiers apply: [`Reply::usage`] gives the whole prompt
    /// (the cached parts are taken out of `input_tokens`, as the API reports them),
    /// [`Reply::cached_tokens`] sets `cache_read_input_tokens`,
    /// [`Reply::cache_creation_tokens`] `cache_creation_input_tokens`, and
    /// [`Reply::finish_reason`] `stop_reason` (`max_tokens`, `refusal`, ...).
    pub fn anthropic_text(text: impl Into<String>) -> Self {
        Self::completion(Wire::Anthropic, text)
    }

    /// HTTP 200 with a Gemini `generateContent` response: one candidate with
    /// `content.parts: [{"text"}]` (no `content` when `text` is empty), `finishReason` `STOP`,
    /// `modelVersion` from the request path, and `usageMetadata` (`promptTokenCount`,
    /// `candidatesTokenCount`, and `cachedContentTokenCount` with [`Reply::cached_tokens`]).
    /// [`Reply::finish_reason`] sets `finishReason` (`MAX_TOKENS`, `SAFETY`, ...).
    pub fn gemini_text(text: impl Into<String>) -> Self {
        Self::completion(Wire::Gemini, text)
    }

    /// A response with this status and an Anthropic error body:
    /// `{"type": "error", "error": {"type": kind, "message": message}, "request_id": ...}`
    /// (kinds: `invalid_request_error`, `authentication_error`, `rate_limit_error`,
    /// `overloaded_error`, ...).
    pub fn anthropic_error(code: u16, kind: &str, message: &str) -> Self {
        Self::status(code, wire::anthropic_error_json(kind, message).to_string())
    }

    /// A response with this status and a Google API error body:
    /// `{"error": {"code": code, "message": message, "status": status}}` (statuses:
    /// `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, ...).
    pub fn gemini_error(code: u16, status: &str, message: &str) -> Self {
        Self::status(
            code,
            wire::gemini_error_json(code, status, message).to_string(),
        )
    }

    /// HTTP 200 with this JSON body, sent as is (for bodies [`Reply::text`] cannot express:
    /// `content: null`, no choices, an error object inside a 200, ...).
    pub fn json(body: Value) -> Self {
        Self::new(Kind::Response {
            status: 200,
            body: Body::Bytes(body.to_string().into_bytes()),
        })
        .header("content-type", "application/json")
    }

    /// A response with this status and body. The content type is `application/json` when the
    /// body parses as JSON, `text/plain` otherwise.
    pub fn status(code: u16, body: impl Into<Vec<u8>>) -> Self {
        let body = body.into();
        let content_type = if serde_json::from_slice::<Value>(&body).is_ok() {
            "application/json"
        } else {
            "text/plain"
        };
        Self::new(Kind::Response {
            status: code,
            body: Body::Bytes(body),
        })
        .header("content-type", content_type)
    }

    /// A response with this status and an OpenAI-style error body:
    /// `{"error": {"message": message, "type": kind, "code": kind}}`.
    pub fn openai_error(code: u16, kind: &str, message: &str) -> Self {
        let body =
            json!({ "error": { "message": message, "type": kind, "code": kind, "param": null } });
        Self::status(code, body.to_string())
    }

    /// HTTP 200 with a body that is not JSON (`text/html`), like a proxy's error page.
    pub fn raw(body: impl Into<Vec<u8>>) -> Self {
        Self::new(Kind::Response {
            status: 200,
            body: Body::Bytes(body.into()),
        })
        .header("content-type", "text/html")
    }

    /// Writes these bytes to the socket verbatim (status line and all), then closes the
    /// connection: for responses that are not even valid HTTP.
    pub fn raw_http(bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(Kind::RawHttp(bytes.into()))
    }

    /// Reads the request and never answers; the connection stays open until the client hangs up
    /// or the server shuts down.
    pub fn stall() -> Self {
        Self::new(Kind::Stall)
    }

    /// Reads the request, then closes the connection without sending a byte.
    pub fn drop_before_headers() -> Self {
        Self::new(Kind::DropBeforeHeaders)
    }

    /// A [`Reply::text`] completion whose headers announce the full `Content-Length` but whose
    /// body is cut after half its bytes, then the connection closes.
    pub fn drop_mid_body() -> Self {
        let reply = Self::text("this answer is cut short by the fake server");
        let half = reply.body_len_hint() / 2;
        reply.cut_body_at(half)
    }

    /// A rough body length, used to cut [`Reply::drop_mid_body`] in the middle.
    fn body_len_hint(&self) -> usize {
        match &self.kind {
            Kind::Response {
                body: Body::Bytes(b),
                ..
            } => b.len(),
            Kind::Response {
                body: Body::Chat(c),
                ..
            } => 200 + c.text.len(),
            _ => 0,
        }
    }

    /// Adds a response header (`.header("retry-after", "2")`). A header set this way replaces a
    /// default of the same name (such as `content-type`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// Waits this long (on tokio's clock) after reading the request before answering; overrides
    /// the server's default latency.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Sends the body `bytes_per_chunk` bytes at a time with `interval` between chunks (a slow
    /// body). The headers go out at once.
    pub fn trickle(mut self, bytes_per_chunk: usize, interval: Duration) -> Self {
        self.trickle = Some((bytes_per_chunk.max(1), interval));
        self
    }

    /// Announces the full `Content-Length` but sends only the first `bytes` bytes of the body,
    /// then closes the connection.
    pub fn cut_body_at(mut self, bytes: usize) -> Self {
        self.cut_at = Some(bytes);
        self
    }

    /// Replaces the status code (for example a [`Reply::json`] body with status 400).
    pub fn with_status(mut self, code: u16) -> Self {
        if let Kind::Response { status, .. } = &mut self.kind {
            *status = code;
        }
        self
    }

    pub(crate) fn chat_mut(&mut self) -> Option<&mut ChatReply> {
        match &mut self.kind {
            Kind::Response {
                body: Body::Chat(chat),
                ..
            } => Some(chat),
            _ => None,
        }
    }

    /// Sets `usage.prompt_tokens` and `usage.completion_tokens` (only completions
    /// ([`Reply::text`], [`Reply::anthropic_text`], [`Reply::gemini_text`]) carry usage; other
    /// replies ignore this).
    pub fn usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        if let Some(chat) = self.chat_mut() {
            chat.prompt_tokens = prompt_tokens;
            chat.completion_tokens = completion_tokens;
        }
        self
    }

    /// Sets `usage.prompt_tokens_details.cached_tokens` (Anthropic: `cache_read_input_tokens`;
    /// Gemini: `cachedContentTokenCount`); completions only.
    pub fn cached_tokens(mut self, cached: u64) -> Self {
        if let Some(chat) = self.chat_mut() {
            chat.cached_tokens = Some(cached);
        }
        self
    }

    /// Sets Anthropic's `usage.cache_creation_input_tokens` ([`Reply::anthropic_text`] only).
    pub fn cache_creation_tokens(mut self, tokens: u64) -> Self {
        if let Some(chat) = self.chat_mut() {
            chat.cache_creation_tokens = Some(tokens);
        }
        self
    }

    /// Sets `usage.cost` in USD, as OpenRouter reports it ([`Reply::text`] only).
    pub fn cost(mut self, cost: f64) -> Self {
        if let Some(chat) = self.chat_mut() {
            chat.cost = Some(cost);
        }
        self
    }

    /// Sets `finish_reason` (Anthropic: `stop_reason`; Gemini: `finishReason`); `None` sends
    /// `null`, as Ollama does. Completions only.
    pub fn finish_reason(mut self, reason: Option<&str>) -> Self {
        if let Some(chat) = self.chat_mut() {
            chat.finish_reason = reason.map(str::to_string);
        }
        self
    }

    /// Names this model in the completion instead of echoing the request's (completions
    /// only).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        if let Some(chat) = self.chat_mut() {
            chat.model = Some(model.into());
        }
        self
    }

    /// The answer to a request for a path the server does not serve.
    pub(crate) fn not_found(request: &RecordedRequest) -> Self {
        let message = format!(
            "fake server: no route for {} {}",
            request.method, request.path
        );
        Self::openai_error(404, "not_found", &message)
    }

    /// The answer once the script has nothing left.
    pub(crate) fn exhausted() -> Self {
        Self::status(500, "fake server: script exhausted")
    }
}

type ReplyFn = Arc<dyn Fn(&RecordedRequest) -> Reply + Send + Sync>;

/// What the fake server answers to every `POST` (whatever its path): a FIFO queue of replies, then
/// (when the queue is empty) a function of the request, if one is set. With nothing left the
/// server answers HTTP 500 `fake server: script exhausted` rather than hanging.
///
/// ```
/// use rlm_testkit::{Reply, Script};
///
/// let queued = Script::queue([Reply::status(503, "busy"), Reply::text("ok")]);
/// let echo = Script::from_fn(|req| Reply::text(req.message_contents().join(" | ")));
/// let both = Script::queue([Reply::status(500, "once")]).then_fn(|_| Reply::text("always"));
/// # let _ = (queued, echo, both);
/// ```
#[derive(Clone, Default)]
pub struct Script {
    pub(crate) queue: VecDeque<Reply>,
    pub(crate) fallback: Option<ReplyFn>,
}

impl Script {
    /// An empty script: every request gets the `script exhausted` 500 (until replies are pushed).
    pub fn empty() -> Self {
        Self::default()
    }

    /// These replies, in order.
    pub fn queue(replies: impl IntoIterator<Item = Reply>) -> Self {
        Self {
            queue: replies.into_iter().collect(),
            fallback: None,
        }
    }

    /// Every request is answered by `f`.
    pub fn from_fn(f: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static) -> Self {
        Self {
            queue: VecDeque::new(),
            fallback: Some(Arc::new(f)),
        }
    }

    /// The same reply to every request.
    pub fn always(reply: Reply) -> Self {
        Self::from_fn(move |_| reply.clone())
    }

    /// Answers with `f` once the queue is empty.
    pub fn then_fn(
        mut self,
        f: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    ) -> Self {
        self.fallback = Some(Arc::new(f));
        self
    }

    /// The reply to this request (consuming the queue first).
    pub(crate) fn next(&mut self, request: &RecordedRequest) -> Reply {
        if let Some(reply) = self.queue.pop_front() {
            return reply;
        }
        match &self.fallback {
            Some(f) => f(request),
            None => Reply::exhausted(),
        }
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("queue", &self.queue)
            .field("fallback", &self.fallback.as_ref().map(|_| "Fn"))
            .finish()
    }
}

impl From<Vec<Reply>> for Script {
    fn from(replies: Vec<Reply>) -> Self {
        Self::queue(replies)
    }
}

impl<const N: usize> From<[Reply; N]> for Script {
    fn from(replies: [Reply; N]) -> Self {
        Self::queue(replies)
    }
}

impl From<Reply> for Script {
    fn from(reply: Reply) -> Self {
        Self::queue([reply])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> RecordedRequest {
        RecordedRequest {
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            json: Some(body),
            connection_id: 1,
        }
    }

    #[test]
    fn text_reply_echoes_model_and_carries_usage() {
        let req = request(json!({"model": "m-1", "messages": [{"role": "user", "content": "hi"}]}));
        let Kind::Response {
            status,
            body: Body::Chat(chat),
        } = Reply::text("yo").usage(7, 2).cost(0.5).kind
        else {
            panic!("not a chat reply");
        };
        assert_eq!(status, 200);
        let body = chat.to_json(&req, 3);
        assert_eq!(body["model"], "m-1");
        assert_eq!(body["choices"][0]["message"]["content"], "yo");
        assert_eq!(body["usage"]["total_tokens"], 9);
        assert_eq!(body["usage"]["cost"], 0.5);
        assert_eq!(req.message_contents(), vec!["hi".to_string()]);
    }

    #[test]
    fn script_uses_queue_then_function_then_exhausted() {
        let req = request(json!({}));
        let mut script = Script::queue([Reply::status(503, "busy")]).then_fn(|_| Reply::stall());
        assert!(matches!(
            script.next(&req).kind,
            Kind::Response { status: 503, .. }
        ));
        assert!(matches!(script.next(&req).kind, Kind::Stall));
        let mut empty = Script::empty();
        assert!(matches!(
            empty.next(&req).kind,
            Kind::Response { status: 500, .. }
        ));
    }

    #[test]
    fn header_replaces_default_of_same_name() {
        let reply = Reply::raw("<html>").header("Content-Type", "text/plain");
        assert_eq!(
            reply.headers,
            vec![("Content-Type".to_string(), "text/plain".to_string())]
        );
    }
}
