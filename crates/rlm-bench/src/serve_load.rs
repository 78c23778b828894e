//! The WebSocket load generator of `cargo xtask bench serve`: many OpenEnv sessions at once,
//! each a reset and a few small steps, every reply checked, every step timed from the send of
//! its frame to the receipt of its reply. Written in Rust (tokio-tungstenite) so that the
//! client is not the bottleneck the way a Python client is.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;

/// What one phase of load measured.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Step latencies in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Replies whose content was not the expected one.
    pub wrong: u64,
    /// Sessions that failed (connect, protocol, closed early), with the first error.
    pub failed: u64,
    /// The first failure's message.
    pub first_error: Option<String>,
    /// Wall time of the phase.
    pub wall: Duration,
}

impl LoadResult {
    /// The `q`-quantile of the step latencies (0.5, 0.99).
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies_us.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        Duration::from_micros(self.latencies_us[rank.min(self.latencies_us.len() - 1)])
    }

    /// Steps answered.
    pub fn steps(&self) -> usize {
        self.latencies_us.len()
    }
}

/// How a phase is run.
pub struct Load {
    /// `ws://host:port/ws`.
    pub url: String,
    /// Concurrent sessions.
    pub sessions: usize,
    /// Steps per session after its reset.
    pub steps: usize,
    /// The policy's mean time to write its next step: before each step a session waits a
    /// time drawn uniformly from `[0, 2 × think]`. Zero: steps follow each other at once (a
    /// closed loop that saturates the server).
    pub think: Duration,
    /// Called with each session's index once all sessions have finished their steps and
    /// before any closes (to sample the server while every session is open).
    pub at_peak: Option<Box<dyn FnOnce() + Send>>,
}

/// Runs the phase: every session connects, resets, steps, waits for the others, closes.
pub async fn run(load: Load) -> LoadResult {
    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(load.sessions + 1));
    let mut tasks = Vec::with_capacity(load.sessions);
    for id in 0..load.sessions {
        let url = load.url.clone();
        let barrier = barrier.clone();
        let (steps, think) = (load.steps, load.think);
        tasks.push(tokio::spawn(async move {
            session(&url, id, steps, think, &barrier).await
        }));
    }
    barrier.wait().await;
    if let Some(at_peak) = load.at_peak {
        at_peak();
    }
    let mut result = LoadResult::default();
    for task in tasks {
        match task.await {
            Ok(Ok(one)) => {
                result.latencies_us.extend(one.latencies_us);
                result.wrong += one.wrong;
            }
            Ok(Err(message)) => {
                result.failed += 1;
                result.first_error.get_or_insert(message);
            }
            Err(e) => {
                result.failed += 1;
                result.first_error.get_or_insert(e.to_string());
            }
        }
    }
    result.latencies_us.sort_unstable();
    result.wall = started.elapsed();
    result
}

struct One {
    latencies_us: Vec<u64>,
    wrong: u64,
}

/// One session. A failed session still waits at the barrier so the phase ends.
async fn session(
    url: &str,
    id: usize,
    steps: usize,
    think: Duration,
    barrier: &Barrier,
) -> Result<One, String> {
    let outcome = steps_of(url, id, steps, think).await;
    match outcome {
        Ok((one, mut ws)) => {
            barrier.wait().await;
            let _ = ws
                .send(Message::text(json!({"type": "close"}).to_string()))
                .await;
            let _ = ws.close(None).await;
            Ok(one)
        }
        Err(e) => {
            barrier.wait().await;
            Err(e)
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn steps_of(
    url: &str,
    id: usize,
    steps: usize,
    think: Duration,
) -> Result<(One, Ws), String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("session {id}: connect: {e}"))?;
    let reset = exchange(
        &mut ws,
        json!({"type": "reset", "data": {"context": format!("session {id}")}}),
    )
    .await?;
    let mut one = One {
        latencies_us: Vec::with_capacity(steps),
        wrong: 0,
    };
    if reset["data"]["observation"]["context_length"] != json!(format!("session {id}").len()) {
        one.wrong += 1;
    }
    let mut draws = Draws::new(id);
    for k in 0..steps {
        if !think.is_zero() {
            tokio::time::sleep(think.mul_f64(2.0 * draws.unit())).await;
        }
        // A small step whose printed value only this session and step can produce.
        let code = format!("x = {id} * 1000 + {k}\nprint(x)");
        let sent = Instant::now();
        let reply = exchange(&mut ws, json!({"type": "step", "data": {"code": code}})).await?;
        one.latencies_us.push(sent.elapsed().as_micros() as u64);
        let stdout = reply["data"]["observation"]["result"]["stdout"]
            .as_str()
            .unwrap_or_default();
        if stdout.trim() != (id * 1000 + k).to_string() || reply["data"]["done"] != json!(false) {
            one.wrong += 1;
        }
    }
    Ok((one, ws))
}

/// A small deterministic generator of think times (xorshift), one per session.
struct Draws(u64);

impl Draws {
    fn new(session: usize) -> Self {
        Self((session as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

async fn exchange(ws: &mut Ws, message: Value) -> Result<Value, String> {
    ws.send(Message::text(message.to_string()))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(text.as_str())
                    .map_err(|e| format!("reply is not JSON: {e}"))?;
                if value["type"] == "error" {
                    return Err(format!("error frame: {}", value["data"]));
                }
                return Ok(value);
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(other)) => return Err(format!("unexpected frame {other:?}")),
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("connection closed".into()),
        }
    }
}

/// A session that runs `code` once after its reset (an infinite loop, a memory bomb) and
/// reports how its step ended.
pub async fn hostile(url: &str, code: &str) -> Result<String, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    exchange(&mut ws, json!({"type": "reset", "data": {}})).await?;
    let reply = exchange(&mut ws, json!({"type": "step", "data": {"code": code}})).await?;
    let _ = ws.close(None).await;
    let result = &reply["data"]["observation"]["result"];
    Ok(result["exception"]
        .as_str()
        .map_or_else(|| "no error".to_string(), str::to_string))
}
