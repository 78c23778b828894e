//! OpenEnv `repl_env`'s `backend_factory`: a Python backend object answers the REPL's sub-calls
//! (`llm_query`, `llm_query_batched`, `rlm_query`, `rlm_query_batched`) in place of the
//! runtime, as `repl_env`'s `LocalREPLEnv` binds `backend.query`, `backend.query_batched`,
//! `backend.recursive_query` and `backend.recursive_query_batched`.
//!
//! [`PyBackendRepls`] decorates the REPL factory: each session it makes runs its code with a
//! host ([`PyBackendHost`]) that sends those four calls to the Python adapter (as the JSON of
//! the [`HostCall`]) and everything else (custom tools) to the runtime. The recursion then
//! happens in Python, wherever the backend puts it; the runtime's own children never start. A
//! backend method that raises gives the calling code that exception, as in `repl_env`.

use std::sync::Arc;

use async_trait::async_trait;
use pyo3::prelude::*;
use rlm::core::{
    Execution, HostCall, HostReply, Repl, ReplConfig, ReplError, ReplFactory, ReplHost, ReplValue,
    VariableInfo,
};
use serde_json::Value;

use crate::tools::call_adapter;

/// A REPL factory whose sessions send sub-calls to a Python backend.
pub struct PyBackendRepls {
    inner: Arc<dyn ReplFactory>,
    adapter: Arc<Py<PyAny>>,
}

impl PyBackendRepls {
    /// Decorates `inner`; `adapter(call_json) -> (ok, json)` answers the sub-calls.
    pub fn new(inner: Arc<dyn ReplFactory>, adapter: Arc<Py<PyAny>>) -> Self {
        Self { inner, adapter }
    }
}

#[async_trait]
impl ReplFactory for PyBackendRepls {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    async fn create(&self, config: &ReplConfig) -> Result<Box<dyn Repl>, ReplError> {
        Ok(Box::new(PyBackendRepl {
            inner: self.inner.create(config).await?,
            adapter: Arc::clone(&self.adapter),
        }))
    }

    fn capabilities(&self) -> String {
        self.inner.capabilities()
    }
}

struct PyBackendRepl {
    inner: Box<dyn Repl>,
    adapter: Arc<Py<PyAny>>,
}

#[async_trait]
impl Repl for PyBackendRepl {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    async fn set_variable(&mut self, name: &str, value: ReplValue) -> Result<(), ReplError> {
        self.inner.set_variable(name, value).await
    }

    async fn get_variable(&mut self, name: &str) -> Result<Option<ReplValue>, ReplError> {
        self.inner.get_variable(name).await
    }

    async fn variables(&mut self) -> Result<Vec<VariableInfo>, ReplError> {
        self.inner.variables().await
    }

    async fn execute(
        &mut self,
        code: &str,
        host: Arc<dyn ReplHost>,
    ) -> Result<Execution, ReplError> {
        let host = Arc::new(PyBackendHost {
            runtime: host,
            adapter: Arc::clone(&self.adapter),
        });
        self.inner.execute(code, host).await
    }
}

/// Sends the four sub-calls to the Python backend, the rest to the runtime.
pub struct PyBackendHost {
    runtime: Arc<dyn ReplHost>,
    adapter: Arc<Py<PyAny>>,
}

#[async_trait]
impl ReplHost for PyBackendHost {
    async fn call(&self, call: HostCall) -> HostReply {
        if matches!(call, HostCall::Tool { .. }) {
            return self.runtime.call(call).await;
        }
        let what = format!("the backend's {}()", python_method(&call));
        let payload = match serde_json::to_string(&call) {
            Ok(payload) => payload,
            Err(e) => return HostReply::Text(format!("Error: {e}")),
        };
        match call_adapter(Arc::clone(&self.adapter), what, payload).await {
            Ok(Value::String(text)) => HostReply::Text(text),
            Ok(Value::Array(items)) => HostReply::Texts(
                items
                    .into_iter()
                    .map(|item| match item {
                        Value::String(text) => text,
                        other => other.to_string(),
                    })
                    .collect(),
            ),
            Ok(Value::Null) => HostReply::Text(String::new()),
            Ok(other) => HostReply::Text(other.to_string()),
            Err(error) => HostReply::Raise(error),
        }
    }
}

/// The backend method that answers `call`.
fn python_method(call: &HostCall) -> &'static str {
    match call {
        HostCall::LlmQuery { .. } => "query",
        HostCall::LlmQueryBatched { .. } => "query_batched",
        HostCall::RlmQuery { .. } => "recursive_query",
        HostCall::RlmQueryBatched { .. } | HostCall::Tool { .. } => "recursive_query_batched",
    }
}
