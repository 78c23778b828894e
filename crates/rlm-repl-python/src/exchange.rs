//! One execution's exchange with the driver: send the block, answer its host calls, collect
//! its output and finish, and handle the time limit (salvage the output, then kill). Also the
//! single request-reply exchanges outside executions.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rlm_core::{FinalAnswer, HostCall, ReplConfig, ReplError, ReplHost};

use crate::codec::ChannelError;
use crate::process::Driver;
use crate::protocol::{self, BadCall, Done, LoadKind, Message, Reply, Request};
use crate::repl::backend;

/// After `FINAL` the block gets this long to return (code that catches the internal stop
/// exception keeps running); then the process is killed. The finish stands either way.
const FINISH_GRACE: Duration = Duration::from_secs(1);
/// How long the driver may take to hand over its output before a timeout kill.
const SALVAGE_WAIT: Duration = Duration::from_millis(200);
/// The least time a reply gets to reach the driver (a tool that used up the block's time still
/// gets its `TimeoutError` delivered).
const SEND_FLOOR: Duration = Duration::from_millis(200);

/// A value injected with `set_variable`, kept in a backing file so a fresh interpreter can load
/// it again after a timeout or crash without the host holding a copy.
#[derive(Debug)]
pub(crate) struct Injected {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) kind: LoadKind,
    pub(crate) bytes: u64,
}

/// How an execution's exchange with the driver ended.
pub(crate) enum End {
    /// The driver answered `done` and is ready for more.
    Alive,
    /// The process was killed at the time limit (or after the grace that follows a finish).
    TimedOut,
    /// The process died by itself.
    Died,
    /// The driver broke the protocol and was killed.
    Broken(String),
}

/// Everything one execution collected.
pub(crate) struct Exchange {
    pub(crate) stdout: String,
    pub(crate) truncated: bool,
    pub(crate) error: Option<String>,
    pub(crate) finish: Option<FinalAnswer>,
    pub(crate) answer: Option<String>,
    pub(crate) host_calls: u32,
    pub(crate) end: End,
}

impl Exchange {
    pub(crate) fn new() -> Self {
        Self {
            stdout: String::new(),
            truncated: false,
            error: None,
            finish: None,
            answer: None,
            host_calls: 0,
            end: End::Alive,
        }
    }

    fn done(&mut self, done: Done) {
        self.stdout = done.stdout;
        self.truncated = done.truncated;
        self.error = done.error;
        self.answer = done.answer;
        // The driver's own count is informative only; the host counts calls it answered.
        let _ = done.host_calls;
    }
}

/// Sends `request` and reads one message, within `timeout`.
pub(crate) async fn exchange(
    driver: &mut Driver,
    request: &Request<'_>,
    timeout: Duration,
) -> Result<Message, String> {
    let work = async {
        driver.send(request).await?;
        driver.recv().await
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Loads one injected value.
pub(crate) async fn load(
    driver: &mut Driver,
    value: &Injected,
    timeout: Duration,
) -> Result<(), ReplError> {
    let path = value.path.to_string_lossy();
    let request = Request::Load {
        name: &value.name,
        path: &path,
        kind: value.kind,
    };
    match exchange(driver, &request, timeout).await {
        Ok(Message::Ok) => Ok(()),
        Ok(Message::Error { message }) => Err(ReplError::Conversion {
            message: format!("could not load {}: {message}", value.name),
        }),
        Ok(other) => Err(backend(format!("unexpected answer to a load: {other:?}"))),
        Err(why) => Err(backend(format!(
            "could not load {}: {why}{}",
            value.name,
            driver.last_words()
        ))),
    }
}

/// Runs one block: sends it, answers host calls, and collects the result into `x`.
pub(crate) async fn drive(
    driver: &mut Driver,
    code: &str,
    host: &dyn ReplHost,
    config: &ReplConfig,
    x: &mut Exchange,
) {
    let mut budget = config.execution_timeout;
    let sent = Instant::now();
    match tokio::time::timeout(budget, driver.send(&Request::Exec { code })).await {
        Ok(Ok(())) => {}
        Ok(Err(ChannelError::Frame(e))) => {
            // Nothing reached the driver: the session is intact.
            x.error = Some(format!("ValueError: the code block cannot be sent: {e}"));
            return;
        }
        Ok(Err(_)) => {
            x.end = End::Died;
            return;
        }
        Err(_) => {
            x.end = End::TimedOut;
            return;
        }
    }
    budget = budget.saturating_sub(sent.elapsed());
    loop {
        let waited = Instant::now();
        let message = tokio::time::timeout(budget, driver.recv()).await;
        budget = budget.saturating_sub(waited.elapsed());
        let message = match message {
            Err(_) => {
                salvage(driver, x).await;
                return;
            }
            Ok(Err(ChannelError::Closed | ChannelError::Io(_))) => {
                x.end = End::Died;
                return;
            }
            Ok(Err(ChannelError::Frame(e))) => {
                x.end = End::Broken(e.to_string());
                return;
            }
            Ok(Ok(message)) => message,
        };
        match message {
            Message::Done(done) => {
                x.done(done);
                return;
            }
            Message::Call(call) => {
                let reply = match call.into_call() {
                    Ok(call) => {
                        let (reply, spent) = answer(host, call, config, x, budget).await;
                        budget = budget.saturating_sub(spent);
                        reply
                    }
                    Err(BadCall::Arguments(message)) => Answer::Raise {
                        exception: "TypeError".into(),
                        message,
                    },
                    Err(BadCall::Broken(why)) => {
                        x.end = End::Broken(why);
                        return;
                    }
                };
                if let Answer::TimedOut { .. } = reply {
                    // The tool used up the block's time: the code gets `TimeoutError`, and the
                    // block the time it has left (none) to end before it is stopped.
                    budget = Duration::ZERO;
                }
                let request = match &reply {
                    Answer::Value(value) => Request::Reply(Reply {
                        value: Some(value.clone()),
                        ..Reply::default()
                    }),
                    Answer::Raise { exception, message } => Request::Reply(Reply {
                        error: Some(message),
                        exception: Some(exception),
                        ..Reply::default()
                    }),
                    Answer::TimedOut { message } => Request::Reply(Reply {
                        error: Some(message),
                        exception: Some("TimeoutError"),
                        ..Reply::default()
                    }),
                };
                let sending = Instant::now();
                let sent =
                    tokio::time::timeout(budget.max(SEND_FLOOR), driver.send(&request)).await;
                budget = budget.saturating_sub(sending.elapsed());
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(ChannelError::Frame(e))) => {
                        // The reply is over the frame cap: the driver still waits for one.
                        let error = format!("the reply is too large to send: {e}");
                        let fallback = Request::Reply(Reply {
                            error: Some(&error),
                            ..Reply::default()
                        });
                        if driver.send(&fallback).await.is_err() {
                            x.end = End::Died;
                            return;
                        }
                    }
                    Ok(Err(_)) => {
                        x.end = End::Died;
                        return;
                    }
                    Err(_) => {
                        x.end = End::TimedOut;
                        return;
                    }
                }
            }
            Message::Final(finish) => match finish.into_finish() {
                Ok(finish) => {
                    if x.finish.is_none() {
                        x.finish = Some(finish);
                        budget = budget.min(FINISH_GRACE);
                    }
                }
                Err(why) => {
                    x.end = End::Broken(why);
                    return;
                }
            },
            Message::Error { message } => {
                // The block ran but its result could not be sent (too large).
                x.error = Some(message);
                return;
            }
            Message::Out(_) => {}
            other => {
                x.end = End::Broken(format!("unexpected message {other:?}"));
                return;
            }
        }
    }
}

