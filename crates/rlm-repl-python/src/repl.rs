//! [`PythonRepl`], the [`Repl`] implementation: the session's interpreter, its injected values,
//! restarts after timeouts, crashes and cancellation, and the isolation report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rlm_core::{
    Execution, FinalAnswer, Repl, ReplConfig, ReplError, ReplHost, ReplValue, VariableInfo, names,
};

use crate::BACKEND_NAME;
use crate::exchange::{self, End, Exchange, Injected};
use crate::interpreter;
use crate::options::{Isolation, PythonOptions, SandboxUser};
use crate::process::{self, Driver, Spec};
use crate::protocol::{self, LoadKind, Message, Ready, Request};
use crate::spawn::{self, Jail};
use crate::workdir::SessionDir;

/// Extra room over `max_output_bytes` for lines the runtime forces into the output.
const FORCED_OUTPUT_SLACK: usize = 64 * 1024;
/// Each injected value adds this many times its file size to the address-space limit.
const INJECTED_ALLOWANCE: u64 = 5;

/// The note the next execution starts with after a block that finished but had to be stopped.
const RESTARTED_AFTER_FINISH_NOTE: &str = "[rlm] The previous block kept running after it finished and was stopped, \
so the Python process was restarted: variables, functions and imports from earlier blocks are lost (injected \
variables such as `context` were loaded again).";

/// The note the next execution starts with after an operation was cancelled mid-way.
const CANCELLED_NOTE: &str = "[rlm] The previous execution was cancelled, so the Python process was restarted: \
variables, functions and imports from earlier blocks are lost (injected variables such as `context` were loaded again).";

pub(crate) fn backend(message: String) -> ReplError {
    ReplError::Backend {
        backend: BACKEND_NAME.to_string(),
        message,
    }
}

/// Logs `message` once per process for each `flag`.
fn warn_once(flag: &AtomicBool, message: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        tracing::warn!("{message}");
    }
}

static WARNED_NO_ROOT: AtomicBool = AtomicBool::new(false);
static WARNED_NO_NETNS: AtomicBool = AtomicBool::new(false);
static WARNED_NO_PIDNS: AtomicBool = AtomicBool::new(false);
static WARNED_ROOT_KEPT: AtomicBool = AtomicBool::new(false);
static WARNED_NO_RAISE: AtomicBool = AtomicBool::new(false);

/// A persistent Python session in an OS-isolated CPython subprocess.
///
/// Create one with [`PythonRepl::start`] (or through [`crate::PythonReplFactory`]) inside a tokio
/// runtime with I/O enabled, and drive it through the [`Repl`] trait. Dropping it kills the
/// interpreter's process group and removes its directory.
pub struct PythonRepl {
    config: ReplConfig,
    options: PythonOptions,
    python: PathBuf,
    /// The sandbox user, when the host is root and privileges are dropped.
    user: Option<SandboxUser>,
    /// The running interpreter; `None` when the next operation must start a fresh one.
    driver: Option<Driver>,
    isolation: Option<Isolation>,
    injected: Vec<Injected>,
    /// The `RLIMIT_AS` of the running interpreter.
    address_space: Option<u64>,
    /// No code has run in the current interpreter (it can be restarted without losing state).
    fresh: bool,
    /// An operation started and did not finish (its future was dropped): the interpreter was
    /// killed with it.
    interrupted: bool,
    /// A line the next execution's output starts with.
    note: Option<&'static str>,
    /// Declared last: removed after the interpreter is killed.
    dir: SessionDir,
}

impl std::fmt::Debug for PythonRepl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonRepl")
            .field("python", &self.python)
            .field("isolation", &self.isolation)
            .field("injected", &self.injected.len())
            .finish_non_exhaustive()
    }
}

impl PythonRepl {
    /// Finds the interpreter, creates the session directory and starts a confined interpreter
    /// holding the runtime scaffold (`llm_query`, ..., `FINAL`, `FINAL_VAR`, `SHOW_VARS`, `answer`).
    ///
    /// # Errors
    /// [`ReplError::Backend`] when `python3` is missing or unusable, or the process cannot start.
    pub async fn start(config: ReplConfig, options: PythonOptions) -> Result<Self, ReplError> {
        let user = sandbox_user(&options);
        let python = interpreter::resolve(&options, user).await?;
        Self::start_with(config, options, python).await
    }

