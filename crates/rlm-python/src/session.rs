//! [`Session`]: the official library's `persistent=True` mode, one REPL across completions
//! ([`rlm::Session`]).
//!
//! The first completion starts the session over its prompt (`context_0`); each later one adds
//! its prompt as the next `context_N` and asks in the same REPL, so variables, functions and
//! `history_N` carry over. Questions run one at a time (a second waits for the first); each is
//! run and awaited like [`crate::Engine`]'s completions: the GIL released, Ctrl-C or
//! `Job.cancel` stops the question and keeps the session.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use pyo3::prelude::*;
use rlm::{Context, Rlm};
use tokio::sync::{Mutex, oneshot};

use crate::engine::{Job, context, guarded, notify, stopped, wait};
use crate::{convert, runtime};

/// A multi-turn session.
#[pyclass(frozen, module = "recursive_lm._native")]
pub struct Session {
    rlm: Rlm,
    inner: Arc<Mutex<Option<rlm::Session>>>,
}

impl Session {
    /// A session of `rlm` that starts at the first question.
    pub fn new(rlm: Rlm) -> Self {
        Self {
            rlm,
            inner: Arc::new(Mutex::new(None)),
        }
    }

    /// Adds `ctx` and asks `query`; the JSON result arrives on the returned channel.
    fn spawn(
        &self,
        ctx: Context,
        query: String,
    ) -> PyResult<(oneshot::Sender<()>, Receiver<String>)> {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (tx, rx) = sync_channel(1);
        let rlm = self.rlm.clone();
        let inner = Arc::clone(&self.inner);
        runtime::get()?.spawn(async move {
            let mut slot = inner.lock().await;
            let started = match slot.as_mut() {
                Some(session) => session.add_context(ctx).await.map(|_| ()),
                None => rlm.session(ctx).await.map(|session| {
                    *slot = Some(session);
                }),
            };
            let result = match (started, slot.as_mut()) {
                (Ok(()), Some(session)) => session.ask_until(&query, stopped(stop_rx)).await,
                (Err(error), _) => Err(error),
                (Ok(()), None) => Err(rlm::RlmError::Config(rlm::ConfigError::Invalid {
                    field: "session",
                    reason: "the session did not start".into(),
                })),
            };
            let _ = tx.send(convert::encode(&result));
        });
        Ok((stop_tx, rx))
    }
}

#[pymethods]
impl Session {
    /// Adds `context` as the next `context_N` (the first starts the session), answers `query`
    /// in the session's REPL and returns the result as JSON, as `Engine.run`.
    #[pyo3(signature = (context, query, context_json=false))]
    fn run(
        &self,
        py: Python<'_>,
        context: String,
        query: String,
        context_json: bool,
    ) -> PyResult<String> {
        guarded(|| {
            let ctx = self::context(context, context_json)?;
            let (stop, rx) = self.spawn(ctx, query)?;
            wait(py, stop, rx)
        })
    }

    /// The background form of [`Session::run`], as `Engine.start`.
    #[pyo3(signature = (context, query, on_done, context_json=false))]
    fn start(
        &self,
        context: String,
        query: String,
        on_done: Py<PyAny>,
        context_json: bool,
    ) -> PyResult<Job> {
        guarded(|| {
            let ctx = self::context(context, context_json)?;
            let (stop, rx) = self.spawn(ctx, query)?;
            notify(rx, on_done)?;
            Ok(Job::new(stop))
        })
    }

    /// Ends the session: its REPL is dropped (a CPython subprocess exits). A later question
    /// starts a new session.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        guarded(|| {
            let inner = Arc::clone(&self.inner);
            let rt = runtime::get()?;
            py.detach(move || {
                rt.block_on(async move {
                    inner.lock().await.take();
                })
            });
            Ok(())
        })
    }
}
