//! [`Session`]: one REPL across questions (`docs/design.md` §13), as the official `rlm`
//! library's persistent mode.

use std::collections::BTreeMap;

use rlm_core::{ReplError, ReplValue, RunOutcomeKind, Usage};

use crate::{Completion, Context, Rlm, RlmError};

/// Questions asked in one REPL: made by [`Rlm::session`].
///
/// - The contexts are `context_0`, `context_1`, ... ([`Session::add_context`]); `context` is
///   `context_0`.
/// - After each question its root conversation is `history_N` in the REPL: a list of
///   `{"role": ..., "content": ...}` dicts, compacted turns included.
/// - Variables, functions and imports persist between questions; the first message of each
///   question says how many contexts and histories exist.
/// - Limits hold per question (each question is one tree: its own iterations, deadline, token,
///   cost and call budgets); [`Session::usage`] adds up the session.
///
/// ```no_run
/// use std::sync::Arc;
/// use rlm::{openai::OpenAiClient, Rlm};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let model = OpenAiClient::builder("gpt-5-mini").env().build()?;
/// let rlm = Rlm::builder(Arc::new(model)).build()?;
/// let mut session = rlm.session(std::fs::read_to_string("log.txt")?).await?;
/// let first = session.ask("Which service fails most often?").await?;
/// let second = session.ask("And when did it start failing?").await?; // same REPL
/// session.add_context(std::fs::read_to_string("deploys.txt")?).await?; // context_1
/// let third = session.ask("Which deploy came just before?").await?;
/// println!("{}\n{}\n{}", first.answer(), second.answer(), third.answer());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Session {
    inner: rlm_runner::Session,
}

impl Rlm {
    /// Starts a session over `context` (see [`Session`]).
    ///
    /// # Errors
    /// [`RlmError::Session`] when the REPL does not start or does not take the context.
    pub async fn session(&self, context: impl Into<Context>) -> Result<Session, RlmError> {
        let inner = self.runner.session(context.into().into_value()).await?;
        Ok(Session { inner })
    }
}

impl Session {
    /// Answers `query` in the session's REPL: like [`Rlm::completion`], and the session stays
    /// usable whatever the outcome.
    ///
    /// # Errors
    /// [`RlmError::Failed`] when the question failed (a refused key, a broken REPL).
    pub async fn ask(&mut self, query: &str) -> Result<Completion, RlmError> {
        self.ask_until(query, std::future::pending()).await
    }

    /// Like [`Session::ask`], but `stop` cancels the question (its outcome is `cancelled`) and
    /// keeps the session. On CPython the interpreter is restarted, so variables made by earlier
    /// questions are lost (contexts and histories are loaded again, and the model is told); on
    /// Monty a block computing at that moment holds the REPL until it ends (see
    /// [`Rlm::completion_until`]).
    ///
    /// # Errors
    /// As [`Session::ask`].
    pub async fn ask_until(
        &mut self,
        query: &str,
        stop: impl std::future::Future<Output = ()> + Send,
    ) -> Result<Completion, RlmError> {
        let result = self.inner.ask_until(query, stop).await;
        if result.kind() == RunOutcomeKind::Failed {
            return Err(RlmError::Failed {
                completion: Box::new(result),
            });
        }
        Ok(result)
    }

    /// Adds a context as `context_N` and returns `N`.
    ///
    /// # Errors
    /// [`RlmError::Session`] when the REPL refuses it.
    pub async fn add_context(&mut self, context: impl Into<Context>) -> Result<usize, RlmError> {
        Ok(self.inner.add_context(context.into().into_value()).await?)
    }

    /// How many contexts the session has.
    pub fn context_count(&self) -> usize {
        self.inner.context_count()
    }

    /// How many questions are stored as `history_N`.
    pub fn history_count(&self) -> usize {
        self.inner.history_count()
    }

    /// Usage of every question so far, by model name.
    pub fn usage(&self) -> &BTreeMap<String, Usage> {
        self.inner.usage()
    }

    /// Reads a REPL variable, `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// The backend's error.
    pub async fn variable(&self, name: &str) -> Result<Option<ReplValue>, ReplError> {
        self.inner.variable(name).await
    }
}
