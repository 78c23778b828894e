//! Completion requests and responses.

use serde::{Deserialize, Serialize};

use crate::{Message, Sampling};

/// A chat-completion request, provider-neutral.
///
/// `model: None` means "the model the provider was configured with".
/// `sampling` is empty by default: the provider's defaults apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// Model name; `None` uses the provider's default model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// How to sample: temperature, `top_p`, output-token cap, stop sequences, seed, reasoning
    /// effort and provider extras (flattened: the JSON form keeps them at the top level).
    #[serde(flatten)]
    pub sampling: Sampling,
}

impl CompletionRequest {
    /// A request with these messages and default sampling.
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }

    /// The same request for another model.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The same request with this sampling.
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// Total characters of all message contents (a cheap size estimate).
    pub fn content_chars(&self) -> usize {
        self.messages.iter().map(|m| m.content.len()).sum()
    }
}

/// Why generation stopped. Unknown provider values are kept in [`FinishReason::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// Natural end or a stop sequence.
    Stop,
    /// Cut at `max_tokens` or the context window.
    Length,
    /// Withheld by the provider's filter.
    ContentFilter,
    /// The model asked for tools.
    ToolCalls,
    /// The provider did not say.
    Unknown,
    /// Any other value the provider sent.
    Other(String),
}

impl FinishReason {
    /// Parses a provider's finish-reason string (`None` and `""` give [`FinishReason::Unknown`]).
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            None | Some("") => FinishReason::Unknown,
            Some("stop") | Some("end_turn") | Some("stop_sequence") => FinishReason::Stop,
            Some("length") | Some("max_tokens") => FinishReason::Length,
            Some("content_filter") => FinishReason::ContentFilter,
            Some("tool_calls") | Some("function_call") | Some("tool_use") => {
                FinishReason::ToolCalls
            }
            Some(other) => FinishReason::Other(other.to_string()),
        }
    }
}

/// Token usage and cost of one or more calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's cache (a subset of `input_tokens`).
    pub cached_tokens: u64,
    /// Cost in USD as reported by the provider, when it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Number of completed calls this usage covers.
    #[serde(default)]
    pub calls: u64,
}

impl Usage {
    /// `input_tokens + output_tokens`.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Adds another usage to this one (costs add; an unknown cost stays unknown only if both are).
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(other.cached_tokens);
        self.calls = self.calls.saturating_add(other.calls);
        self.cost = match (self.cost, other.cost) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
    }
}

/// A provider's answer to a [`CompletionRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionResponse {
    /// The model that answered (as the provider names it).
    pub model: String,
    /// The generated text.
    pub text: String,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// What the call used.
    pub usage: Usage,
}

impl CompletionResponse {
    /// A finished (`stop`) response with this text and no usage; handy for tests and mocks.
    pub fn text(model: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            text: text.into(),
            finish_reason: FinishReason::Stop,
            usage: Usage {
                calls: 1,
                ..Usage::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reason_parse_table() {
        let cases: &[(Option<&str>, FinishReason)] = &[
            (None, FinishReason::Unknown),
            (Some(""), FinishReason::Unknown),
            (Some("stop"), FinishReason::Stop),
            (Some("length"), FinishReason::Length),
            (Some("content_filter"), FinishReason::ContentFilter),
            (Some("tool_calls"), FinishReason::ToolCalls),
            (Some("eos"), FinishReason::Other("eos".into())),
        ];
        for (input, expected) in cases {
            assert_eq!(&FinishReason::parse(*input), expected, "{input:?}");
        }
    }

    #[test]
    fn usage_add_keeps_known_costs() {
        let mut a = Usage {
            input_tokens: 1,
            output_tokens: 2,
            cached_tokens: 0,
            cost: None,
            calls: 1,
        };
        a.add(&Usage {
            input_tokens: 10,
            output_tokens: 20,
            cached_tokens: 5,
            cost: Some(0.5),
            calls: 1,
        });
        assert_eq!(a.total_tokens(), 33);
        assert_eq!(a.cached_tokens, 5);
        assert_eq!(a.cost, Some(0.5));
        assert_eq!(a.calls, 2);
    }
}
