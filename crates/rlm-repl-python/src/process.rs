//! One running interpreter: the confined process, its framed channel, and a bounded tail of
//! what it wrote to stderr (crash reports; raw writes of the code to descriptors 1 and 2).

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rlm_core::{ReplError, names};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::codec::{self, ChannelError, FrameReader};
use crate::protocol::{Message, Ready, Request};
use crate::spawn::{self, Jail};

/// How long a fresh interpreter may take to report ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of stderr is kept (the end).
const STDERR_TAIL: usize = 4096;
/// How long to wait for a killed process to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for the rest of a dead process's stderr.
const STDERR_WAIT: Duration = Duration::from_millis(300);
/// How long a process whose channel closed may take to exit by itself.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// What a driver process is started with.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) python: PathBuf,
    pub(crate) driver: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) site_packages: bool,
    pub(crate) max_output_bytes: usize,
    pub(crate) max_host_calls: u32,
    pub(crate) max_frame_bytes: usize,
    /// The custom tools the driver defines.
    pub(crate) tools: Vec<String>,
}

/// A running driver. Dropping it kills its whole process group.
#[derive(Debug)]
pub(crate) struct Driver {
    child: Child,
    /// The process the host spawned: leader of the session and process group.
    pid: u32,
    /// The process running the code (inside the PID namespace when there is one), as the host
    /// sees it.
    interpreter: u32,
    stdin: ChildStdin,
    reader: FrameReader<ChildStdout>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The task draining stderr; it ends when every holder of the pipe has exited.
    drain: Option<tokio::task::JoinHandle<()>>,
    max_frame_bytes: usize,
    /// The process has been reaped: its pid may be reused, never signal it again.
    reaped: bool,
}

fn backend(message: String) -> ReplError {
    ReplError::Backend {
        backend: crate::BACKEND_NAME.to_string(),
        message,
    }
}

