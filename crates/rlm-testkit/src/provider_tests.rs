//! Helpers shared by the providers' transport tests (`rlm-openai`, `rlm-anthropic`,
//! `rlm-gemini`): a fast retry policy, a one-line request, the [`Outcome`] a call ends in, and
//! runners that call a provider's client against a [`FakeServer`]. Each provider passes a
//! closure that builds its client and a function making its wire format's `ok` reply; only
//! what is specific to the wire format stays in the provider's tests. The secrets tests share
//! [`assert_errors_never_show_the_key`], [`assert_traced_call`] and [`Captured`] traces. The
//! provider-neutral transport cases themselves (retries, `Retry-After`, deadlines, scrubbing)
//! run in `rlm-http`'s tests over a test codec.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rlm_core::{
    CompletionRequest, CompletionResponse, LanguageModel, LlmError, Message, ReasoningEffort,
    Sampling,
};
use rlm_limits::RetryPolicy;

use crate::{FakeServer, Reply, Script};

/// Two retries, 1–4 ms backoffs with jitter, `Retry-After` honoured up to 60 s, 30 s per call.
pub fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
        jitter: true,
        max_retry_after: Duration::from_secs(60),
        call_timeout: Some(Duration::from_secs(30)),
    }
}

/// A request with one user message, `hello`.
pub fn request() -> CompletionRequest {
    CompletionRequest::new(vec![Message::user("hello")])
}

/// What a call should end in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// A response.
    Ok,
    /// [`LlmError::Http`] with this status.
    Http(u16),
    /// [`LlmError::Authentication`] with this status.
    Auth(u16),
    /// [`LlmError::QuotaExhausted`].
    Quota,
    /// [`LlmError::ContextLengthExceeded`].
    Context,
    /// [`LlmError::RetryAfterTooLong`].
    TooLong,
    /// [`LlmError::Connect`].
    Connect,
    /// [`LlmError::Truncated`].
    Truncated,
    /// [`LlmError::EmptyCompletion`].
    Empty,
    /// [`LlmError::ContentFilter`].
    Filter,
    /// [`LlmError::InvalidResponse`].
    Invalid,
}

