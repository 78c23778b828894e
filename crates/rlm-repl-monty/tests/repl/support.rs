//! Shared test helpers: a recording host, session constructors and `check`.

use std::sync::{Arc, Mutex};

use rlm_core::{Execution, HostCall, HostReply, Repl, ReplConfig, ReplHost};
use rlm_repl_monty::MontyRepl;

type Answer = dyn Fn(&HostCall) -> HostReply + Send + Sync;

/// A host that records every call and answers from a closure.
pub struct TestHost {
    calls: Mutex<Vec<HostCall>>,
    answer: Box<Answer>,
}

impl TestHost {
    pub fn new(answer: impl Fn(&HostCall) -> HostReply + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            calls: Mutex::new(Vec::new()),
            answer: Box::new(answer),
        })
    }

    /// Answers `llm_query(p)` with `echo:p` and `rlm_query(p)` with `child:p`, per prompt for batches.
    pub fn echo() -> Arc<Self> {
        Self::new(|call| match call {
            HostCall::LlmQuery { prompt, .. } => HostReply::Text(format!("echo:{prompt}")),
            HostCall::RlmQuery { prompt, .. } => HostReply::Text(format!("child:{prompt}")),
            HostCall::LlmQueryBatched { prompts, .. } => {
                HostReply::Texts(prompts.iter().map(|p| format!("echo:{p}")).collect())
            }
            HostCall::RlmQueryBatched { prompts, .. } => {
                HostReply::Texts(prompts.iter().map(|p| format!("child:{p}")).collect())
            }
            HostCall::Tool { name, .. } => {
                HostReply::Raise(rlm_core::ToolError::new(format!("no tool {name}")))
            }
        })
    }

    pub fn calls(&self) -> Vec<HostCall> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl ReplHost for TestHost {
    async fn call(&self, call: HostCall) -> HostReply {
        self.calls.lock().unwrap().push(call.clone());
        (self.answer)(&call)
    }
}

/// The default config with another execution time limit.
pub fn with_timeout(ms: u64) -> ReplConfig {
    ReplConfig {
        execution_timeout: std::time::Duration::from_millis(ms),
        ..ReplConfig::default()
    }
}

/// The names `variables()` lists.
pub async fn variable_names(repl: &mut MontyRepl) -> Vec<String> {
    repl.variables()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect()
}

/// A fresh session with the default config.
pub fn repl() -> MontyRepl {
    repl_with(ReplConfig::default())
}

pub fn repl_with(config: ReplConfig) -> MontyRepl {
    MontyRepl::new(config).unwrap()
}

/// Runs `code` with the echo host.
pub async fn exec(repl: &mut MontyRepl, code: &str) -> Execution {
    repl.execute(code, TestHost::echo()).await.unwrap()
}

/// Runs `code` and asserts it printed `expected` without an error.
pub async fn exec_ok(repl: &mut MontyRepl, code: &str, expected: &str) {
    let out = exec(repl, code).await;
    assert_eq!(out.error, None, "code:\n{code}");
    assert_eq!(out.stdout, expected, "code:\n{code}");
}

/// Runs `code` in a fresh session and asserts its output.
pub async fn check(code: &str, expected: &str) {
    exec_ok(&mut repl(), code, expected).await;
}

/// Runs `code` in a fresh session and returns the error's last line.
pub async fn error_line(code: &str) -> String {
    let out = exec(&mut repl(), code).await;
    let error = out
        .error
        .unwrap_or_else(|| panic!("no error for:\n{code}\nstdout: {}", out.stdout));
    error.lines().last().unwrap_or_default().to_string()
}
