//! Shared helpers: an echo host, session constructors, process checks.

use std::os::unix::fs::MetadataExt as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rlm_core::{Execution, HostCall, HostReply, Repl, ReplConfig, ReplHost};
use rlm_repl_python::{PythonOptions, PythonRepl};

/// Answers `llm_query(p)` with `echo:p`.
pub struct Echo;

#[async_trait::async_trait]
impl ReplHost for Echo {
    async fn call(&self, call: HostCall) -> HostReply {
        match call {
            HostCall::LlmQuery { prompt, .. } | HostCall::RlmQuery { prompt, .. } => {
                HostReply::Text(format!("echo:{prompt}"))
            }
            HostCall::LlmQueryBatched { prompts, .. }
            | HostCall::RlmQueryBatched { prompts, .. } => {
                HostReply::Texts(prompts.iter().map(|p| format!("echo:{p}")).collect())
            }
            HostCall::Tool { name, .. } => {
                HostReply::Raise(rlm_core::ToolError::new(format!("no tool {name}")))
            }
        }
    }
}

pub fn quick(timeout_ms: u64) -> ReplConfig {
    ReplConfig {
        execution_timeout: Duration::from_millis(timeout_ms),
        ..ReplConfig::default()
    }
}

pub async fn start(config: ReplConfig, options: PythonOptions) -> PythonRepl {
    PythonRepl::start(config, options).await.unwrap()
}

pub async fn repl() -> PythonRepl {
    start(ReplConfig::default(), PythonOptions::default()).await
}

pub async fn exec(r: &mut PythonRepl, code: &str) -> Execution {
    r.execute(code, Arc::new(Echo)).await.unwrap()
}

pub async fn exec_ok(r: &mut PythonRepl, code: &str, expected: &str) {
    let out = exec(r, code).await;
    assert_eq!(out.error, None, "code:\n{code}");
    assert_eq!(out.stdout, expected, "code:\n{code}");
}

/// The error's last line (or the output when there is no error).
pub async fn outcome(r: &mut PythonRepl, code: &str) -> String {
    let out = exec(r, code).await;
    match out.error {
        Some(e) => e.lines().last().unwrap_or_default().to_string(),
        None => out.stdout.trim_end().to_string(),
    }
}

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Whether a live (non-zombie) process `pid` exists.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits up to `limit` for `pid` to be gone.
pub async fn gone_within(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !alive(pid)
}