/// The [`Outcome`] of `result`; panics on an error no [`Outcome`] names.
pub fn outcome(result: &Result<CompletionResponse, LlmError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(LlmError::Http { status, .. }) => Outcome::Http(*status),
        Err(LlmError::Authentication { status, .. }) => Outcome::Auth(*status),
        Err(LlmError::QuotaExhausted { .. }) => Outcome::Quota,
        Err(LlmError::ContextLengthExceeded { .. }) => Outcome::Context,
        Err(LlmError::RetryAfterTooLong { .. }) => Outcome::TooLong,
        Err(LlmError::Connect { .. }) => Outcome::Connect,
        Err(LlmError::Truncated { .. }) => Outcome::Truncated,
        Err(LlmError::EmptyCompletion { .. }) => Outcome::Empty,
        Err(LlmError::ContentFilter) => Outcome::Filter,
        Err(LlmError::InvalidResponse { .. }) => Outcome::Invalid,
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

/// Runs one call of the client `build(server, fast_policy())` against `replies` (then `ok()`,
/// whose text must be `ok`, forever) and checks the outcome, how many requests the server saw,
/// and that no connection stays open once the client is dropped.
pub async fn check<C: LanguageModel>(
    ok: fn() -> Reply,
    build: impl FnOnce(&FakeServer, RetryPolicy) -> C,
    name: &str,
    replies: Vec<Reply>,
    expected: Outcome,
    expected_requests: u64,
) {
    let server = FakeServer::start(Script::queue(replies).then_fn(move |_| ok())).await;
    let client = build(&server, fast_policy());
    let result = client.complete(request()).await;
    assert_eq!(outcome(&result), expected, "{name}: {result:?}");
    if let Ok(resp) = &result {
        assert_eq!(resp.text, "ok", "{name}");
    }
    assert_eq!(
        server.request_count(),
        expected_requests,
        "{name}: request count"
    );
    drop(client);
    assert!(
        server.wait_connections_closed(Duration::from_secs(5)).await,
        "{name}: a connection stayed open"
    );
}

/// Calls `client`, which points at a port where nothing listens, and checks that the call
/// fails with [`LlmError::Connect`] naming `url` and saying why; returns that error.
pub async fn assert_connect_error<C: LanguageModel>(client: &C, url: &str) -> LlmError {
    match client.complete(request()).await {
        Err(LlmError::Connect {
            url: named,
            message,
        }) => {
            assert_eq!(named, url);
            assert!(!message.is_empty());
            LlmError::Connect {
                url: named,
                message,
            }
        }
        other => panic!("{other:?}"),
    }
}

/// Calls the client `build(server, policy)` against a server that never answers, with a call
/// deadline of 300 ms: the call must end in [`LlmError::Timeout`] for a URL ending in
/// `url_suffix`, after one request, and leave no connection open once the client is dropped.
pub async fn assert_stall_times_out<C: LanguageModel>(
    build: impl FnOnce(&FakeServer, RetryPolicy) -> C,
    url_suffix: &str,
) {
    let server = FakeServer::start(Script::always(Reply::stall())).await;
    let policy = RetryPolicy {
        call_timeout: Some(Duration::from_millis(300)),
        ..fast_policy()
    };
    let client = build(&server, policy);
    match client.complete(request()).await {
        Err(LlmError::Timeout { url, .. }) => assert!(url.ends_with(url_suffix), "{url}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.request_count(), 1);
    drop(client);
    assert!(server.wait_connections_closed(Duration::from_secs(5)).await);
}

/// Records the waits a client asks for through its hidden `sleep_hook` (and skips them).
#[derive(Debug, Clone, Default)]
pub struct Waits(Arc<Mutex<Vec<Duration>>>);

impl Waits {
    /// A hook for a builder's `sleep_hook`: records the wait and returns at once.
    pub fn hook(&self) -> impl Fn(Duration) -> std::future::Ready<()> + Send + Sync + 'static {
        let log = Arc::clone(&self.0);
        move |wait| {
            log.lock().unwrap_or_else(|e| e.into_inner()).push(wait);
            std::future::ready(())
        }
    }

    /// The waits recorded so far.
    pub fn recorded(&self) -> Vec<Duration> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A call against `replies` (then `ok()` forever) by the client `build(server, waits)`, which
/// must pass `waits.hook()` to its `sleep_hook`: returns the result, the waits the client asked
/// for, and the request count.
pub async fn recorded_call<C: LanguageModel>(
    ok: fn() -> Reply,
    build: impl FnOnce(&FakeServer, &Waits) -> C,
    replies: Vec<Reply>,
) -> (Result<CompletionResponse, LlmError>, Vec<Duration>, u64) {
    let server = FakeServer::start(Script::queue(replies).then_fn(move |_| ok())).await;
    let waits = Waits::default();
    let client = build(&server, &waits);
    let result = client.complete(request()).await;
    (result, waits.recorded(), server.request_count())
}

/// `http://127.0.0.1:PORT` where nothing listens (the port was just bound and released).
pub fn refused_base_url() -> String {
    format!("http://127.0.0.1:{}", refused_port())
}

/// A loopback port where nothing listens (just bound and released).
pub fn refused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("could not bind a loopback port: {e}"))
}

/// One retry with 1–2 ms backoffs, 30 s per call (the secrets tests).
pub fn one_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 1,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        call_timeout: Some(Duration::from_secs(30)),
        ..RetryPolicy::default()
    }
}

/// A buffer a tracing subscriber writes to.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures the traces of this thread matching `filter` (span closings too when
    /// `span_close`) until the guard is dropped.
    pub fn start(filter: &str, span_close: bool) -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let events = if span_close {
            tracing_subscriber::fmt::format::FmtSpan::CLOSE
        } else {
            tracing_subscriber::fmt::format::FmtSpan::NONE
        };
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_span_events(events)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("traces are not UTF-8: {e}"))
    }
}

