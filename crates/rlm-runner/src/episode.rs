//! [`Episode`]: a REPL session whose code comes from outside the loop (an environment server
//! such as `rlm serve`, where the policy being trained writes the code), with the sub-call
//! machinery of a run: `llm_query`, `llm_query_batched`, `rlm_query` and `rlm_query_batched`
//! reach the runner's models under every limit of one recursion tree.
//!
//! An episode is one tree: its own budget, usage ledger and deadline
//! ([`RunLimits::timeout`](rlm_limits::RunLimits::timeout) counts from [`Runner::episode`]).
//! `rlm_query` spawns child runs whose root turns use the runner's root model, as in a run.

use std::collections::BTreeMap;
use std::sync::Arc;

use rlm_core::{Repl, ReplError, ReplHost, Usage};
use rlm_limits::{BudgetSnapshot, Deadline};

use crate::recursion::SubcallHost;
use crate::runner::Runner;
use crate::spec::RunIds;
use crate::tree::Tree;

/// One externally driven session: its REPL comes from [`Episode::create_repl`], and its code's
/// sub-calls go to [`Episode::host`].
///
/// ```
/// # use std::sync::Arc;
/// # use async_trait::async_trait;
/// # use rlm_core::*;
/// # use rlm_runner::{Models, Runner, RunnerConfig};
/// # struct Echo;
/// # #[async_trait]
/// # impl LanguageModel for Echo {
/// #     fn model_name(&self) -> &str { "echo" }
/// #     async fn complete(&self, r: CompletionRequest) -> Result<CompletionResponse, LlmError> {
/// #         Ok(CompletionResponse::text("echo", "pong"))
/// #     }
/// # }
/// # struct NoRepls;
/// # #[async_trait]
/// # impl ReplFactory for NoRepls {
/// #     fn backend_name(&self) -> &'static str { "none" }
/// #     async fn create(&self, _: &ReplConfig) -> Result<Box<dyn Repl>, ReplError> { Err(ReplError::Cancelled) }
/// #     fn capabilities(&self) -> String { String::new() }
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let runner = Runner::new(Models::new(Arc::new(Echo)), Arc::new(NoRepls), RunnerConfig::default())?;
/// let episode = runner.episode();
/// let reply = episode.host().call(HostCall::LlmQuery { prompt: "ping".into(), model: None }).await;
/// assert_eq!(reply, HostReply::Text("pong".into()));
/// assert_eq!(episode.usage()["echo"].calls, 1);
/// # Ok::<(), rlm_limits::ConfigError>(())
/// # }).unwrap();
/// ```
pub struct Episode {
    tree: Arc<Tree>,
    host: Arc<SubcallHost>,
}

impl std::fmt::Debug for Episode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Episode")
            .field("budget", &self.tree.state.budget().snapshot())
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A new episode: a fresh recursion tree whose root is code written outside the loop.
    pub fn episode(&self) -> Episode {
        let tree = Arc::new(self.tree());
        let deadline = Deadline::after(tree.config.run.timeout);
        let host = Arc::new(SubcallHost::new(
            tree.clone(),
            RunIds::root().run_id,
            0,
            deadline,
        ));
        Episode { tree, host }
    }
}

impl Episode {
    /// Answers the sub-calls of the episode's code (pass it to [`Repl::execute`]).
    pub fn host(&self) -> Arc<dyn ReplHost> {
        self.host.clone()
    }

    /// A fresh REPL session with the runner's backend and block limits
    /// ([`RunnerConfig::repl`](crate::RunnerConfig)).
    pub async fn create_repl(&self) -> Result<Box<dyn Repl>, ReplError> {
        self.tree.create_repl(&self.tree.config.repl).await
    }

    /// Usage per model name so far, children included.
    pub fn usage(&self) -> BTreeMap<String, Usage> {
        self.tree.state.usage()
    }

    /// The tree's budget counters so far.
    pub fn budget(&self) -> BudgetSnapshot {
        self.tree.state.budget().snapshot()
    }
}
