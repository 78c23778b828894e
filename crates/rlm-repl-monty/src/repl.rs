//! [`MontyRepl`], the [`Repl`] implementation, and its [`MontyReplFactory`].

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use monty::MontyRepl as Interpreter;
use monty_types::{
    CompileOptions, DateTimeSource, ExcType, ExtFunctionResult, MontyException, MontyObject,
    OsPolicy, ResourceLimits, ResourceTracker, SleepMode,
};
use rlm_core::{
    Execution, FinalAnswer, HostCall, Repl, ReplConfig, ReplError, ReplFactory, ReplHost,
    ReplValue, VariableInfo,
};

use tokio::time::Instant;

use crate::hostcall;
use crate::memory::{self, Meter};
use crate::names::{self, ANSWER};
use crate::park::{Parked, Slot, State};
use crate::run::{Next, Run};
use crate::{BACKEND_NAME, CAPABILITIES, convert, scaffold, template};

/// A persistent Python session on the embedded Monty interpreter.
///
/// Create one with [`MontyRepl::new`] (or through [`MontyReplFactory`]) and drive it through the
/// [`Repl`] trait. The interpreter runs on tokio's blocking pool, so the async methods must be
/// awaited inside a tokio runtime; only host calls are awaited on the async side.
pub struct MontyRepl {
    config: ReplConfig,
    slot: Slot,
    /// Identifiers seen in fed code or bound by the host: a superset of the user's globals.
    names: BTreeSet<String>,
    /// How many names the installed `__rlm_vars` probe covers.
    probe_len: usize,
    /// An execution started and did not reach its epilogue (its future was dropped): the next
    /// operation first restores the scaffold and clears a stale `answer`.
    interrupted: bool,
    /// The custom tools (`ReplConfig::tools`), bound as host functions.
    tools: Arc<[String]>,
    /// The session's memory meter, current on the thread of every interpreter step.
    meter: Arc<Meter>,
    /// The variables as they are now, when known without asking the interpreter (listed at
    /// the end of the last block, or by the last [`Repl::variables`]); cleared by anything that
    /// may change them.
    listing: Option<Vec<VariableInfo>>,
    /// Set once [`Repl::variables`] has been asked: from then on every block lists the
    /// variables in its own epilogue, on the same blocking-pool trip, so a caller that lists
    /// them after each block (`rlm serve`) pays no second trip and no second compile.
    eager_listing: bool,
    /// Values bound by [`Repl::set_variable`] and not yet in the interpreter: they ride into it
    /// with the next operation's first feed, so binding `context` and running the first block
    /// cost one trip to the blocking pool, not two.
    pending: Vec<(String, MontyObject)>,
}

impl std::fmt::Debug for MontyRepl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MontyRepl")
            .field("config", &self.config)
            .field("names", &self.names.len())
            .finish_non_exhaustive()
    }
}

impl Drop for MontyRepl {
    /// A block still running on the blocking pool for a caller that went away (a client that
    /// disconnected mid-step) is stopped at its next interpreter checkpoint, through the
    /// session's memory check, instead of computing until its time limit.
    fn drop(&mut self) {
        self.meter.cancel();
    }
}

/// What every blocking step needs to finish a block.
struct Epilogue {
    /// The probe to reinstall with the whole scaffold, when the block touched a runtime name.
    restore: Option<String>,
    /// The custom tools, reinstalled with the scaffold.
    tools: Arc<[String]>,
    /// List the variables after the block (see `MontyRepl::eager_listing`).
    list: bool,
}

/// How a suspended call goes on.
enum Resume {
    /// With the host's answer (a value or a raised exception).
    Answer(ExtFunctionResult),
    /// Stopped: a tool outlived the block's time limit.
    Abort(MontyException),
}

impl MontyRepl {
    /// Starts a session: an interpreter holding the runtime scaffold (`FINAL`, `FINAL_VAR`,
    /// `SHOW_VARS`, the sub-call functions) and `answer = {"content": "", "ready": False}`.
    ///
    /// The custom tools of [`ReplConfig::tools`] are bound as host functions too.
    ///
    /// # Errors
    /// [`ReplError::InvalidName`] for a tool name [`rlm_core::names::check_tool_name`] refuses;
    /// [`ReplError::Backend`] if the scaffold does not load (a bug, not a user error).
    pub fn new(config: ReplConfig) -> Result<Self, ReplError> {
        for name in &config.tools {
            rlm_core::names::check_tool_name(name).map_err(|problem| ReplError::InvalidName {
                name: name.clone(),
                reason: problem.to_string(),
            })?;
        }
        let tools: Arc<[String]> = config.tools.clone().into();
        memory::install_probe();
        let meter = Arc::new(Meter::new());
        // The interpreter and its scaffold are the session's too.
        let entered = meter.enter();
        let names = BTreeSet::from([ANSWER.to_string()]);
        let (interp, built) = match template::load(&config) {
            Some(interp) => (interp, false),
            None => (build(&config, &names, &tools)?, true),
        };
        drop(entered);
        if built {
            template::keep(&config, &interp);
        }
        Ok(Self {
            probe_len: names.len(),
            interrupted: false,
            tools,
            names,
            config,
            slot: Arc::new(Mutex::new(Some(interp))),
            meter,
            listing: None,
            eager_listing: false,
            pending: Vec::new(),
        })
    }