/// What a provider's secrets test checks.
#[derive(Debug, Clone, Copy)]
pub struct Secrets<'a> {
    /// The API key, which must never be shown.
    pub key: &'a str,
    /// A part of the key that must not be shown either.
    pub key_part: &'a str,
    /// A prompt, which must stay out of traces.
    pub prompt: &'a str,
    /// What the body of an authentication error must contain (the echoed key, scrubbed).
    pub auth_body: &'a str,
}

/// Makes seven failing calls with `client` against a server echoing the key back in every kind
/// of failure (at least six kinds of error), and checks that the key shows nowhere: not in the
/// client's Debug, not in the errors (Display, Debug), not in traces (nor the prompt).
pub async fn assert_errors_never_show_the_key<C: LanguageModel + std::fmt::Debug>(
    client: &C,
    secrets: Secrets<'_>,
) {
    let Secrets {
        key,
        key_part,
        prompt,
        auth_body,
    } = secrets;
    let shown_client = format!("{client:?}");
    assert!(
        !shown_client.contains(key) && shown_client.contains("ApiKey(***)"),
        "{shown_client}"
    );

    let (logs, guard) = Captured::start("trace", false);
    let mut kinds = Vec::new();
    for _ in 0..7 {
        let err = match client
            .complete(CompletionRequest::new(vec![Message::user(prompt)]))
            .await
        {
            Err(err) => err,
            Ok(resp) => panic!("expected an error, got {resp:?}"),
        };
        for shown in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
            assert!(!shown.contains(key), "key in error: {shown}");
            assert!(
                !shown.contains(key_part),
                "part of the key in error: {shown}"
            );
        }
        kinds.push(std::mem::discriminant(&err));
        if let LlmError::Authentication { body, .. } = &err {
            assert!(body.contains(auth_body), "{body}");
        }
    }
    kinds.dedup();
    assert!(
        kinds.len() >= 6,
        "expected many kinds of error, got {kinds:?}"
    );
    drop(guard);

    let logs = logs.text();
    assert!(
        logs.contains("attempt failed"),
        "no transport log in traces: {logs}"
    );
    assert!(
        !logs.contains(key) && !logs.contains(prompt),
        "secret or prompt in traces: {logs}"
    );
}

/// Calls `client`, pointed at a port where nothing listens through a URL carrying `key`, and
/// checks that the call fails with [`LlmError::Connect`] and that the error does not show the key.
pub async fn assert_connect_error_hides_the_key<C: LanguageModel>(client: &C, key: &str) {
    let err = match client
        .complete(CompletionRequest::new(vec![Message::user("hi")]))
        .await
    {
        Err(err) => err,
        Ok(resp) => panic!("expected an error, got {resp:?}"),
    };
    assert!(matches!(err, LlmError::Connect { .. }), "{err:?}");
    assert!(
        !err.to_string().contains(key) && !format!("{err:?}").contains(key),
        "{err:?}"
    );
}

/// Makes one successful call with `client` under the tracing decorator
/// ([`rlm_limits::Traced`], which opens the call's one `gen_ai.chat` span and declares
/// `rlm.retry.attempt` for the transport to fill in), tracing `filter` with span closings, and
/// checks that every needle is in the traces and neither `key` nor `prompt` is.
pub async fn assert_traced_call<C: LanguageModel>(
    client: C,
    filter: &str,
    secrets: Secrets<'_>,
    needles: &[&str],
) {
    let traced = rlm_limits::Traced::new(client);
    let (logs, guard) = Captured::start(filter, true);
    if let Err(err) = traced
        .complete(CompletionRequest::new(vec![Message::user(secrets.prompt)]))
        .await
    {
        panic!("the call failed: {err:?}");
    }
    drop(guard);
    let logs = logs.text();
    for needle in needles {
        assert!(
            logs.contains(needle),
            "{needle} missing from traces: {logs}"
        );
    }
    assert!(
        !logs.contains(secrets.key) && !logs.contains(secrets.prompt),
        "{logs}"
    );
}

/// A provider's recorded wire fixtures and golden files, under `dir` (its `tests/fixtures`).
/// `UPDATE_EXPECT=1` rewrites the golden files instead of comparing.
#[derive(Debug, Clone)]
pub struct Fixtures {
    dir: std::path::PathBuf,
}

