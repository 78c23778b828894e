//! What a child run left behind.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The record of one child RLM run, as in the seed (`depth`, `duration`, `prompt_preview`,
/// `result_preview`, `error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildTrace {
    /// Depth of the child (parent's depth + 1).
    pub depth: u32,
    /// Wall time of the child run.
    pub duration: Duration,
    /// The first 80 characters of the prompt.
    pub prompt_preview: String,
    /// The first 80 characters of the result, when there is one.
    pub result_preview: Option<String>,
    /// The error text, when the child failed.
    pub error: Option<String>,
    /// The child's own children, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ChildTrace>,
}

/// The first `max_chars` characters of `text` (never splits a character).
pub fn preview(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_counts_characters() {
        assert_eq!(preview("héllo", 2), "hé");
        assert_eq!(preview("hi", 80), "hi");
        assert_eq!(preview("", 3), "");
    }
}