    /// The session's settings.
    pub fn config(&self) -> &ReplConfig {
        &self.config
    }

    /// Bytes the session holds allocated, as counted against [`ReplConfig::max_memory`]: the
    /// interpreter's state and what the code allocated, not the context. Always 0 unless the
    /// binary installed [`memory::SessionAllocator`].
    pub fn memory_usage(&self) -> usize {
        self.meter.usage()
    }

    fn checkout(&self) -> Result<Parked, ReplError> {
        Parked::checkout(&self.slot).ok_or_else(|| {
            backend(
                "the interpreter is unavailable: an earlier execution was cancelled while the interpreter was \
                 running (the session comes back when that step ends, within the execution time limit) or it \
                 crashed (the session is lost; create a new one)"
                    .to_string(),
            )
        })
    }

    /// A fresh `__rlm_vars` source if the installed one misses names; marks it installed.
    fn refreshed_probe(&mut self) -> Option<String> {
        (self.names.len() != self.probe_len).then(|| self.current_probe())
    }

    fn current_probe(&mut self) -> String {
        self.probe_len = self.names.len();
        scaffold::probe_source(&self.names)
    }

    /// What the first blocking step of an operation must do before its own work.
    fn prepare(&mut self, wants_probe: bool) -> Prepare {
        // After an interrupted execution: the whole scaffold, with a probe of every name.
        let recovery = self.interrupted.then(|| self.current_probe());
        let probe = if wants_probe {
            self.refreshed_probe()
        } else {
            None
        };
        Prepare {
            recovery,
            bindings: std::mem::take(&mut self.pending),
            probe,
            tools: Arc::clone(&self.tools),
        }
    }

    /// The variables, listed here on the caller's thread when nothing has to run first: the
    /// listing reads the heap and runs no code, so it is cheaper than a trip to the blocking
    /// pool. `None` when the interpreter is out (a cancelled block still running) or owes work
    /// (pending bindings, recovery after an interrupted block).
    fn list_in_place(&self) -> Option<Vec<VariableInfo>> {
        if !self.pending.is_empty() || self.interrupted {
            return None;
        }
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        let interp = slot.as_ref()?;
        let _metered = self.meter.enter();
        Some(scaffold::list_variables(interp, &self.tools))
    }