impl Fixtures {
    /// Fixtures under `dir`.
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The path of the fixture `rel`.
    pub fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.join(rel)
    }

    /// The bytes of the fixture `rel`.
    pub fn read(&self, rel: &str) -> Vec<u8> {
        let path = self.path(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The text of the fixture `rel`.
    pub fn read_string(&self, rel: &str) -> String {
        let path = self.path(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Compares `actual` with the golden file `rel`, or rewrites it when `UPDATE_EXPECT=1`.
    pub fn check(&self, rel: &str, actual: &str) {
        let path = self.path(rel);
        if std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1") {
            std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_EXPECT=1 to create it)",
                path.display()
            )
        });
        assert_eq!(
            actual, expected,
            "{rel} differs (run with UPDATE_EXPECT=1 to accept the new output)"
        );
    }

    /// Checks an encoded request `body` (UTF-8 JSON) against the golden file
    /// `requests/{name}.json`.
    pub fn check_request_body(&self, name: &str, body: Vec<u8>) {
        let text = String::from_utf8(body).unwrap_or_else(|e| panic!("{name}: not UTF-8: {e}"));
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
            panic!("{name}: not JSON: {e}: {text}");
        }
        self.check(&format!("requests/{name}.json"), &format!("{text}\n"));
    }
}

/// The requests every provider's golden request bodies cover, by golden file name: `minimal`
/// (one user message), `reasoning` (the thinking form of `full_sampling`, see
/// [`reasoning_request`]), `full_sampling` (every field but the reasoning effort and extras,
/// model `full_model`; the seed is left out by the APIs without one) and `escaping` (quotes,
/// tabs, non-ASCII, a control character).
pub fn golden_requests(full_model: &str) -> Vec<(&'static str, CompletionRequest)> {
    let full = CompletionRequest {
        model: Some(full_model.into()),
        messages: vec![
            Message::system("You are an RLM."),
            Message::user("Count the lines."),
            Message::assistant("```repl\nprint(1)\n```"),
            Message::user("Output: 1"),
        ],
        sampling: Sampling {
            temperature: Some(0.2),
            top_p: Some(0.9),
            max_tokens: Some(256),
            stop: vec!["```\n".into(), "FINAL(".into()],
            seed: Some(7),
            ..Sampling::default()
        },
    };
    vec![
        ("minimal", CompletionRequest::new(vec![Message::user("hi")])),
        ("reasoning", reasoning_request(&full)),
        ("full_sampling", full),
        (
            "escaping",
            CompletionRequest::new(vec![Message::user("She said \"hi\"\tthen left ☃ 🦀 \u{1}")]),
        ),
    ]
}

/// `full` thinking: every sampling field but the temperature (reasoning models and Anthropic's
/// extended thinking take none), `top_p` 0.95 (the lowest Anthropic allows with thinking), a
/// 16,384-token cap (above every effort's budget) and reasoning effort `medium`.
pub fn reasoning_request(full: &CompletionRequest) -> CompletionRequest {
    CompletionRequest {
        sampling: Sampling {
            temperature: None,
            top_p: Some(0.95),
            max_tokens: Some(16_384),
            reasoning_effort: Some(ReasoningEffort::Medium),
            ..full.sampling.clone()
        },
        ..full.clone()
    }
}

/// `request` with these provider extras (`extra` must be a JSON object).
pub fn with_extra_body(request: &CompletionRequest, extra: serde_json::Value) -> CompletionRequest {
    let serde_json::Value::Object(extra_body) = extra else {
        panic!("provider extras must be a JSON object, not {extra}")
    };
    CompletionRequest {
        sampling: Sampling {
            extra_body,
            ..request.sampling.clone()
        },
        ..request.clone()
    }
}

/// The usage of one call without a cost.
pub fn usage(input: u64, output: u64, cached: u64) -> rlm_core::Usage {
    rlm_core::Usage {
        input_tokens: input,
        output_tokens: output,
        cached_tokens: cached,
        cost: None,
        calls: 1,
    }
}
