//! [`PyChatModel`]: a Python callable `(messages, model=None) -> str` as a [`LanguageModel`],
//! the seed's `llm_chat_fn`.
//!
//! Each call runs on tokio's blocking pool and takes the GIL only for the call itself, so a
//! slow function (one waiting on its own HTTP client with the GIL released) never stalls the
//! runtime's workers. The Python wrapper (`recursive_lm.openenv`) retries without `model`
//! when the function does not take it, as the seed does.

use std::sync::Arc;

use async_trait::async_trait;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rlm::{CompletionRequest, CompletionResponse, LanguageModel, LlmError};

/// A Python chat function as a model.
pub struct PyChatModel {
    name: String,
    func: Arc<Py<PyAny>>,
}

impl PyChatModel {
    /// Wraps `func`, reported under `name` in usage and traces.
    pub fn new(name: String, func: Py<PyAny>) -> Self {
        Self {
            name,
            func: Arc::new(func),
        }
    }
}

/// Calls `func(messages, model)` and reads a `str` back.
fn call(func: &Py<PyAny>, request: &CompletionRequest) -> Result<String, LlmError> {
    Python::attach(|py| {
        let messages = PyList::empty(py);
        for m in &request.messages {
            let dict = PyDict::new(py);
            dict.set_item("role", m.role.as_str())?;
            dict.set_item("content", &m.content)?;
            messages.append(dict)?;
        }
        let out = func.call1(py, (messages, request.model.as_deref()))?;
        out.extract::<String>(py)
    })
    .map_err(|err: PyErr| LlmError::InvalidResponse {
        reason: format!("llm_chat_fn raised {err}"),
        body: String::new(),
    })
}

#[async_trait]
impl LanguageModel for PyChatModel {
    fn model_name(&self) -> &str {
        &self.name
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        let func = Arc::clone(&self.func);
        let asked = request.clone();
        let text = tokio::task::spawn_blocking(move || call(&func, &asked))
            .await
            .map_err(|e| LlmError::InvalidResponse {
                reason: format!("llm_chat_fn did not return: {e}"),
                body: String::new(),
            })??;
        let model = request.model.unwrap_or_else(|| self.name.clone());
        Ok(CompletionResponse::text(model, text))
    }
}