impl Driver {
    /// Starts the interpreter in its jail and waits for the driver's ready message.
    pub(crate) async fn start(spec: &Spec, jail: Jail) -> Result<(Driver, Ready), ReplError> {
        let config = serde_json::json!({
            "max_output_bytes": spec.max_output_bytes,
            "max_host_calls": spec.max_host_calls,
            "max_frame_bytes": spec.max_frame_bytes,
            "max_error_chars": spec.max_output_bytes.max(64 * 1024),
            "host_functions": names::HOST_FUNCTIONS,
            "answer_variable": names::ANSWER,
            "private_prefix": names::PRIVATE_PREFIX,
            "tools": spec.tools,
        });
        let mut cmd = tokio::process::Command::new(&spec.python);
        cmd.arg("-I");
        if !spec.site_packages {
            cmd.arg("-S");
        }
        cmd.arg("-B")
            .arg(&spec.driver)
            .arg(config.to_string())
            .env_clear()
            .current_dir(&spec.work)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        spawn::confine(&mut cmd, jail);
        let mut child = spawn::spawn(cmd)
            .await
            .map_err(|e| backend(format!("could not start {}: {e}", spec.python.display())))?;
        let (Some(pid), Some(stdin), Some(stdout), Some(stderr)) = (
            child.id(),
            child.stdin.take(),
            child.stdout.take(),
            child.stderr.take(),
        ) else {
            return Err(backend("the interpreter's pipes are missing".to_string()));
        };
        let tail = Arc::new(Mutex::new(Vec::new()));
        let drain = tokio::spawn(drain(stderr, Arc::clone(&tail)));
        let mut driver = Driver {
            child,
            pid,
            interpreter: pid,
            stdin,
            reader: FrameReader::new(stdout, spec.max_frame_bytes),
            stderr: tail,
            drain: Some(drain),
            max_frame_bytes: spec.max_frame_bytes,
            reaped: false,
        };
        let ready = match tokio::time::timeout(START_TIMEOUT, driver.recv()).await {
            Ok(Ok(Message::Ready(ready))) => ready,
            outcome => {
                let why = match outcome {
                    Err(_) => format!("no answer within {START_TIMEOUT:?}"),
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(other)) => format!("unexpected first message {other:?}"),
                };
                let status = driver.kill_and_reap().await;
                driver.finish_stderr().await;
                return Err(backend(format!(
                    "the python driver did not start ({why}; {}){}",
                    describe_exit(status),
                    driver.last_words()
                )));
            }
        };
        if ready.pid > 1 {
            driver.interpreter = ready.pid;
        }
        Ok((driver, ready))
    }

    /// The process group (and session) leader's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The pid of the process running the code.
    pub(crate) fn interpreter_pid(&self) -> u32 {
        self.interpreter
    }

    /// Sends one request.
    pub(crate) async fn send(&mut self, request: &Request<'_>) -> Result<(), ChannelError> {
        let frame = codec::encode(request, self.max_frame_bytes)?;
        self.stdin
            .write_all(&frame)
            .await
            .map_err(|e| ChannelError::Io(e.to_string()))?;
        self.stdin
            .flush()
            .await
            .map_err(|e| ChannelError::Io(e.to_string()))
    }

    /// Receives the next message.
    pub(crate) async fn recv(&mut self) -> Result<Message, ChannelError> {
        self.reader.next().await
    }

    /// Asks the driver for the output printed so far (before a timeout kill).
    pub(crate) fn request_salvage(&self) {
        if !self.reaped {
            spawn::request_salvage(self.interpreter);
        }
    }

    /// Kills the process group (the interpreter, the init of its PID namespace, and whatever the
    /// code started in the group).
    pub(crate) fn kill(&mut self) {
        if !self.reaped {
            spawn::kill_group(self.pid);
        }
    }

    /// After the channel closed: gives the leader a moment to exit by itself (so its own status,
    /// not our kill, is reported), then kills what is left of the group and reaps the leader.
    pub(crate) async fn settle_and_reap(&mut self) -> Option<ExitStatus> {
        let deadline = std::time::Instant::now() + EXIT_GRACE;
        // A zombie leader keeps its pid (and so the group id) reserved: the kill below is safe.
        while !self.reaped && !is_zombie(self.pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let status = self.kill_and_reap().await;
        self.finish_stderr().await;
        status
    }

    /// What a dead process wrote last may still be in the pipe: lets the drain reach its end.
    async fn finish_stderr(&mut self) {
        if let Some(drain) = self.drain.take() {
            let _ = tokio::time::timeout(STDERR_WAIT, drain).await;
        }
    }

    /// Kills the group and reaps the interpreter; its exit status when it could be reaped.
    pub(crate) async fn kill_and_reap(&mut self) -> Option<ExitStatus> {
        self.kill();
        if self.reaped {
            return None;
        }
        match tokio::time::timeout(REAP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) => {
                self.reaped = true;
                Some(status)
            }
            _ => None,
        }
    }

    /// The end of what the process wrote to stderr, as a suffix for an error message.
    pub(crate) fn last_words(&self) -> String {
        let tail = match self.stderr.lock() {
            Ok(tail) => String::from_utf8_lossy(&tail).trim().to_string(),
            Err(_) => String::new(),
        };
        if tail.is_empty() {
            String::new()
        } else {
            format!("\nIts stderr ended with:\n{tail}")
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the process's stderr to its end, keeping the last [`STDERR_TAIL`] bytes.
async fn drain(mut stderr: tokio::process::ChildStderr, tail: Arc<Mutex<Vec<u8>>>) {
    let mut chunk = vec![0u8; 8192];
    loop {
        match stderr.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut tail) = tail.lock() {
                    tail.extend_from_slice(&chunk[..n]);
                    if tail.len() > STDERR_TAIL {
                        let cut = tail.len() - STDERR_TAIL;
                        tail.drain(..cut);
                    }
                }
            }
        }
    }
}

/// "exited with status 1", "was killed by signal 11 (SIGSEGV) ...".
pub(crate) fn describe_exit(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "exit status unknown".to_string();
    };
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    match status.signal() {
        Some(signal) => {
            let (name, why) = match signal {
                libc::SIGKILL => ("SIGKILL", ", possibly out of memory"),
                libc::SIGSEGV => (
                    "SIGSEGV",
                    ": the interpreter crashed, e.g. on a recursion too deep for the C stack",
                ),
                libc::SIGABRT => ("SIGABRT", ": the interpreter aborted"),
                libc::SIGBUS => ("SIGBUS", ""),
                libc::SIGXCPU => ("SIGXCPU", ": its CPU-time limit was reached"),
                libc::SIGXFSZ => ("SIGXFSZ", ": its file-size limit was reached"),
                _ => ("", ""),
            };
            if name.is_empty() {
                format!("was killed by signal {signal}")
            } else {
                format!("was killed by signal {signal} ({name}){why}")
            }
        }
        None => format!("ended ({status})"),
    }
}

/// Whether `pid` has exited and waits to be reaped.
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// The namespace link (`net:[4026531840]`) of this process, to compare with the driver's.
pub(crate) fn own_namespace(name: &str) -> String {
    std::fs::read_link(Path::new("/proc/self/ns").join(name))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}