    pub(crate) async fn start_with(
        config: ReplConfig,
        options: PythonOptions,
        python: PathBuf,
    ) -> Result<Self, ReplError> {
        for name in &config.tools {
            names::check_tool_name(name).map_err(|problem| ReplError::InvalidName {
                name: name.clone(),
                reason: problem.to_string(),
            })?;
        }
        let user = sandbox_user(&options);
        let base = options.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        let dir = SessionDir::create(&base, user).map_err(|e| {
            backend(format!(
                "could not create a session directory in {}: {e}",
                base.display()
            ))
        })?;
        let mut repl = Self {
            config,
            options,
            python,
            user,
            driver: None,
            isolation: None,
            injected: Vec::new(),
            address_space: None,
            fresh: true,
            interrupted: false,
            note: None,
            dir,
        };
        repl.restart().await?;
        Ok(repl)
    }

    /// The session's settings.
    pub fn config(&self) -> &ReplConfig {
        &self.config
    }

    /// The isolation the current interpreter process has (`None` between a crash or timeout and
    /// the next operation, which starts a fresh one).
    pub fn isolation(&self) -> Option<&Isolation> {
        self.isolation.as_ref()
    }

    /// The interpreter's private working directory.
    pub fn work_dir(&self) -> &Path {
        self.dir.work()
    }

    fn jail(&self) -> Jail {
        Jail {
            address_space: self.wanted_address_space(),
            cpu_seconds: self.options.cpu_time_limit.map(|d| d.as_secs().max(1)),
            open_files: self.options.max_open_files,
            file_size: self.options.max_file_size,
            processes: self.options.max_processes,
            user: self.user,
            namespaces: self.options.namespaces,
        }
    }

    fn wanted_address_space(&self) -> Option<u64> {
        let allowance: u64 = self
            .injected
            .iter()
            .map(|i| i.bytes.saturating_mul(INJECTED_ALLOWANCE))
            .fold(0, u64::saturating_add);
        self.options
            .memory_limit
            .map(|limit| limit.saturating_add(allowance))
    }

    fn spec(&self) -> Spec {
        Spec {
            python: self.python.clone(),
            driver: self.dir.driver().to_path_buf(),
            work: self.dir.work().to_path_buf(),
            site_packages: self.options.site_packages,
            max_output_bytes: self.config.max_output_bytes,
            max_host_calls: self.config.max_host_calls,
            max_frame_bytes: self.options.max_frame_bytes,
            tools: self.config.tools.clone(),
        }
    }

    /// How long a request other than `exec` may take (a load of a large context, say).
    fn op_timeout(&self) -> Duration {
        self.config
            .execution_timeout
            .saturating_add(Duration::from_secs(60))
    }

    /// Starts a fresh interpreter and loads every injected value into it.
    async fn restart(&mut self) -> Result<(), ReplError> {
        if let Some(mut old) = self.driver.take() {
            old.kill_and_reap().await;
        }
        self.isolation = None;
        let jail = self.jail();
        let (mut driver, ready) = Driver::start(&self.spec(), jail).await?;
        for value in &self.injected {
            exchange::load(&mut driver, value, self.op_timeout()).await?;
        }
        self.isolation = Some(self.report(&ready, &driver));
        self.address_space = jail.address_space;
        self.fresh = true;
        self.driver = Some(driver);
        Ok(())
    }

    fn report(&self, ready: &Ready, driver: &Driver) -> Isolation {
        let root = spawn::is_root();
        let isolation = Isolation {
            pid: driver.interpreter_pid(),
            process_group: driver.pid(),
            uid: ready.uid,
            gid: ready.gid,
            dropped_privileges: root
                && self
                    .user
                    .is_some_and(|u| u.uid == ready.uid && u.gid == ready.gid),
            network_namespace: !ready.net_ns.is_empty()
                && ready.net_ns != process::own_namespace("net"),
            pid_namespace: ready.pid_ns,
            user_namespace: !ready.user_ns.is_empty()
                && ready.user_ns != process::own_namespace("user"),
            python_version: ready.version.clone(),
            python: self.python.clone(),
        };
        if !root {
            warn_once(
                &WARNED_NO_ROOT,
                "the python sandbox runs with the host's uid (the host is not root): no privilege drop, \
                 no RLIMIT_NPROC, and the code can read what this uid can read, including /proc/<host pid>/environ \
                 unless a user namespace hides it",
            );
        } else if self.user.is_none() {
            warn_once(
                &WARNED_ROOT_KEPT,
                "the python sandbox runs as root (PythonOptions::sandbox_user is None)",
            );
        }
        if self.options.namespaces && !isolation.network_namespace {
            warn_once(
                &WARNED_NO_NETNS,
                "the kernel refused a network namespace for the python sandbox: its code has the host's network",
            );
        }
        if self.options.namespaces && !isolation.pid_namespace {
            warn_once(
                &WARNED_NO_PIDNS,
                "the kernel refused a PID namespace for the python sandbox: processes the code starts with setsid \
                 can outlive the session",
            );
        }
        isolation
    }

