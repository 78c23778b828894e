//! Sessions (`docs/design.md` §13): one REPL kept across questions, as the official `rlm`
//! library's persistent mode keeps it.
//!
//! - The contexts are `context_0`, `context_1`, ... ([`Session::add_context`]); `context` is
//!   `context_0` (the same object, not a copy).
//! - After each question its whole root conversation is stored as `history_N`, a list of
//!   `{"role": ..., "content": ...}` dicts (compacted turns included).
//! - Variables, functions and imports persist from one question to the next.
//! - The first message of each question says how many contexts and histories exist.
//! - Every limit holds per question: each [`Session::ask`] is one tree with its own iterations,
//!   deadline and budgets. [`Session::usage`] adds up the whole session.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use rlm_core::{HostCall, HostReply, Repl, ReplError, ReplHost, ReplValue, Usage};
use rlm_limits::Traced;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::compaction::messages_value;
use crate::outcome::RunResult;
use crate::prompts::ContextInfo;
use crate::runner::Runner;

/// A session could not be started or given a context.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The REPL session could not be started.
    #[error("could not start the REPL: {0}")]
    ReplStart(#[source] ReplError),
    /// A context could not be loaded into the REPL.
    #[error("could not load context_{index} into the REPL: {source}")]
    ContextLoad {
        /// Its number (`context_N`).
        index: usize,
        /// Why.
        #[source]
        source: ReplError,
    },
}

/// The REPL a question of a session runs in, held for the question's duration: dropping the
/// question (Ctrl-C, a deadline) releases it and the session keeps it.
pub(crate) struct Resume {
    pub repl: OwnedMutexGuard<Box<dyn Repl>>,
    /// What the first message says about `context` (`context_0`).
    pub info: ContextInfo,
    /// The note on the session's contexts and histories.
    pub note: Option<String>,
}

/// A conversation with one REPL across questions: see the module docs. Made by
/// [`Runner::session`].
pub struct Session {
    runner: Runner,
    repl: Arc<Mutex<Box<dyn Repl>>>,
    contexts: Vec<ContextInfo>,
    histories: usize,
    usage: BTreeMap<String, Usage>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("contexts", &self.contexts.len())
            .field("histories", &self.histories)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Starts a session over `context` (loaded as `context_0`, aliased `context`).
    ///
    /// # Errors
    /// [`SessionError`] when the REPL does not start or does not take the context.
    pub async fn session(&self, context: ReplValue) -> Result<Session, SessionError> {
        // The tree's custom tools, as every run's REPL has them.
        let mut repl_config = self.config().repl.clone();
        repl_config.tools = self.config().tools.function_names();
        let mut repl = self
            .repls()
            .create(&repl_config)
            .await
            .map_err(SessionError::ReplStart)?;
        for (name, value) in self.config().tools.data() {
            repl.set_variable(name, value.clone())
                .await
                .map_err(SessionError::ReplStart)?;
        }
        let repl: Box<dyn Repl> = Box::new(Traced::content(repl, self.config().trace_content));
        let mut session = Session {
            runner: self.clone(),
            repl: Arc::new(Mutex::new(repl)),
            contexts: Vec::new(),
            histories: 0,
            usage: BTreeMap::new(),
        };
        session.add_context(context).await?;
        Ok(session)
    }
}

impl Session {
    /// Adds a context as `context_N` and returns `N`.
    ///
    /// # Errors
    /// [`SessionError::ContextLoad`] when the REPL refuses it.
    pub async fn add_context(&mut self, context: ReplValue) -> Result<usize, SessionError> {
        let index = self.contexts.len();
        let info = ContextInfo::of(&context);
        let load = |source| SessionError::ContextLoad { index, source };
        let mut repl = self.repl.lock().await;
        repl.set_variable(&format!("context_{index}"), context)
            .await
            .map_err(load)?;
        if index == 0 {
            // An alias, not a copy: a 100 MB context stays one object.
            let alias = repl
                .execute("context = context_0", Arc::new(NoHost))
                .await
                .map_err(load)?;
            if let Some(error) = alias.error {
                return Err(load(ReplError::Backend {
                    backend: repl.backend_name().to_string(),
                    message: error,
                }));
            }
        }
        self.contexts.push(info);
        Ok(index)
    }

    /// Answers `query` in this session's REPL. Never fails: see [`Runner::run`].
    pub async fn ask(&mut self, query: &str) -> RunResult {
        self.ask_until(query, std::future::pending::<()>()).await
    }

