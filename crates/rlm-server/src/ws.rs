//! The WebSocket `/ws`: one session per connection, as OpenEnv's server has it.
//!
//! The connection's task owns its [`Environment`]; messages are answered in order. While a
//! reset or step runs, the task still reads the socket: a client that leaves cancels the step
//! at once and frees the session (later frames are queued, up to [`MAX_QUEUED`]). A malformed
//! frame gets an error frame and the session goes on. A session idle for the idle timeout is
//! closed with an error frame saying so; at the session cap a new client's first message is
//! answered with a `CAPACITY_REACHED` error frame and the connection closes.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;

use crate::App;
use crate::env::Environment;
use crate::http::capacity;
use crate::protocol::{self, ErrorCode, Incoming, WireError, typed_frame};
use crate::sessions::{Count, Slot};

/// Frames a client may send ahead while a step runs.
const MAX_QUEUED: usize = 64;
/// The WebSocket read buffer of a connection. tungstenite zero-fills this much before every
/// socket read (its default, 128 KiB, was a fifth of the server's CPU per small step, and
/// 128 MiB of the RSS at 1,000 sessions); bigger messages still arrive, in more reads.
const READ_BUFFER_BYTES: usize = 16 << 10;
/// How long a refused client (at the session cap) may take to send its first message.
const REFUSAL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) async fn upgrade(State(app): State<Arc<App>>, ws: WebSocketUpgrade) -> Response {
    let slot = app.registry.open();
    // Frames up to 4x the cap are read and answered with a clear error; bigger ones end the
    // connection (tungstenite refuses them before they are buffered whole).
    let hard = app.max_message_bytes.saturating_mul(4);
    ws.max_message_size(hard)
        .max_frame_size(hard)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| session(app, socket, slot))
}

/// How a watched reset or step ended.
enum Watched<T> {
    Done(T),
    /// The client left.
    Gone,
    /// The server's grace period ended.
    Cancelled,
}

async fn session(app: Arc<App>, mut socket: WebSocket, slot: Result<Slot, (usize, usize)>) {
    let _slot = match slot {
        Ok(slot) => slot,
        Err((active, max)) => {
            // Answer the client's first message with the error (a frame sent before it would
            // be lost: clients stop reading once they see the close), then close.
            app.registry.count(Count::Error);
            let first = tokio::time::timeout(REFUSAL_WAIT, socket.recv()).await;
            if let Ok(Some(Ok(_))) = first {
                let _ = socket.send(text(capacity(active, max).frame())).await;
            }
            let _ = socket
                .send(close(close_code::AGAIN, "server at capacity"))
                .await;
            return;
        }
    };
    let mut env = Environment::new(app.settings.clone());
    let mut queued: VecDeque<Message> = VecDeque::new();
    loop {
        let message = match queued.pop_front() {
            Some(message) => message,
            None => tokio::select! {
                received = socket.recv() => match received {
                    Some(Ok(message)) => message,
                    _ => break,
                },
                () = tokio::time::sleep(app.idle_timeout) => {
                    app.registry.count(Count::Reaped);
                    let reaped = WireError::new(
                        ErrorCode::SessionError,
                        format!("session closed after {}s without a message (idle timeout)", app.idle_timeout.as_secs_f64()),
                    );
                    let _ = socket.send(text(reaped.frame())).await;
                    let _ = socket.send(close(close_code::NORMAL, "idle timeout")).await;
                    break;
                }
                () = app.drain.cancelled() => {
                    let _ = socket.send(close(close_code::AWAY, "server shutting down")).await;
                    break;
                }
            },
        };
        let body = match message {
            Message::Text(body) => body.to_string(),
            Message::Binary(bytes) => match String::from_utf8(bytes.to_vec()) {
                Ok(body) => body,
                Err(_) => {
                    let e = WireError::new(
                        ErrorCode::InvalidJson,
                        "Invalid JSON: binary frame is not UTF-8",
                    );
                    if !reply(&app, &mut socket, Err(e)).await {
                        break;
                    }
                    continue;
                }
            },
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if body.len() > app.max_message_bytes {
            let e = WireError::validation(format!(
                "message of {} bytes exceeds the server's limit of {} bytes (--max-message-bytes)",
                body.len(),
                app.max_message_bytes
            ));
            if !reply(&app, &mut socket, Err(e)).await {
                break;
            }
            continue;
        }
        let answer = match protocol::parse_incoming(&body) {
            Err(e) => Err(e),
            Ok(Incoming::Close) => break,
            Ok(Incoming::State) => env.state().map(|state| typed_frame("state", &state)),
            Ok(Incoming::Reset(data)) => {
                let params = protocol::reset_params(data);
                let work = async {
                    let reply = env.reset(params?).await?;
                    app.registry.count(Count::Reset);
                    Ok(typed_frame("observation", &reply))
                };
                match watched(&app, &mut socket, &mut queued, work).await {
                    Watched::Done(result) => result,
                    Watched::Gone => break,
                    Watched::Cancelled => Err(shutting_down()),
                }
            }
            Ok(Incoming::Step(data)) => {
                let action = protocol::action(data);
                let work = async {
                    let reply = env.step(action?).await?;
                    app.registry.count(Count::Step);
                    Ok(typed_frame("observation", &reply))
                };
                match watched(&app, &mut socket, &mut queued, work).await {
                    Watched::Done(result) => result,
                    Watched::Gone => break,
                    Watched::Cancelled => Err(shutting_down()),
                }
            }
        };
        let cancelled = app.cancel.is_cancelled();
        if !reply(&app, &mut socket, answer).await || cancelled {
            break;
        }
        if app.drain.is_cancelled() && queued.is_empty() {
            let _ = socket
                .send(close(close_code::AWAY, "server shutting down"))
                .await;
            break;
        }
    }
}

/// Runs `work` while reading the socket: frames are queued, a departure or the end of the
/// grace period drops `work` at once.
async fn watched<T>(
    app: &App,
    socket: &mut WebSocket,
    queued: &mut VecDeque<Message>,
    work: impl Future<Output = T>,
) -> Watched<T> {
    let _busy = app.registry.busy();
    tokio::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => return Watched::Done(result),
            received = socket.recv() => match received {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    app.registry.count(Count::Cancelled);
                    return Watched::Gone;
                }
                Some(Ok(message)) if queued.len() < MAX_QUEUED => queued.push_back(message),
                Some(Ok(_)) => {
                    // A client that floods frames during a step is not a client we can serve.
                    app.registry.count(Count::Cancelled);
                    return Watched::Gone;
                }
            },
            () = app.cancel.cancelled() => {
                app.registry.count(Count::Cancelled);
                return Watched::Cancelled;
            }
        }
    }
}

fn shutting_down() -> WireError {
    WireError::new(
        ErrorCode::SessionError,
        "server shutting down: the step was cancelled after the grace period",
    )
}

/// Sends an answer (or its error frame); false when the client is gone.
async fn reply(app: &App, socket: &mut WebSocket, answer: Result<String, WireError>) -> bool {
    let body = answer.unwrap_or_else(|e| {
        app.registry.count(Count::Error);
        e.frame()
    });
    socket.send(text(body)).await.is_ok()
}

fn text(body: String) -> Message {
    Message::Text(body.into())
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