    /// Runs `work` on the idle interpreter on the blocking pool.
    async fn with_idle<T, F>(&mut self, work: F) -> Result<T, ReplError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Interpreter) -> Result<T, ReplError> + Send + 'static,
    {
        let mut parked = self.checkout()?;
        let prepare = self.prepare(false);
        let meter = Arc::clone(&self.meter);
        let result = blocking(move || {
            let _metered = meter.enter();
            let mut interp = parked.take_idle().ok_or_else(not_idle)?;
            let result = prepare.apply(&mut interp).and_then(|()| work(&mut interp));
            parked.set(State::Idle(interp));
            Ok(result)
        })
        .await??;
        self.interrupted = false;
        result
    }

    async fn run_block(
        &mut self,
        code: &str,
        host: Arc<dyn ReplHost>,
    ) -> Result<Execution, ReplError> {
        let started = std::time::Instant::now();
        let mut parked = self.checkout()?;
        self.listing = None;
        let scan = names::scan(code, &self.tools);
        self.names.extend(scan.identifiers);
        // SHOW_VARS/FINAL_VAR must see the names this very block introduces.
        let prepare = self.prepare(scan.needs_probe);
        let restore = scan.touches_scaffold.then(|| self.current_probe());
        let epilogue = Arc::new(Epilogue {
            restore,
            tools: Arc::clone(&self.tools),
            list: self.eager_listing,
        });
        // Cleared once this block's epilogue has run.
        self.interrupted = true;

        let mut run = Run::new(&self.config, Arc::clone(&self.tools));
        let code = code.to_owned();
        let step_epilogue = Arc::clone(&epilogue);
        // Time that counts against the block's limit: interpreter steps and tool calls (not
        // sub-calls to models, which other limits bound).
        let mut counted = Duration::ZERO;
        let stepped = Instant::now();
        let meter = Arc::clone(&self.meter);
        let mut step = blocking(move || {
            let _metered = meter.enter();
            let mut interp = parked.take_idle().ok_or_else(not_idle)?;
            if let Err(e) = prepare.apply(&mut interp) {
                parked.set(State::Idle(interp));
                return Err(e);
            }
            let next = run.start(interp, &code);
            Ok(settle(next, parked, run, &step_epilogue))
        })
        .await??;
        counted += stepped.elapsed();

        let run = loop {
            let (mut parked, mut run, request) = step;
            let Some(request) = request else {
                drop(parked);
                break run;
            };
            // While this await is pending `parked` holds the suspended call: if the caller drops
            // the future, dropping `parked` abandons the snippet and keeps the session.
            let resume = match &request {
                HostCall::Tool { name, .. } => {
                    let name = name.clone();
                    let left = self.config.execution_timeout.saturating_sub(counted);
                    let waited = Instant::now();
                    let reply = tokio::time::timeout(left, host.call(request)).await;
                    counted += waited.elapsed();
                    match reply {
                        Ok(reply) => Resume::Answer(answer(reply)),
                        Err(_) => Resume::Abort(hostcall::tool_timeout(&name)),
                    }
                }
                _ => Resume::Answer(answer(host.call(request).await)),
            };
            let step_epilogue = Arc::clone(&epilogue);
            let stepped = Instant::now();
            let meter = Arc::clone(&self.meter);
            step = blocking(move || {
                let _metered = meter.enter();
                let call = parked.take_suspended().ok_or_else(|| {
                    backend("the interpreter was not waiting for a host call".to_string())
                })?;
                let next = match resume {
                    Resume::Answer(result) => run.resume(call, result),
                    Resume::Abort(error) => run.abort(call, error),
                };
                Ok(settle(next, parked, run, &step_epilogue))
            })
            .await??;
            counted += stepped.elapsed();
        };

        self.interrupted = false;
        let mut run = run;
        self.listing = run.listing.take();
        let (stdout, output_truncated) = run.out.finish();
        Ok(Execution {
            stdout,
            output_truncated,
            error: run.error,
            final_answer: run.finish,
            duration: started.elapsed(),
            host_calls: run.host_calls,
        })
    }
}

/// A new interpreter holding the scaffold (see [`MontyRepl::new`]).
fn build(
    config: &ReplConfig,
    names: &BTreeSet<String>,
    tools: &[String],
) -> Result<Interpreter, ReplError> {
    let limits = ResourceLimits::default()
        // Per feed: every execution, and every runtime feed around it, starts a fresh budget.
        .max_feed_duration(config.execution_timeout)
        // Checked against this session's meter (see `memory`); without `SessionAllocator`
        // installed the meter stays at zero and this only pre-checks single large results
        // (`'a' * 10**12`, `2 ** 10**10`), which would otherwise abort the host process.
        .max_memory(config.max_memory)
        .max_suspensions(usize::try_from(config.max_host_calls).unwrap_or(usize::MAX));
    let mut interp = Interpreter::new(
        template::SCRIPT,
        ResourceTracker::new(limits),
        CompileOptions::default(),
    )
    .with_os_policy(os_policy());
    scaffold::start(&mut interp, &scaffold::probe_source(names), tools).map_err(|e| {
        backend(format!(
            "could not load the runtime scaffold: {}",
            e.summary()
        ))
    })?;
    Ok(interp)
}

/// The value (or exception) a host's reply gives the suspended call.
fn answer(reply: rlm_core::HostReply) -> ExtFunctionResult {
    match reply.into_result() {
        Ok(value) => match convert::to_monty(value) {
            Ok(value) => ExtFunctionResult::Return(value),
            Err(e) => ExtFunctionResult::Error(MontyException::new(
                ExcType::RuntimeError,
                Some(e.to_string()),
            )),
        },
        Err(error) => ExtFunctionResult::Error(hostcall::tool_exception(error)),
    }
}

/// Work the first blocking step of an operation does before its own.
struct Prepare {
    /// The probe to reinstall with the whole scaffold after an interrupted execution.
    recovery: Option<String>,
    /// Values bound since the last operation (`MontyRepl::pending`).
    bindings: Vec<(String, MontyObject)>,
    /// A regenerated probe to install.
    probe: Option<String>,
    /// The custom tools, reinstalled with the scaffold.
    tools: Arc<[String]>,
}

impl Prepare {
    /// Fails only when the pending values cannot be bound (the session's memory cap).
    fn apply(self, interp: &mut Interpreter) -> Result<(), ReplError> {
        if let Some(probe) = &self.recovery {
            // The interrupted block's `answer`, if it became ready, is stale: drop it.
            let _stale = scaffold::after_block(interp, Some(probe), &self.tools);
        }
        if !self.bindings.is_empty() {
            let names: Vec<String> = self.bindings.iter().map(|(name, _)| name.clone()).collect();
            if let Err(e) = scaffold::feed(interp, "pass", self.bindings) {
                // Monty binds the inputs before its memory check fails: release them (they
                // are left as `None`), or the session would stay over its cap and every later
                // block would fail.
                scaffold::release(interp, &names);
                return Err(ReplError::Conversion {
                    message: format!("could not bind the value set earlier: {}", e.summary()),
                });
            }
        }
        scaffold::refresh_probe(interp, self.probe.as_deref());
        Ok(())
    }
}

