//! Compaction (`docs/design.md` §13): when a run's own conversation passes a size limit, the
//! model summarises the turns after the opening messages and the summary replaces them. The REPL
//! is not touched; the whole conversation stays readable in the REPL as `history`.
//!
//! Sizes are counted as the token budget counts them: bytes of message content
//! ([`rlm_core::CompletionRequest::content_chars`]), about 4 per token.
//!
//! The limit is a share ([`Compaction::threshold`]) of the model's context window when it is
//! known ([`Compaction::context_window`], else [`context_window`] by model name), else a
//! character budget ([`Compaction::chars`]). No request of a compacting run (turn, last-chance
//! or summary) is larger than the limit, unless the opening messages alone are.

use rlm_core::{Message, ReplValue, Role};
use rlm_limits::ConfigError;

const SUMMARY_REQUEST: &str = include_str!("prompts/compact_summary.md");
const COMPACTED: &str = include_str!("prompts/compacted.md");

/// How many characters one token is taken to be, as the token budget estimates it.
pub const CHARS_PER_TOKEN: u64 = 4;

/// When a run's conversation is compacted. `RunnerConfig::compaction` holds one (`None`: never).
#[derive(Debug, Clone, PartialEq)]
pub struct Compaction {
    /// The share of the model's context window (0 < share ≤ 1) the conversation may fill before
    /// it is compacted (default 0.85, as the official `rlm` library).
    pub threshold: f64,
    /// The root model's context window in tokens (`None`: looked up by model name with
    /// [`context_window`]).
    pub context_window: Option<u64>,
    /// The limit in characters when the context window is unknown (default 400,000, about
    /// 100,000 tokens).
    pub chars: usize,
}

impl Default for Compaction {
    fn default() -> Self {
        Self {
            threshold: 0.85,
            context_window: None,
            chars: 400_000,
        }
    }
}

impl Compaction {
    /// The limit, in characters, for a run whose turns go to `model`.
    pub fn limit_chars(&self, model: &str) -> usize {
        match self.context_window.or_else(|| context_window(model)) {
            Some(tokens) => {
                let chars = (tokens.saturating_mul(CHARS_PER_TOKEN)) as f64 * self.threshold;
                chars as usize
            }
            None => self.chars,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(ConfigError::Invalid {
                field: "compaction.threshold",
                reason: format!("must be above 0 and at most 1, got {}", self.threshold),
            });
        }
        if self.chars < MIN_CHARS {
            return Err(ConfigError::Invalid {
                field: "compaction.chars",
                reason: format!("must be at least {MIN_CHARS} characters"),
            });
        }
        if self.context_window == Some(0) {
            return Err(ConfigError::Invalid {
                field: "compaction.context_window",
                reason: "must be at least 1 token".into(),
            });
        }
        Ok(())
    }
}

/// The smallest character budget accepted: the prompts alone take about 5,000.
pub const MIN_CHARS: usize = 10_000;