    /// Takes the interpreter for one operation, starting a fresh one if needed. While the
    /// operation runs the interpreter lives in its future: if the future is dropped, so is the
    /// interpreter (its process group is killed), and the next operation starts a new one.
    async fn take_driver(&mut self) -> Result<Driver, ReplError> {
        if std::mem::take(&mut self.interrupted) {
            self.note = Some(CANCELLED_NOTE);
            self.driver = None;
        }
        if self.driver.is_none() {
            self.restart().await?;
        }
        let driver = self
            .driver
            .take()
            .ok_or_else(|| backend("the interpreter is not running".to_string()))?;
        self.interrupted = true;
        Ok(driver)
    }

    /// Ends an operation: keeps a healthy interpreter, or kills and forgets a broken one.
    async fn put_back(&mut self, mut driver: Driver, healthy: bool) {
        self.interrupted = false;
        if healthy {
            self.driver = Some(driver);
        } else {
            driver.kill_and_reap().await;
            self.isolation = None;
        }
    }

    /// One request-reply exchange outside an execution.
    async fn request(&mut self, request: &Request<'_>) -> Result<Message, ReplError> {
        let timeout = self.op_timeout();
        let mut driver = self.take_driver().await?;
        match exchange::exchange(&mut driver, request, timeout).await {
            Ok(message) => {
                self.put_back(driver, true).await;
                Ok(message)
            }
            Err(why) => {
                let words = driver.last_words();
                self.put_back(driver, false).await;
                Err(backend(format!(
                    "the interpreter failed and will be restarted: {why}{words}"
                )))
            }
        }
    }

    fn names_reloaded(&self) -> String {
        if self.injected.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = self
                .injected
                .iter()
                .map(|i| format!("`{}`", i.name))
                .collect();
            format!(" ({} will be loaded again)", names.join(", "))
        }
    }

    async fn run_block(
        &mut self,
        code: &str,
        host: Arc<dyn ReplHost>,
    ) -> Result<Execution, ReplError> {
        let started = Instant::now();
        let mut driver = self.take_driver().await?;
        self.fresh = false;
        let note = self.note.take();
        let mut x = Exchange::new();
        exchange::drive(&mut driver, code, host.as_ref(), &self.config, &mut x).await;
        let limit = self.config.execution_timeout;
        let lost = format!(
            "the next block runs in a fresh interpreter: variables, functions and imports from \
             earlier blocks are lost{}",
            self.names_reloaded()
        );
        let end = std::mem::replace(&mut x.end, End::Alive);
        let restarted = !matches!(end, End::Alive);
        match end {
            End::Alive => self.put_back(driver, true).await,
            End::TimedOut => {
                self.put_back(driver, false).await;
                if x.finish.is_none() {
                    x.error = Some(format!(
                        "TimeoutError: time limit exceeded: the block ran longer than {limit:?}, so the Python \
                         process was stopped; {lost}"
                    ));
                }
            }
            End::Died => {
                let status = driver.settle_and_reap().await;
                let words = driver.last_words();
                self.put_back(driver, false).await;
                if x.finish.is_none() {
                    x.error = Some(format!(
                        "RuntimeError: the Python process {}; {lost}{words}",
                        process::describe_exit(status)
                    ));
                }
            }
            End::Broken(why) => {
                self.put_back(driver, false).await;
                if x.finish.is_none() {
                    x.error = Some(format!(
                        "RuntimeError: the Python process broke the REPL protocol ({why}); {lost}"
                    ));
                }
            }
        }
        if x.finish.is_some() {
            // A finish is not an error (the block was stopped on purpose); if the process had
            // to be stopped after it, say so to whoever runs the next block.
            x.error = None;
            if restarted {
                self.note = Some(RESTARTED_AFTER_FINISH_NOTE);
            }
        }
        let cap = self
            .config
            .max_output_bytes
            .saturating_add(FORCED_OUTPUT_SLACK);
        if x.stdout.len() > cap {
            let mut end = cap;
            while !x.stdout.is_char_boundary(end) {
                end -= 1;
            }
            x.stdout.truncate(end);
            x.truncated = true;
        }
        if let Some(note) = note {
            x.stdout.insert_str(0, &format!("{note}\n"));
        }
        let final_answer = x
            .finish
            .or_else(|| x.answer.map(|answer| FinalAnswer::AnswerDict { answer }));
        Ok(Execution {
            stdout: x.stdout,
            output_truncated: x.truncated,
            error: x.error,
            final_answer,
            duration: started.elapsed(),
            host_calls: x.host_calls,
        })
    }
}

