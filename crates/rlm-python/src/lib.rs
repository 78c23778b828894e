//! `rlm-python`: the native module `recursive_lm._native` of the `recursive-lm` Python package.
//!
//! The Python layer (`python/recursive_lm`) turns the two public APIs, the official `rlms`
//! library's `RLM` and OpenEnv `repl_env`'s `LocalRLMRunner`, into one settings object and
//! hands it to [`Engine`]. The engine runs completions on a process-wide tokio runtime with
//! the GIL released; Python is entered again only to call the user's `llm_chat_fn`
//! (module `chat_fn`), custom tools and a `repl_env` backend (modules `tools`, `backend`), the
//! event callbacks (module `events`) and the completion callback of an asynchronous job. A
//! [`Session`] keeps one REPL across completions (`persistent=True`). A panic never reaches Python: each entry point catches it and raises
//! `RuntimeError` instead.
//!
//! From Python:
//!
//! ```python
//! from recursive_lm import RLM
//! rlm = RLM(backend="openai", backend_kwargs={"model_name": "gpt-5-mini"})
//! print(rlm.completion("a long context", root_prompt="the question").response)
//! ```
//!
//! Layer: a binding, at the top like `rlm-cli`: it depends on the workspace only through the
//! facade (`recursive-lm`). Its tests are the package's pytest suite (`tests/`), which
//! `cargo xtask test` runs against the installed wheel.

mod backend;
mod chat_fn;
mod convert;
mod engine;
mod events;
mod runtime;
mod session;
mod settings;
mod tools;

use pyo3::prelude::*;

pub use engine::{Engine, Job};
pub use session::Session;

/// The module `recursive_lm._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<Job>()?;
    m.add_class::<Session>()?;
    m.add_function(wrap_pyfunction!(engine::export_official, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
