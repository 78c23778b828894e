//! Python callables the REPL calls back into: custom tools ([`PyTool`], the official library's
//! `custom_tools`) and the whole sub-call surface of a `repl_env` `backend_factory` backend
//! (module `backend`).
//!
//! The Python layer wraps each user callable in an adapter taking one JSON string (the call's
//! arguments) and returning `(ok, json)`: `(True, result)` or `(False, [exception, message])`
//! when the callable raised. Every call runs on tokio's blocking pool and holds the GIL only for
//! the call itself, so a slow tool never stalls the runtime's workers and other completions go
//! on meanwhile. An exception (even one the adapter did not catch) becomes a [`ToolError`]: the
//! model's code gets a Python exception, never a crash.

use std::sync::Arc;

use async_trait::async_trait;
use pyo3::prelude::*;
use rlm::{Tool, ToolArgs, ToolError};
use serde_json::Value;

/// Calls `adapter(payload)` under the GIL on the blocking pool and decodes its `(ok, json)`.
pub async fn call_adapter(
    adapter: Arc<Py<PyAny>>,
    what: String,
    payload: String,
) -> Result<Value, ToolError> {
    let label = what.clone();
    let joined = tokio::task::spawn_blocking(move || {
        Python::attach(|py| {
            adapter
                .call1(py, (payload,))
                .and_then(|out| out.extract::<(bool, String)>(py))
        })
        .map_err(|err| ToolError::new(format!("{what} raised {err}")))
    })
    .await
    .map_err(|e| ToolError::new(format!("{label} did not return: {e}")))?;
    let (ok, json) = joined?;
    let value: Value = serde_json::from_str(&json)
        .map_err(|e| ToolError::new(format!("{label} returned no JSON value: {e}")))?;
    if ok {
        return Ok(value);
    }
    let exception = value
        .get(0)
        .and_then(Value::as_str)
        .unwrap_or("RuntimeError")
        .to_string();
    let message = value
        .get(1)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Err(ToolError::raise(exception, message))
}

/// A Python custom tool: its adapter gets `{"args": [...], "kwargs": {...}}`.
pub struct PyTool {
    name: String,
    adapter: Arc<Py<PyAny>>,
}

impl PyTool {
    /// Wraps the adapter of the tool `name`.
    pub fn new(name: String, adapter: Arc<Py<PyAny>>) -> Self {
        Self { name, adapter }
    }
}

#[async_trait]
impl Tool for PyTool {
    async fn call(&self, args: ToolArgs) -> Result<Value, ToolError> {
        let payload = serde_json::to_string(&args)
            .map_err(|e| ToolError::raise("TypeError", e.to_string()))?;
        call_adapter(
            Arc::clone(&self.adapter),
            format!("the custom tool {}()", self.name),
            payload,
        )
        .await
    }
}
