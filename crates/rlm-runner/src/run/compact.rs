//! The loop's side of compaction ([`crate::compaction`]): before a request, a conversation over
//! its limit is summarised by the run's own model and the summary replaces the turns; the whole
//! conversation is bound to `history` in the REPL.

use rlm_core::Message;

use super::{Run, Stop};
use crate::compaction::{self, HEAD};
use crate::config::RunnerConfig;
use crate::prompts;

/// A run's compaction state.
pub(super) struct State {
    /// The size limit of a request (`None`: compaction is off).
    limit: Option<usize>,
    /// The messages compaction replaced, in order (summaries and notes included).
    archive: Vec<Message>,
    /// How many times the conversation was compacted.
    count: u32,
}

impl State {
    pub fn new(config: &RunnerConfig, model: &str) -> Self {
        Self {
            limit: config.compaction.as_ref().map(|c| c.limit_chars(model)),
            archive: Vec::new(),
            count: 0,
        }
    }

    /// The whole conversation: the opening messages, what compaction replaced, and `current`
    /// after its opening messages.
    pub fn transcript(&self, current: Vec<Message>) -> Vec<Message> {
        if self.archive.is_empty() {
            return current;
        }
        let mut current = current.into_iter();
        let mut all: Vec<Message> = current.by_ref().take(HEAD).collect();
        all.extend(self.archive.iter().cloned());
        all.extend(current);
        all
    }
}

impl Run {
    /// Compacts the conversation when it is over its limit (see [`crate::compaction`]). The
    /// summary call is one more call of the run's model, under the same budget and deadline.
    pub(super) async fn compact_if_needed(&mut self, last_chance: bool) -> Result<(), Stop> {
        let Some(limit) = self.compaction.limit else {
            return Ok(());
        };
        if !compaction::needed(&self.messages, limit, self.compaction.count) {
            return Ok(());
        }
        let before = compaction::size(&self.messages);
        let request = compaction::summary_request(&self.messages, limit);
        let response = self
            .tree
            .call_model(&self.route, request, self.deadline, None)
            .await
            .map_err(|f| self.call_stop(f))?;
        self.own_usage.add(&response.usage);
        self.note_progress();
        self.compaction.count += 1;
        let max = self.tree.config.run.max_iterations;
        let next = if last_chance {
            prompts::last_chance().to_string()
        } else {
            prompts::turn_marker(self.iterations, max)
        };
        let replaced = compaction::compact(
            &mut self.messages,
            &response.text,
            self.compaction.count,
            &next,
            limit,
        );
        self.compaction.archive.extend(replaced);
        // The next event reports the summary and the note as the messages added.
        self.reported = HEAD.min(self.messages.len());
        tracing::info!(
            rlm.compactions = self.compaction.count,
            before_chars = before,
            after_chars = compaction::size(&self.messages),
            limit_chars = limit,
            "compacted the conversation"
        );
        let all = self.compaction.transcript(self.messages.clone());
        if let Err(e) = self
            .repl
            .set_variable("history", compaction::messages_value(&all))
            .await
        {
            tracing::warn!(error = %e, "could not bind `history` after compaction");
        }
        Ok(())
    }
}
