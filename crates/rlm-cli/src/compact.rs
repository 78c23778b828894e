//! The compaction flags of `rlm run` and `rlm chat` (`docs/design.md` §13); their defaults are
//! the library's [`Compaction::default`].

use clap::Args;
use rlm::Compaction;

/// When a long root conversation is summarised and replaced by the summary.
#[derive(Debug, Clone, Args)]
pub struct CompactionArgs {
    /// Compact the conversation once it fills this share of the model's context window
    /// (0 < SHARE ≤ 1), when the window is known (by model name, or --context-window).
    #[arg(long, value_name = "SHARE", default_value_t = Compaction::default().threshold,
          value_parser = parse_share)]
    pub compact_at: f64,
    /// Compact the conversation once it passes this many characters, when the model's context
    /// window is unknown.
    #[arg(long, value_name = "CHARS", default_value_t = Compaction::default().chars)]
    pub compact_chars: usize,
    /// The root model's context window in tokens (default: known for current OpenAI, Anthropic
    /// and Gemini models by name).
    #[arg(long, value_name = "TOKENS")]
    pub context_window: Option<u64>,
    /// Never compact: the conversation grows until the model's window refuses it.
    #[arg(long, conflicts_with_all = ["compact_at", "compact_chars", "context_window"])]
    pub no_compact: bool,
}

impl CompactionArgs {
    /// The library setting these flags ask for.
    pub fn compaction(&self) -> Option<Compaction> {
        (!self.no_compact).then_some(Compaction {
            threshold: self.compact_at,
            chars: self.compact_chars,
            context_window: self.context_window,
        })
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    let share: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number between 0 and 1 (e.g. 0.85)"))?;
    if share > 0.0 && share <= 1.0 {
        Ok(share)
    } else {
        Err(format!("{s:?} must be above 0 and at most 1 (e.g. 0.85)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_share_takes_a_fraction_only() {
        assert_eq!(parse_share("0.5"), Ok(0.5));
        assert_eq!(parse_share("1"), Ok(1.0));
        for bad in ["0", "1.5", "-0.2", "85%", "x"] {
            assert!(parse_share(bad).is_err(), "{bad}");
        }
    }
}
