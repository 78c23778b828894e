//! The fake OpenAI-compatible server: a tokio `TcpListener` on 127.0.0.1 and a hand-rolled
//! HTTP/1.1 keep-alive loop per connection.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::http::{self, RawRequest, ReadError};
use crate::reply::{Body, Kind, RecordedRequest, Reply, Script};
use crate::stream;

/// Counters of a [`FakeServer`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Requests received (every path).
    pub requests: u64,
    /// Requests read but not yet fully answered.
    pub in_flight: usize,
    /// The largest `in_flight` seen.
    pub peak_in_flight: usize,
    /// Connections accepted.
    pub connections: u64,
    /// Connections still open.
    pub open_connections: usize,
}

#[derive(Default)]
struct State {
    script: Mutex<Script>,
    default_latency: Option<Duration>,
    recorded: Mutex<Vec<RecordedRequest>>,
    requests: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    connections: AtomicU64,
    open_connections: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a test thread must not make the server unusable for the rest of the test.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Decrements a counter when dropped, so early returns and cancellation keep counts right.
struct CountGuard<'a>(&'a AtomicUsize);

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Options of a [`FakeServer`] before it starts.
#[derive(Debug, Clone, Default)]
pub struct FakeServerBuilder {
    default_latency: Option<Duration>,
    port: u16,
}

impl FakeServerBuilder {
    /// Latency of every reply that does not set its own with [`Reply::latency`].
    pub fn default_latency(mut self, latency: Duration) -> Self {
        self.default_latency = Some(latency);
        self
    }

    /// Binds this port instead of an ephemeral one (for a server other processes connect to).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Binds 127.0.0.1 on an ephemeral port (or the one set with [`FakeServerBuilder::port`])
    /// and starts serving `script`.
    ///
    /// # Panics
    /// When the loopback port cannot be bound (this is test support; see
    /// [`FakeServerBuilder::try_start`] for the fallible form).
    pub async fn start(self, script: impl Into<Script>) -> FakeServer {
        match self.try_start(script).await {
            Ok(server) => server,
            Err(e) => panic!("fake server: could not bind 127.0.0.1: {e}"),
        }
    }

    /// Like [`FakeServerBuilder::start`], returning the bind error instead of panicking.
    pub async fn try_start(self, script: impl Into<Script>) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            script: Mutex::new(script.into()),
            default_latency: self.default_latency,
            ..State::default()
        });
        let cancel = CancellationToken::new();
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&state), cancel.clone()));
        Ok(FakeServer {
            addr,
            state,
            cancel,
            accept: Some(accept),
        })
    }
}

/// A fake LLM HTTP/1.1 server on `127.0.0.1` (never any other address) and an ephemeral port.
///
/// It answers every `POST`, whatever its path (`/v1/chat/completions`, Anthropic's
/// `/v1/messages`, Gemini's `/v1beta/models/{model}:generateContent`, an Azure deployment
/// path), from one [`Script`], and any other method with 404. Replies speak OpenAI's format
/// unless built for another provider ([`Reply::anthropic_text`], [`Reply::gemini_text`]); a
/// completion asked for as a stream goes out as server-sent events ([`crate::stream`]). It
/// counts requests, concurrency and connections, and records every request with its path. Dropping the server
/// (or [`FakeServer::shutdown`]) stops accepting and closes every connection.
///
/// Latencies use `tokio::time`, so they follow a paused clock. But beware of pairing a paused
/// clock with client-side timers: tokio auto-advances to the next timer whenever the runtime
/// parks, even when a loopback socket is about to become readable, so a client timeout can fire
/// "early" (seen with keep-alive connections). Use real time with small latencies for
/// transport tests, or a paused clock only when the client sets no timer of its own.
///
/// ```no_run
/// # async fn demo() {
/// use rlm_testkit::{FakeServer, Reply};
///
/// let server = FakeServer::start([Reply::status(503, "busy"), Reply::text("hello")]).await;
/// let endpoint = format!("{}/chat/completions", server.base_url()); // http://127.0.0.1:PORT/v1/...
/// // ... point a client at server.base_url() ...
/// assert_eq!(server.request_count(), 2);
/// assert_eq!(server.requests()[1].model(), Some("gpt-test"));
/// # let _ = endpoint;
/// # }
/// ```
pub struct FakeServer {
    addr: SocketAddr,
    state: Arc<State>,
    cancel: CancellationToken,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("addr", &self.addr)
            .field("stats", &self.stats())
            .finish()
    }
}

impl FakeServer {
    /// Options (such as a default latency) before starting.
    pub fn builder() -> FakeServerBuilder {
        FakeServerBuilder::default()
    }

    /// Starts a server answering from `script` (a [`Script`], a `Vec<Reply>`, an array of
    /// replies or one [`Reply`]).
    ///
    /// # Panics
    /// When the loopback port cannot be bound.
    pub async fn start(script: impl Into<Script>) -> FakeServer {
        Self::builder().start(script).await
    }

    /// The OpenAI-style base URL: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// The server root: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Appends a reply to the script's queue.
    pub fn push(&self, reply: Reply) {
        lock(&self.state.script).queue.push_back(reply);
    }