pub(crate) fn sandbox_user(options: &PythonOptions) -> Option<SandboxUser> {
    options.sandbox_user.filter(|_| spawn::is_root())
}

#[async_trait]
impl Repl for PythonRepl {
    fn backend_name(&self) -> &'static str {
        BACKEND_NAME
    }

    async fn set_variable(&mut self, name: &str, value: ReplValue) -> Result<(), ReplError> {
        names::check_settable(name)?;
        let (bytes, kind) = match value {
            ReplValue::Str(s) => (s.into_bytes(), LoadKind::Str),
            ReplValue::Bytes(b) => (b, LoadKind::Bytes),
            other => (
                serde_json::to_vec(&protocol::to_wire(&other)?).map_err(|e| {
                    ReplError::Conversion {
                        message: e.to_string(),
                    }
                })?,
                LoadKind::Json,
            ),
        };
        let path = self
            .dir
            .write_value(&bytes)
            .map_err(|e| backend(format!("could not store the value of {name}: {e}")))?;
        let injected = Injected {
            name: name.to_string(),
            path,
            kind,
            bytes: bytes.len() as u64,
        };
        drop(bytes);
        let previous = self
            .injected
            .iter()
            .position(|i| i.name == name)
            .map(|i| self.injected.remove(i));
        self.injected.push(injected);
        let result = self.load_latest().await;
        let stale = match result {
            Ok(()) => previous,
            Err(_) => {
                // Keep the earlier value as the one to re-load after a restart.
                let failed = self.injected.pop();
                if let Some(previous) = previous {
                    self.injected.push(previous);
                }
                failed
            }
        };
        if let Some(stale) = stale {
            let _ = std::fs::remove_file(&stale.path);
        }
        result
    }

    async fn get_variable(&mut self, name: &str) -> Result<Option<ReplValue>, ReplError> {
        names::check_readable(name)?;
        match self.request(&Request::Get { name }).await? {
            Message::Value { value } => protocol::from_wire(value).map(Some),
            Message::Missing => Ok(None),
            Message::Error { message } => Err(backend(format!("could not read {name}: {message}"))),
            other => Err(backend(format!("unexpected answer to a read: {other:?}"))),
        }
    }

    async fn variables(&mut self) -> Result<Vec<VariableInfo>, ReplError> {
        match self.request(&Request::Vars).await? {
            Message::Vars { vars } => Ok(vars
                .into_iter()
                .map(|(name, type_name)| VariableInfo { name, type_name })
                .collect()),
            Message::Error { message } => {
                Err(backend(format!("could not list variables: {message}")))
            }
            other => Err(backend(format!(
                "unexpected answer to a listing: {other:?}"
            ))),
        }
    }

    async fn execute(
        &mut self,
        code: &str,
        host: Arc<dyn ReplHost>,
    ) -> Result<Execution, ReplError> {
        self.run_block(code, host).await
    }
}

impl PythonRepl {
    /// Loads the most recently injected value, raising the address-space limit first.
    async fn load_latest(&mut self) -> Result<(), ReplError> {
        let wanted = self.wanted_address_space();
        if let Some(driver) = &self.driver
            && wanted > self.address_space
        {
            match wanted {
                Some(bytes)
                    if spawn::set_address_space(driver.interpreter_pid(), bytes).is_ok() =>
                {
                    self.address_space = wanted;
                }
                // Nothing to lose: a fresh interpreter with the larger limit loads everything.
                _ if self.fresh => self.driver = None,
                _ => warn_once(
                    &WARNED_NO_RAISE,
                    "could not raise the python sandbox's memory limit for a new value (needs root); \
                     it must fit in the current limit",
                ),
            }
        }
        if self.driver.is_none() || self.interrupted {
            if std::mem::take(&mut self.interrupted) {
                self.note = Some(CANCELLED_NOTE);
            }
            // A restart loads every injected value, this one included.
            return self.restart().await;
        }
        let timeout = self.op_timeout();
        let mut driver = self.take_driver().await?;
        let result = match self.injected.last() {
            Some(value) => exchange::load(&mut driver, value, timeout).await,
            None => Ok(()),
        };
        let healthy = !matches!(result, Err(ReplError::Backend { .. }));
        self.put_back(driver, healthy).await;
        result
    }
}
