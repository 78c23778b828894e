//! Which conversation a chat request belongs to, so a script can answer each RLM run by its
//! query and turn instead of by brittle substring search over the whole transcript.
//!
//! Every RLM turn request starts with the system prompt and a first user message holding
//! `Query: <query>`; a plain sub-call (`llm_query`) is a single user message.

use crate::RecordedRequest;
use rlm_core::{CompletionRequest, Role};

/// What a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A turn of an RLM run (root or child).
    Turn {
        /// The run's query (for a child: its prompt).
        query: String,
        /// 0-based turn: how many assistant replies the conversation already has.
        turn: usize,
        /// The last user message (observations of the previous turn).
        last_user: String,
    },
    /// A plain sub-call: its prompt.
    Plain {
        /// The prompt.
        prompt: String,
    },
}

/// Classifies a conversation given as `(role, content)` pairs.
pub fn classify_pairs(messages: &[(String, String)]) -> Call {
    let is_turn = messages.first().is_some_and(|(role, _)| role == "system");
    if !is_turn {
        let prompt = messages.last().map(|(_, c)| c.clone()).unwrap_or_default();
        return Call::Plain { prompt };
    }
    let first_user = messages.get(1).map(|(_, c)| c.as_str()).unwrap_or("");
    let query = first_user
        .split_once("Query: ")
        .map(|(_, rest)| {
            rest.split("\n\nYou have not looked")
                .next()
                .unwrap_or(rest)
                .to_string()
        })
        .unwrap_or_default();
    let turn = messages
        .iter()
        .filter(|(role, _)| role == "assistant")
        .count();
    let last_user = messages
        .iter()
        .rev()
        .find(|(role, _)| role == "user")
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    Call::Turn {
        query,
        turn,
        last_user,
    }
}

/// Classifies an in-process request.
pub fn classify(request: &CompletionRequest) -> Call {
    let pairs: Vec<(String, String)> = request
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            (role.to_string(), m.content.clone())
        })
        .collect();
    classify_pairs(&pairs)
}

/// Classifies a request the fake server received.
pub fn classify_http(request: &RecordedRequest) -> Call {
    let pairs: Vec<(String, String)> = request
        .json
        .as_ref()
        .and_then(|j| j.get("messages"))
        .and_then(|m| m.as_array())
        .map(|msgs| {
            msgs.iter()
                .map(|m| {
                    let role = m
                        .get("role")
                        .and_then(|r| r.as_str())
                        .unwrap_or("")
                        .to_string();
                    let content = m
                        .get("content")
                        .and_then(|c| c.as_str())
                        .unwrap_or("")
                        .to_string();
                    (role, content)
                })
                .collect()
        })
        .unwrap_or_default();
    classify_pairs(&pairs)
}

/// Wraps code in a ```repl block.
pub fn repl(code: &str) -> String {
    format!("Let me run this.\n```repl\n{code}\n```")
}
