//! [`PythonReplFactory`]: creates [`PythonRepl`] sessions.

use std::path::PathBuf;

use async_trait::async_trait;
use rlm_core::{Repl, ReplConfig, ReplError, ReplFactory};
use tokio::sync::OnceCell;

use crate::interpreter;
use crate::options::PythonOptions;
use crate::repl::{PythonRepl, sandbox_user};
use crate::{BACKEND_NAME, CAPABILITIES};

/// Creates [`PythonRepl`] sessions. The interpreter is looked up once, on the first `create`.
#[derive(Debug, Default)]
pub struct PythonReplFactory {
    options: PythonOptions,
    python: OnceCell<PathBuf>,
}

impl PythonReplFactory {
    /// A factory with the default (hardened) [`PythonOptions`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A factory with the given options.
    pub fn with_options(options: PythonOptions) -> Self {
        Self {
            options,
            python: OnceCell::new(),
        }
    }

    /// The options sessions are created with.
    pub fn options(&self) -> &PythonOptions {
        &self.options
    }

    /// Starts a session and returns it with its concrete type (for [`PythonRepl::isolation`]).
    ///
    /// # Errors
    /// As [`PythonRepl::start`].
    pub async fn start(&self, config: &ReplConfig) -> Result<PythonRepl, ReplError> {
        let python = self
            .python
            .get_or_try_init(|| interpreter::resolve(&self.options, sandbox_user(&self.options)))
            .await?
            .clone();
        PythonRepl::start_with(config.clone(), self.options.clone(), python).await
    }
}

#[async_trait]
impl ReplFactory for PythonReplFactory {
    fn backend_name(&self) -> &'static str {
        BACKEND_NAME
    }

    async fn create(&self, config: &ReplConfig) -> Result<Box<dyn Repl>, ReplError> {
        Ok(Box::new(self.start(config).await?))
    }

    fn capabilities(&self) -> String {
        CAPABILITIES.to_string()
    }
}