/// Parks the interpreter after a step; when the block is done, runs the epilogue first.
fn settle(
    next: Next,
    mut parked: Parked,
    mut run: Run,
    epilogue: &Epilogue,
) -> (Parked, Run, Option<HostCall>) {
    match next {
        Next::Host { call, request } => {
            parked.set(State::Suspended(call));
            (parked, run, Some(request))
        }
        Next::Done { mut interp, error } => {
            run.error = error;
            if let Some(answer) =
                scaffold::after_block(&mut interp, epilogue.restore.as_deref(), &epilogue.tools)
            {
                run.finish.get_or_insert(FinalAnswer::AnswerDict { answer });
            }
            if epilogue.list {
                run.listing = Some(scaffold::list_variables(&interp, &epilogue.tools));
            }
            parked.set(State::Idle(interp));
            (parked, run, None)
        }
    }
}

/// What the sandbox's clock, sleep and randomness do. The clock is an OS call (denied, as in
/// every release of this backend); `time.sleep` returns at once, so sleeping can neither hold a
/// blocking thread nor dodge the time limit (Monty does not count sleeps against it); `random`
/// seeds itself from OS entropy inside the interpreter.
fn os_policy() -> OsPolicy {
    OsPolicy {
        datetime: DateTimeSource::CallHost,
        sleep: SleepMode::Zero,
        ..OsPolicy::default()
    }
}

/// Runs `work` on tokio's blocking pool.
async fn blocking<T, F>(work: F) -> Result<T, ReplError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(backend(
            "the monty backend must be used inside a tokio runtime".to_string(),
        ));
    }
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        let what = if e.is_panic() {
            "panicked; the session is lost"
        } else {
            "was cancelled"
        };
        backend(format!("the interpreter task {what}"))
    })
}

fn not_idle() -> ReplError {
    backend("the interpreter was not idle".to_string())
}

fn backend(message: String) -> ReplError {
    ReplError::Backend {
        backend: BACKEND_NAME.to_string(),
        message,
    }
}

#[async_trait]
impl Repl for MontyRepl {
    fn backend_name(&self) -> &'static str {
        BACKEND_NAME
    }

    async fn set_variable(&mut self, name: &str, value: ReplValue) -> Result<(), ReplError> {
        names::check_settable(name)?;
        let value = convert::to_monty(value)?;
        self.listing = None;
        self.names.insert(name.to_string());
        // Bound with the next operation's first feed (see `MontyRepl::pending`).
        self.pending.retain(|(pending, _)| pending != name);
        self.pending.push((name.to_string(), value));
        Ok(())
    }

    async fn get_variable(&mut self, name: &str) -> Result<Option<ReplValue>, ReplError> {
        names::check_readable(name)?;
        let name = name.to_string();
        self.with_idle(
            move |interp| match scaffold::feed(interp, &name, Vec::new()) {
                Ok(value) => Ok(Some(convert::from_monty(value))),
                Err(e) if e.exc_type() == ExcType::NameError => Ok(None),
                Err(e) => Err(backend(format!("could not read {name}: {}", e.summary()))),
            },
        )
        .await
    }

    async fn variables(&mut self) -> Result<Vec<VariableInfo>, ReplError> {
        if let Some(listing) = &self.listing {
            return Ok(listing.clone());
        }
        let listing = match self.list_in_place() {
            Some(listing) => listing,
            None => {
                let tools = Arc::clone(&self.tools);
                self.with_idle(move |interp| Ok(scaffold::list_variables(interp, &tools)))
                    .await?
            }
        };
        self.eager_listing = true;
        self.listing = Some(listing.clone());
        Ok(listing)
    }

    async fn execute(
        &mut self,
        code: &str,
        host: Arc<dyn ReplHost>,
    ) -> Result<Execution, ReplError> {
        self.run_block(code, host).await
    }
}

/// Creates [`MontyRepl`] sessions.
#[derive(Debug, Clone, Copy, Default)]
pub struct MontyReplFactory;

impl MontyReplFactory {
    /// A factory of Monty sessions.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl ReplFactory for MontyReplFactory {
    fn backend_name(&self) -> &'static str {
        BACKEND_NAME
    }

    async fn create(&self, config: &ReplConfig) -> Result<Box<dyn Repl>, ReplError> {
        Ok(Box::new(MontyRepl::new(config.clone())?))
    }

    fn capabilities(&self) -> String {
        CAPABILITIES.to_string()
    }
}