    /// Like [`Session::ask`], but `stop` cancels the question when it completes; the session
    /// stays usable. On the Monty backend a block that is computing at that moment goes on
    /// until it ends or reaches its time limit, and the REPL is busy until then (see
    /// [`Runner::run_until`]); the CPython backend kills the interpreter, so the variables of
    /// earlier questions are lost (contexts and histories are loaded again).
    pub async fn ask_until(
        &mut self,
        query: &str,
        stop: impl Future<Output = ()> + Send,
    ) -> RunResult {
        let mut repl = self.repl.clone().lock_owned().await;
        let mut note = note(&self.contexts, self.histories);
        // `context` is `context_0` again for every question (as the official library restores
        // it), and a CPython interpreter restarted since (Ctrl-C) has its injected values
        // reloaded but not this alias. What the backend says about a restart goes to the model.
        if let Ok(alias) = repl.execute("context = context_0", Arc::new(NoHost)).await {
            let said = alias.stdout.trim();
            if !said.is_empty() {
                note = Some(match note {
                    Some(note) => format!("{said}\n\n{note}"),
                    None => said.to_string(),
                });
            }
        }
        let resume = Resume {
            repl,
            info: self
                .contexts
                .first()
                .cloned()
                .unwrap_or_else(|| ContextInfo::of(&ReplValue::None)),
            note,
        };
        let result = self.runner.run_resumed(query, stop, resume).await;
        for (model, usage) in &result.usage {
            self.usage.entry(model.clone()).or_default().add(usage);
        }
        if !result.messages.is_empty() {
            let name = format!("history_{}", self.histories);
            let mut repl = self.repl.lock().await;
            match repl
                .set_variable(&name, messages_value(&result.messages))
                .await
            {
                Ok(()) => self.histories += 1,
                Err(e) => tracing::warn!(error = %e, "the question's history was not stored"),
            }
        }
        result
    }

    /// How many contexts the session has (`context_0` ... `context_{n-1}`).
    pub fn context_count(&self) -> usize {
        self.contexts.len()
    }

    /// How many earlier questions are stored (`history_0` ... `history_{n-1}`).
    pub fn history_count(&self) -> usize {
        self.histories
    }

    /// Usage of every question so far, by model name.
    pub fn usage(&self) -> &BTreeMap<String, Usage> {
        &self.usage
    }

    /// Reads a REPL variable (e.g. one the model created), `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// The backend's error.
    pub async fn variable(&self, name: &str) -> Result<Option<ReplValue>, ReplError> {
        self.repl.lock().await.get_variable(name).await
    }
}

/// The note on contexts and histories for a question's first message (`None` for a session
/// with one context and no history, whose first question reads as a plain run's).
pub(crate) fn note(contexts: &[ContextInfo], histories: usize) -> Option<String> {
    let mut parts = Vec::new();
    if contexts.len() > 1 {
        let sizes: Vec<String> = contexts
            .iter()
            .enumerate()
            .take(20)
            .map(|(i, c)| {
                format!(
                    "context_{i} is a {} of {} characters",
                    c.type_name, c.total_chars
                )
            })
            .collect();
        let more = contexts.len().saturating_sub(20);
        let more = if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        };
        parts.push(format!(
            "Note: You have {} contexts available (context_0 through context_{}); `context` is context_0. {}{more}.",
            contexts.len(),
            contexts.len() - 1,
            sizes.join("; ")
        ));
    }
    match histories {
        0 => {}
        1 => parts.push(
            "Note: You have 1 prior conversation history available in `history_0`: the messages of an earlier question in this session, as a list of {\"role\": ..., \"content\": ...} dicts.".to_string(),
        ),
        n => parts.push(format!(
            "Note: You have {n} prior conversation histories available (history_0 through history_{}): the messages of earlier questions in this session, as lists of {{\"role\": ..., \"content\": ...}} dicts.",
            n - 1
        )),
    }
    if histories > 0 {
        parts.push(
            "The REPL is the same as in those questions: the variables you created then are still defined (SHOW_VARS() lists them).".to_string(),
        );
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The first user message of a question with `note`: the note follows the context's
/// description, before the query.
pub(crate) fn with_note(first: String, info: &ContextInfo, note: Option<&str>) -> String {
    let Some(note) = note else {
        return first;
    };
    let description = info.describe();
    match first.strip_prefix(&description) {
        Some(rest) => format!("{description}\n\n{note}{rest}"),
        None => format!("{note}\n\n{first}"),
    }
}

/// The host of the session's own setup code, which makes no sub-calls.
struct NoHost;

#[async_trait]
impl ReplHost for NoHost {
    async fn call(&self, _: HostCall) -> HostReply {
        HostReply::Text("Error: no sub-calls while the session is set up".into())
    }
}

/// The REPL of a run: its own, or a session's held for the question.
pub(crate) enum ReplSlot {
    /// A fresh session, dropped with the run.
    Own(Box<dyn Repl>),
    /// A session's REPL, given back when the run ends or is dropped.
    Session(OwnedMutexGuard<Box<dyn Repl>>),
}

impl std::ops::Deref for ReplSlot {
    type Target = Box<dyn Repl>;

    fn deref(&self) -> &Self::Target {
        match self {
            ReplSlot::Own(repl) => repl,
            ReplSlot::Session(guard) => guard,
        }
    }
}

impl std::ops::DerefMut for ReplSlot {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            ReplSlot::Own(repl) => repl,
            ReplSlot::Session(guard) => guard,
        }
    }
}