    /// Replies still queued (a fallback function is not counted).
    pub fn queued(&self) -> usize {
        lock(&self.state.script).queue.len()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.recorded).clone()
    }

    /// Requests received so far.
    pub fn request_count(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests ever in flight at once.
    pub fn peak_concurrency(&self) -> usize {
        self.state.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connection_count(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.state.open_connections.load(Ordering::SeqCst)
    }

    /// All counters at once.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            requests: self.request_count(),
            in_flight: self.in_flight(),
            peak_in_flight: self.peak_concurrency(),
            connections: self.connection_count(),
            open_connections: self.open_connections(),
        }
    }

    /// Waits until no connection is open, polling every 5 ms of tokio time for at most `within`.
    /// Returns whether they all closed (clients close asynchronously, so check with this rather
    /// than [`FakeServer::open_connections`] right after dropping a client).
    pub async fn wait_connections_closed(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.open_connections() == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops accepting, closes every connection and waits for the server's tasks to end.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(accept) = self.accept.take() {
            // The accept task only ends by itself; a join error means it panicked or was
            // aborted, and either way it is gone.
            let _ = accept.await;
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, cancel: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Out of file descriptors or similar: do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                // Without this, a response written as head + body waits out the client's delayed
                // ACK (Nagle): ~40 ms per request on Linux loopback.
                let _ = stream.set_nodelay(true);
                let id = state.connections.fetch_add(1, Ordering::SeqCst) + 1;
                state.open_connections.fetch_add(1, Ordering::SeqCst);
                connections.spawn(serve_connection(stream, id, Arc::clone(&state), cancel.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// What happened while the server waited before answering.
enum Waited {
    Done,
    PeerClosed,
    Cancelled,
}

/// Sleeps `latency` (forever when `None`), watching for the peer hanging up and for shutdown.
/// Bytes the peer sends meanwhile are kept in `buf`.
async fn wait(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    latency: Option<Duration>,
    cancel: &CancellationToken,
) -> Waited {
    let sleep = async {
        match latency {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return Waited::Done,
            () = cancel.cancelled() => return Waited::Cancelled,
            read = http::fill(stream, buf) => match read {
                Ok(n) if n > 0 => continue,
                _ => return Waited::PeerClosed,
            },
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    id: u64,
    state: Arc<State>,
    cancel: CancellationToken,
) {
    let _open = CountGuard(&state.open_connections);
    let mut buf = Vec::new();
    loop {
        let raw = tokio::select! {
            () = cancel.cancelled() => return,
            raw = http::read_request(&mut stream, &mut buf) => raw,
        };
        let raw = match raw {
            Ok(Some(raw)) => raw,
            Ok(None) | Err(ReadError::Eof) | Err(ReadError::Io) => return,
            Err(ReadError::Malformed(why)) => {
                let body = format!("fake server: malformed request: {why}");
                let mut out =
                    http::response_head(400, &[("connection".into(), "close".into())], body.len());
                out.extend_from_slice(body.as_bytes());
                let _ = stream.write_all(&out).await;
                return;
            }
        };
        let close = raw.close;
        let request = record(&state, raw, id);
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _in_flight = CountGuard(&state.in_flight);
        state.peak_in_flight.fetch_max(now, Ordering::SeqCst);

        let reply = if request.method == "POST" {
            lock(&state.script).next(&request)
        } else {
            Reply::not_found(&request)
        };

        if let Some(latency) = reply.latency.or(state.default_latency)
            && !matches!(
                wait(&mut stream, &mut buf, Some(latency), &cancel).await,
                Waited::Done
            )
        {
            return;
        }
        let keep_open = match answer(&mut stream, &mut buf, reply, &request, &cancel).await {
            Ok(keep_open) => keep_open,
            Err(_) => return,
        };
        if !keep_open || close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

fn record(state: &State, raw: RawRequest, connection_id: u64) -> RecordedRequest {
    let json = serde_json::from_slice(&raw.body).ok();
    let request = RecordedRequest {
        method: raw.method,
        path: raw.path,
        headers: raw.headers,
        body: raw.body,
        json,
        connection_id,
    };
    state.requests.fetch_add(1, Ordering::SeqCst);
    lock(&state.recorded).push(request.clone());
    request
}

/// Sends `reply`. `Ok(true)` keeps the connection for the next request.
async fn answer(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    reply: Reply,
    request: &RecordedRequest,
    cancel: &CancellationToken,
) -> std::io::Result<bool> {
    let (status, body) = match reply.kind {
        Kind::Stall => {
            wait(stream, buf, None, cancel).await;
            return Ok(false);
        }
        Kind::DropBeforeHeaders => return Ok(false),
        Kind::RawHttp(bytes) => {
            stream.write_all(&bytes).await?;
            return Ok(false);
        }
        Kind::Response { status, body } => (status, body),
    };
    let mut headers = reply.headers;
    let mut cut_at = reply.cut_at;
    let body = match body {
        Body::Bytes(bytes) => bytes,
        Body::Chat(chat) if request.wants_stream() && !chat.plain => {
            let body = stream::render(&chat, request, request.connection_id);
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
            headers.push(("content-type".into(), "text/event-stream".into()));
            headers.push(("cache-control".into(), "no-cache".into()));
            if let Some(events) = reply.cut_events {
                cut_at = Some(stream::events_len(&body, events));
            }
            body
        }
        Body::Chat(chat) => chat
            .to_json(request, request.connection_id)
            .to_string()
            .into_bytes(),
    };
    let cut = cut_at.filter(|&n| n < body.len());
    if cut.is_some() {
        headers.push(("connection".into(), "close".into()));
    }
    stream
        .write_all(&http::response_head(status, &headers, body.len()))
        .await?;
    let to_send = &body[..cut.unwrap_or(body.len())];
    match reply.trickle {
        None => stream.write_all(to_send).await?,
        Some((chunk, interval)) => {
            for (i, piece) in to_send.chunks(chunk).enumerate() {
                if i > 0
                    && !matches!(
                        wait(stream, buf, Some(interval), cancel).await,
                        Waited::Done
                    )
                {
                    return Ok(false);
                }
                stream.write_all(piece).await?;
            }
        }
    }
    stream.flush().await?;
    Ok(cut.is_none())
}
