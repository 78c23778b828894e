//! [`Engine`]: one configured RLM, run from Python with the GIL released, and [`Job`], a
//! completion started in the background (the form `asyncio` awaits).
//!
//! [`Engine::run`] starts the completion on the shared runtime and waits for it in slices of
//! [`TICK`], the GIL released while it waits; between slices it runs Python's signal handlers,
//! so Ctrl-C (`KeyboardInterrupt`) cancels the run (its HTTP calls and child runs dropped) and
//! is raised within a tick or two. [`Engine::start`] returns at once; the completion calls
//! `on_done(result_json)` from a blocking-pool thread when it ends, and [`Job::cancel`] stops
//! it. Dropping a job does not cancel its run: only `cancel` does.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use rlm::trajectory::TrajectoryWriter;
use rlm::{Context, LanguageModel, Rlm};
use tokio::sync::oneshot;

use crate::backend::PyBackendRepls;
use crate::chat_fn::PyChatModel;
use crate::events::PyEvents;
use crate::session::Session;
use crate::settings::{self, Settings};
use crate::tools::PyTool;
use crate::{convert, runtime};

/// How often a waiting [`Engine::run`] looks at Python's signals.
const TICK: Duration = Duration::from_millis(50);

/// Runs `f`, turning a panic into `RuntimeError` so none reaches Python.
pub(crate) fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(PyRuntimeError::new_err(
            "internal error in recursive_lm (a Rust panic); please report it",
        ))
    })
}

/// A custom tool from Python: name, description, adapter.
type PyToolSpec = (String, String, Arc<Py<PyAny>>);

/// The custom tools of the root and, when they differ, of child RLMs (`custom_sub_tools`).
#[derive(Default)]
struct ToolSpecs {
    root: Vec<PyToolSpec>,
    sub: Option<Vec<PyToolSpec>>,
}

fn specs(tools: Option<Vec<(String, String, Py<PyAny>)>>) -> Vec<PyToolSpec> {
    tools
        .unwrap_or_default()
        .into_iter()
        .map(|(name, description, adapter)| (name, description, Arc::new(adapter)))
        .collect()
}

/// A configured RLM.
#[pyclass(frozen, module = "recursive_lm._native")]
pub struct Engine {
    settings: Settings,
    root: Arc<dyn LanguageModel>,
    events: Option<Arc<PyEvents>>,
    tools: ToolSpecs,
    backend: Option<Arc<Py<PyAny>>>,
    rlm: Rlm,
}

/// A completion running in the background.
#[pyclass(frozen, module = "recursive_lm._native")]
pub struct Job {
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

#[pymethods]
impl Job {
    /// Cancels the completion: its `on_done` receives a `cancelled` result with the usage so
    /// far. Does nothing once it has ended.
    fn cancel(&self) {
        if let Ok(mut stop) = self.stop.lock()
            && let Some(tx) = stop.take()
        {
            let _ = tx.send(());
        }
    }
}

impl Job {
    /// A job that `stop` cancels.
    pub(crate) fn new(stop: oneshot::Sender<()>) -> Self {
        Job {
            stop: Mutex::new(Some(stop)),
        }
    }
}

/// A stop future that completes on an explicit send only (not when the sender is dropped).
pub(crate) async fn stopped(rx: oneshot::Receiver<()>) {
    if rx.await.is_err() {
        std::future::pending::<()>().await;
    }
}

pub(crate) fn context(text: String, json: bool) -> PyResult<Context> {
    if !json {
        return Ok(Context::from(text));
    }
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| PyValueError::new_err(format!("the context is not JSON: {e}")))?;
    Ok(Context::from(value))
}

impl Engine {
    /// The RLM of one completion: the shared one, or a fresh one writing a trajectory.
    fn rlm_for(&self, trajectory: Option<&str>, extra: Option<&str>) -> PyResult<Rlm> {
        let Some(path) = trajectory else {
            return Ok(self.rlm.clone());
        };
        let writer = TrajectoryWriter::create(path).map_err(|e| {
            PyRuntimeError::new_err(format!("cannot create the trajectory {path}: {e}"))
        })?;
        let extra = extra
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| PyValueError::new_err(format!("invalid trajectory settings: {e}")))?
            .unwrap_or(serde_json::Value::Null);
        self.builder()?
            .trajectory_with(Arc::new(writer), extra)
            .build()
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// A builder with every setting, tool and callback of this engine.
    fn builder(&self) -> PyResult<rlm::RlmBuilder> {
        build(
            &self.settings,
            &self.root,
            self.events.as_ref(),
            &self.tools,
            self.backend.as_ref(),
        )
    }

