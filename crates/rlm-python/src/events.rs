//! [`PyEvents`]: the run's events the Python callbacks want, delivered to one Python callable
//! `on_event(name, args)` that the Python layer dispatches (`on_subcall_start`,
//! `on_subcall_complete`, `on_iteration_start`, `on_iteration_complete`).
//!
//! As in the seed, the sub-call callbacks fire for child RLM runs only (`rlm_query` below the
//! depth limit), not for plain LLM sub-calls. Only these four events cross into Python, and only when a callback was given. The callable
//! is called synchronously on the run's task, with the GIL taken for the call; an exception it
//! raises is printed by Python and ignored, as the seed ignores callback errors.

use pyo3::prelude::*;
use rlm::{EventSink, RunEvent, SinkError, SubcallKind};

/// Forwards events to a Python callable.
pub struct PyEvents {
    func: Py<PyAny>,
}

impl PyEvents {
    /// Wraps `on_event(name, args)`.
    pub fn new(func: Py<PyAny>) -> Self {
        Self { func }
    }

    fn send<A>(&self, name: &str, args: A)
    where
        A: for<'py> IntoPyObject<'py>,
    {
        Python::attach(|py| {
            if let Err(err) = self.func.call1(py, (name, args)) {
                err.print(py);
            }
        });
    }
}

impl EventSink for PyEvents {
    fn on_event(&self, event: &RunEvent) -> Result<(), SinkError> {
        match event {
            RunEvent::SubcallStarted {
                depth,
                model,
                prompt_preview,
                kind: SubcallKind::Rlm,
                ..
            } => self.send(
                "subcall_start",
                (*depth, model.clone(), prompt_preview.clone()),
            ),
            RunEvent::SubcallCompleted {
                depth,
                model,
                duration,
                error,
                child_run_id: Some(_),
                ..
            } => self.send(
                "subcall_complete",
                (*depth, model.clone(), duration.as_secs_f64(), error.clone()),
            ),
            RunEvent::IterationStarted {
                depth, iteration, ..
            } => self.send("iteration_start", (*depth, *iteration)),
            RunEvent::ModelResponded {
                depth,
                iteration,
                duration,
                ..
            } => self.send(
                "iteration_complete",
                (*depth, *iteration, duration.as_secs_f64()),
            ),
            _ => {}
        }
        Ok(())
    }
}