/// Context windows in tokens of current models, matched by substring of the model name, the
/// longest match winning (as the official library's `get_context_limit`). From the providers'
/// model pages, 2026-12-02.
const WINDOWS: &[(&str, u64)] = &[
    ("gpt-5", 400_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
    ("claude", 200_000),
    ("gemini", 1_048_576),
    ("gemini-2.0", 1_048_576),
    ("qwen3-coder", 262_144),
];

/// The context window of a model in tokens, when its name contains a known model's.
pub fn context_window(model: &str) -> Option<u64> {
    let model = model.to_ascii_lowercase();
    WINDOWS
        .iter()
        .filter(|(key, _)| model.contains(key))
        .max_by_key(|(key, _)| key.len())
        .map(|(_, tokens)| *tokens)
}

/// Bytes of content of `messages`.
pub(crate) fn size(messages: &[Message]) -> usize {
    messages.iter().map(|m| m.content.len()).sum()
}

/// How many opening messages compaction keeps: the system prompt and the first user message
/// (context, query).
pub(crate) const HEAD: usize = 2;

/// Whether `messages` must be compacted before the next request: over `limit`, with at least
/// one turn since the last compaction (a summary is not summarised again on its own).
pub(crate) fn needed(messages: &[Message], limit: usize, compactions: u32) -> bool {
    let kept = if compactions > 0 { HEAD + 2 } else { HEAD };
    size(messages) > limit && messages.len() > kept
}

/// The request for the summary: the conversation with the summary request appended to its last
/// user message (roles keep alternating), shortened to fit `limit` by leaving out the oldest
/// turns (they are in `history`) and, if one turn alone is too big, cutting its middle.
pub(crate) fn summary_request(messages: &[Message], limit: usize) -> Vec<Message> {
    let head = &messages[..HEAD.min(messages.len())];
    let middle = messages.get(HEAD..).unwrap_or_default();
    let request = SUMMARY_REQUEST.trim();
    let room = limit.saturating_sub(size(head) + request.len() + OMITTED_NOTE_ROOM);
    // Keep whole turns (assistant reply + user observation) from the end while they fit.
    let mut start = middle.len();
    while start > 0 {
        let from = start.saturating_sub(2);
        if size(&middle[from..]) > room {
            break;
        }
        start = from;
    }
    let mut kept: Vec<Message> = if start == middle.len() {
        // Not even the last turn fits: cut the middle of each of its messages.
        let last = &middle[middle.len().saturating_sub(2)..];
        start = middle.len() - last.len();
        let each = room / last.len().max(1);
        last.iter()
            .map(|m| Message::new(m.role, cut_middle(&m.content, each)))
            .collect()
    } else {
        middle[start..].to_vec()
    };
    let note = if start > 0 {
        format!(
            "({start} earlier messages of this conversation are left out here; they are in `history`.)\n\n"
        )
    } else {
        String::new()
    };
    match kept.last_mut() {
        Some(last) if last.role == Role::User => {
            last.content = format!("{}\n\n{note}{request}", last.content.trim_end());
        }
        _ => kept.push(Message::user(format!("{note}{request}"))),
    }
    if kept.first().is_some_and(|m| m.role == Role::User) {
        // The head ends with a user message: a kept suffix must start with the model's reply.
        kept.insert(0, Message::assistant("(earlier turns left out)"));
    }
    head.iter().cloned().chain(kept).collect()
}

/// Room kept for the note saying how many messages were left out.
const OMITTED_NOTE_ROOM: usize = 200;

/// Replaces everything after the opening messages with the summary and a note carrying `next`
/// (the turn marker, or the last-chance request), and returns the replaced messages.
pub(crate) fn compact(
    messages: &mut Vec<Message>,
    summary: &str,
    count: u32,
    next: &str,
    limit: usize,
) -> Vec<Message> {
    let replaced = messages.split_off(HEAD.min(messages.len()));
    let note = format!(
        "{}\n\n{}",
        COMPACTED.trim().replace("{{count}}", &count.to_string()),
        next
    );
    // The summary may take at most half of what is left, so that turns fit after it.
    let room = limit.saturating_sub(size(messages) + note.len()) / 2;
    let summary = cut_middle(summary.trim(), room.max(1_000));
    messages.push(Message::assistant(summary));
    messages.push(Message::user(note));
    replaced
}

/// `text` cut to at most `max` bytes, keeping its head and tail with a marker.
pub(crate) fn cut_middle(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let marker_room = 60;
    let keep = max.saturating_sub(marker_room);
    let head = floor_boundary(text, keep / 2);
    let tail = ceil_boundary(text, text.len() - (keep - keep / 2));
    let omitted = text.len() - head - (text.len() - tail);
    format!(
        "{}\n\n... [{omitted} bytes omitted] ...\n\n{}",
        &text[..head],
        &text[tail..]
    )
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while at < text.len() && !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// A conversation as the REPL holds it (`history`, `history_N`): a list of
/// `{"role": ..., "content": ...}` dicts.
pub fn messages_value(messages: &[Message]) -> ReplValue {
    ReplValue::List(
        messages
            .iter()
            .map(|m| {
                ReplValue::Dict(vec![
                    (
                        ReplValue::Str("role".into()),
                        ReplValue::Str(m.role.as_str().into()),
                    ),
                    (
                        ReplValue::Str("content".into()),
                        ReplValue::Str(m.content.clone()),
                    ),
                ])
            })
            .collect(),
    )
}

/// The summary request text (appended to the last user message of the summary request).
pub fn summary_prompt() -> &'static str {
    SUMMARY_REQUEST.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(i: usize, size: usize) -> [Message; 2] {
        [
            Message::assistant(format!("reply {i} {}", "r".repeat(size))),
            Message::user(format!("output {i} {}", "o".repeat(size))),
        ]
    }

    fn conversation(turns: usize, each: usize) -> Vec<Message> {
        let mut messages = vec![Message::system("sys"), Message::user("Query: q")];
        for i in 0..turns {
            messages.extend(turn(i, each));
        }
        messages
    }

    fn alternates(messages: &[Message]) -> bool {
        messages.windows(2).skip(1).all(|w| w[0].role != w[1].role)
    }

    #[test]
    fn limit_is_a_share_of_a_known_window_else_chars() {
        let c = Compaction::default();
        assert_eq!(c.limit_chars("gpt-5-mini"), 1_360_000);
        assert_eq!(c.limit_chars("anthropic/claude-sonnet-4-5"), 680_000);
        assert_eq!(c.limit_chars("llama3.1:8b"), 400_000);
        let told = Compaction {
            context_window: Some(10_000),
            threshold: 0.5,
            ..c
        };
        assert_eq!(told.limit_chars("gpt-5"), 20_000);
        assert_eq!(context_window("gemini-2.5-pro"), Some(1_048_576));
        assert_eq!(context_window("GPT-4o-mini"), Some(128_000));
    }

    #[test]
    fn validate_names_the_field() {
        for (bad, field) in [
            (
                Compaction {
                    threshold: 0.0,
                    ..Compaction::default()
                },
                "compaction.threshold",
            ),
            (
                Compaction {
                    threshold: 1.5,
                    ..Compaction::default()
                },
                "compaction.threshold",
            ),
            (
                Compaction {
                    chars: 10,
                    ..Compaction::default()
                },
                "compaction.chars",
            ),
            (
                Compaction {
                    context_window: Some(0),
                    ..Compaction::default()
                },
                "compaction.context_window",
            ),
        ] {
            match bad.validate() {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
        assert!(Compaction::default().validate().is_ok());
    }

    #[test]
    fn summary_request_fits_and_alternates() {
        for (turns, each, limit) in [(3, 10, 10_000), (40, 500, 10_000), (2, 50_000, 10_000)] {
            let messages = conversation(turns, each);
            let request = summary_request(&messages, limit);
            assert!(
                size(&request) <= limit,
                "{turns} {each}: {}",
                size(&request)
            );
            assert!(alternates(&request), "{turns} {each}");
            assert_eq!(request[0].role, Role::System);
            assert_eq!(request.last().map(|m| m.role), Some(Role::User));
            assert!(request.last().unwrap().content.ends_with(summary_prompt()));
        }
        // Small enough: nothing is left out.
        let request = summary_request(&conversation(3, 10), 10_000);
        assert_eq!(request.len(), 8);
        assert!(!request[7].content.contains("left out"));
    }

    #[test]
    fn compact_keeps_the_head_and_returns_the_rest() {
        let mut messages = conversation(5, 100);
        let before = messages.clone();
        let replaced = compact(&mut messages, "the summary", 1, "Turn 7/30.", 10_000);
        assert_eq!(replaced, before[2..].to_vec());
        assert_eq!(messages[..2], before[..2]);
        assert_eq!(messages[2], Message::assistant("the summary"));
        assert!(messages[3].content.contains("compacted 1 time"));
        assert!(messages[3].content.ends_with("Turn 7/30."));
        assert!(!needed(&messages, 10, 1));
        assert!(needed(&before, 10, 0));
        assert!(!needed(&before, 1_000_000, 0));
    }

    #[test]
    fn cut_middle_respects_bytes_and_boundaries() {
        let text = "é".repeat(10_000);
        let cut = cut_middle(&text, 1_000);
        assert!(cut.len() <= 1_000);
        assert!(cut.contains("bytes omitted"));
        assert_eq!(cut_middle("short", 1_000), "short");
    }

    #[test]
    fn messages_value_is_a_list_of_role_content_dicts() {
        let value = messages_value(&[Message::user("hi")]);
        assert_eq!(value.repr(), "[{'role': 'user', 'content': 'hi'}]");
    }
}