    /// Starts the completion; its JSON result arrives on the returned channel.
    fn spawn(
        &self,
        rlm: Rlm,
        ctx: Context,
        query: String,
    ) -> PyResult<(oneshot::Sender<()>, Receiver<String>)> {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (tx, rx) = sync_channel(1);
        runtime::get()?.spawn(async move {
            let result = rlm.completion_until(ctx, &query, stopped(stop_rx)).await;
            let _ = tx.send(convert::encode(&result));
        });
        Ok((stop_tx, rx))
    }
}

fn build(
    settings: &Settings,
    root: &Arc<dyn LanguageModel>,
    events: Option<&Arc<PyEvents>>,
    tools: &ToolSpecs,
    backend: Option<&Arc<Py<PyAny>>>,
) -> PyResult<rlm::RlmBuilder> {
    let mut builder = settings.builder(Arc::clone(root))?;
    if let Some(events) = events {
        builder = builder.subscribe(Arc::clone(events) as Arc<dyn rlm::EventSink>);
    }
    for (name, description, adapter) in &tools.root {
        let tool = PyTool::new(name.clone(), Arc::clone(adapter));
        builder = builder.tool(name.clone(), description.clone(), Arc::new(tool));
    }
    if tools.sub.is_some() || settings.sub_tool_data.is_some() {
        let mut sub = rlm::Tools::default();
        for (name, description, adapter) in tools.sub.iter().flatten() {
            let tool = PyTool::new(name.clone(), Arc::clone(adapter));
            sub.add_function(name.clone(), description.clone(), Arc::new(tool));
        }
        for data in settings.sub_tool_data.iter().flatten() {
            sub.add_data(
                data.name.clone(),
                data.description.clone(),
                data.value.clone().into(),
            );
        }
        builder = builder.sub_tools(sub);
    }
    if let Some(adapter) = backend {
        let repls = PyBackendRepls::new(settings.repls()?, Arc::clone(adapter));
        builder = builder.repl(Arc::new(repls));
    }
    Ok(builder)
}

/// Waits for a result on `rx` with the GIL released, in slices of [`TICK`]; Ctrl-C sends
/// `stop` and raises `KeyboardInterrupt`.
pub(crate) fn wait(
    py: Python<'_>,
    stop: oneshot::Sender<()>,
    mut rx: Receiver<String>,
) -> PyResult<String> {
    let mut stop = Some(stop);
    loop {
        let (got, back) = py.detach(move || (rx.recv_timeout(TICK), rx));
        rx = back;
        match got {
            Ok(json) => return Ok(json),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    if let Some(tx) = stop.take() {
                        let _ = tx.send(());
                    }
                    let _ = py.detach(move || rx.recv_timeout(Duration::from_secs(1)));
                    return Err(interrupt);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "the completion ended without a result (internal error)",
                ));
            }
        }
    }
}

/// Calls `on_done(result_json)` from a blocking-pool thread once `rx` yields.
pub(crate) fn notify(rx: Receiver<String>, on_done: Py<PyAny>) -> PyResult<()> {
    runtime::get()?.spawn_blocking(move || {
        let json = rx.recv().unwrap_or_else(|_| convert::internal_error());
        Python::attach(|py| {
            if let Err(err) = on_done.call1(py, (json,)) {
                err.print(py);
            }
        });
    });
    Ok(())
}