/// What the driver is told in reply to a call.
enum Answer {
    /// A value, encoded.
    Value(serde_json::Value),
    /// An exception to raise.
    Raise { exception: String, message: String },
    /// A tool outlived the block's time limit.
    TimedOut { message: String },
}

/// Asks the host for the answer to `call` within the cap on host calls. A custom tool's wait
/// counts against the block's time limit (`budget`): returns the time it took.
async fn answer(
    host: &dyn ReplHost,
    call: HostCall,
    config: &ReplConfig,
    x: &mut Exchange,
    budget: Duration,
) -> (Answer, Duration) {
    // The host is authoritative for the cap: code can tamper with the driver's.
    if x.host_calls >= config.max_host_calls {
        let message = format!(
            "host-call limit reached: an execution may make at most {} llm_query/rlm_query calls",
            config.max_host_calls
        );
        let exception = "RuntimeError".to_string();
        return (Answer::Raise { exception, message }, Duration::ZERO);
    }
    x.host_calls += 1;
    let started = Instant::now();
    let reply = match &call {
        HostCall::Tool { name, .. } => {
            let name = name.clone();
            match tokio::time::timeout(budget, host.call(call)).await {
                Ok(reply) => reply,
                Err(_) => {
                    let message = format!(
                        "time limit exceeded: the custom tool {name}() did not return within the block's time limit"
                    );
                    return (Answer::TimedOut { message }, started.elapsed());
                }
            }
        }
        _ => {
            // Sub-calls to models do not count against the block's time limit.
            let reply = host.call(call).await;
            return (encode(reply), Duration::ZERO);
        }
    };
    (encode(reply), started.elapsed())
}

/// Encodes a host reply for the driver.
fn encode(reply: rlm_core::HostReply) -> Answer {
    match reply.into_result() {
        Ok(value) => match protocol::to_wire(&value) {
            Ok(value) => Answer::Value(value),
            Err(e) => Answer::Raise {
                exception: "RuntimeError".into(),
                message: e.to_string(),
            },
        },
        Err(error) => Answer::Raise {
            exception: error.exception,
            message: error.message,
        },
    }
}

/// At the time limit: ask the driver for the output so far, then kill the process group. A
/// `done` that arrives meanwhile means the block made it after all.
async fn salvage(driver: &mut Driver, x: &mut Exchange) {
    driver.request_salvage();
    let deadline = Instant::now() + SALVAGE_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, driver.recv()).await {
            Ok(Ok(Message::Out(out))) => {
                x.stdout = out.stdout;
                x.truncated = out.truncated;
            }
            Ok(Ok(Message::Done(done))) => {
                x.done(done);
                return;
            }
            Ok(Ok(Message::Final(finish))) => {
                if x.finish.is_none() {
                    x.finish = finish.into_finish().ok();
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    x.end = End::TimedOut;
}