#[pymethods]
impl Engine {
    /// An engine from the settings JSON; `chat_fn` serves every model call when given (the
    /// seed's `llm_chat_fn`), and `on_event(name, args)` receives the callback events.
    ///
    /// `tools` lists the custom tools as `(name, description, adapter)`, where
    /// `adapter(args_json) -> (ok, json)` calls the user's function; `backend` is the adapter of
    /// a `repl_env` backend that answers every sub-call (module `backend`); `sub_tools`, when
    /// given (even empty), are the custom tools of child RLMs instead of `tools`.
    #[new]
    #[pyo3(signature = (settings, chat_fn=None, on_event=None, tools=None, backend=None, sub_tools=None))]
    fn new(
        settings: &str,
        chat_fn: Option<Py<PyAny>>,
        on_event: Option<Py<PyAny>>,
        tools: Option<Vec<(String, String, Py<PyAny>)>>,
        backend: Option<Py<PyAny>>,
        sub_tools: Option<Vec<(String, String, Py<PyAny>)>>,
    ) -> PyResult<Self> {
        guarded(|| {
            let settings = Settings::parse(settings)?;
            let root: Arc<dyn LanguageModel> = match (chat_fn, &settings.root) {
                (Some(f), _) => Arc::new(PyChatModel::new(
                    settings
                        .chat_model_name
                        .clone()
                        .unwrap_or_else(|| "default".into()),
                    f,
                )),
                (None, Some(root)) => settings::model(root)?,
                (None, None) => {
                    return Err(PyValueError::new_err(
                        "no model: give a backend or a chat function",
                    ));
                }
            };
            let events = on_event.map(|f| Arc::new(PyEvents::new(f)));
            let tools = ToolSpecs {
                root: specs(tools),
                sub: sub_tools.map(|t| specs(Some(t))),
            };
            let backend = backend.map(Arc::new);
            let rlm = build(&settings, &root, events.as_ref(), &tools, backend.as_ref())?
                .build()
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            Ok(Engine {
                settings,
                root,
                events,
                tools,
                backend,
                rlm,
            })
        })
    }

    /// Runs one completion and returns its result as JSON. The GIL is released while it
    /// runs; Ctrl-C cancels it and raises `KeyboardInterrupt`.
    #[pyo3(signature = (context, query, context_json=false, trajectory=None, trajectory_extra=None))]
    fn run(
        &self,
        py: Python<'_>,
        context: String,
        query: String,
        context_json: bool,
        trajectory: Option<String>,
        trajectory_extra: Option<String>,
    ) -> PyResult<String> {
        guarded(|| {
            let rlm = self.rlm_for(trajectory.as_deref(), trajectory_extra.as_deref())?;
            let ctx = self::context(context, context_json)?;
            let (stop, rx) = self.spawn(rlm, ctx, query)?;
            wait(py, stop, rx)
        })
    }

    /// Starts one completion in the background; `on_done(result_json)` is called when it
    /// ends (from a thread of the runtime's blocking pool). Returns the [`Job`].
    #[pyo3(signature = (context, query, on_done, context_json=false, trajectory=None, trajectory_extra=None))]
    fn start(
        &self,
        context: String,
        query: String,
        on_done: Py<PyAny>,
        context_json: bool,
        trajectory: Option<String>,
        trajectory_extra: Option<String>,
    ) -> PyResult<Job> {
        guarded(|| {
            let rlm = self.rlm_for(trajectory.as_deref(), trajectory_extra.as_deref())?;
            let ctx = self::context(context, context_json)?;
            let (stop, rx) = self.spawn(rlm, ctx, query)?;
            notify(rx, on_done)?;
            Ok(Job::new(stop))
        })
    }

    /// A multi-turn session ([`Session`]) over this engine's settings; with `trajectory`,
    /// every question of the session is written there.
    #[pyo3(signature = (trajectory=None, trajectory_extra=None))]
    fn session(
        &self,
        trajectory: Option<String>,
        trajectory_extra: Option<String>,
    ) -> PyResult<Session> {
        guarded(|| {
            let rlm = self.rlm_for(trajectory.as_deref(), trajectory_extra.as_deref())?;
            Ok(Session::new(rlm))
        })
    }
}

/// Writes the official `rlm` log of the trajectory at `trajectory` to `out`, appending; with
/// `last_run`, of its last root run only (a session's trajectory holds one per question).
#[pyfunction]
#[pyo3(signature = (trajectory, out, last_run=false))]
pub fn export_official(trajectory: &str, out: &str, last_run: bool) -> PyResult<()> {
    guarded(|| {
        let mut tree = rlm::trajectory::read_file(trajectory)
            .map_err(|e| PyRuntimeError::new_err(format!("cannot read {trajectory}: {e}")))?;
        if last_run {
            tree.runs = tree.runs.pop().into_iter().collect();
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .map_err(|e| PyRuntimeError::new_err(format!("cannot open {out}: {e}")))?;
        rlm::trajectory::write_official(&tree, std::io::BufWriter::new(file))
            .map_err(|e| PyRuntimeError::new_err(format!("cannot write {out}: {e}")))
    })
}
