//! [`Sampling`]: how a model samples, provider-neutral. Each route of a run (the root model's
//! turns, the sub model's plain calls) carries one; each provider codec maps it to its own
//! fields (see `docs/providers.md`, "Sampling").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How hard a reasoning model thinks before it answers.
///
/// OpenAI and Azure send it as `reasoning_effort`; Anthropic as an extended-thinking budget
/// and Gemini as `thinkingConfig.thinkingBudget`, both of [`ReasoningEffort::budget_tokens`]
/// tokens. Other values a provider knows (OpenAI's `minimal`, Gemini 3's `thinkingLevel`) go
/// through [`Sampling::extra_body`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    /// Little thinking: 1,024 budget tokens (Anthropic's minimum).
    Low,
    /// Some thinking: 8,192 budget tokens.
    Medium,
    /// Much thinking: 24,576 budget tokens (the most Gemini 2.5 Flash accepts).
    High,
}

impl ReasoningEffort {
    /// Every effort, lowest first.
    pub const ALL: [ReasoningEffort; 3] = [Self::Low, Self::Medium, Self::High];

    /// The name on the wire and the command line: `low`, `medium`, `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// The thinking budget in tokens for providers that take a budget (Anthropic, Gemini).
    pub fn budget_tokens(self) -> u32 {
        match self {
            Self::Low => 1_024,
            Self::Medium => 8_192,
            Self::High => 24_576,
        }
    }
}

impl fmt::Display for ReasoningEffort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReasoningEffort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("{s:?} is not a reasoning effort: use low, medium or high"))
    }
}

/// The sampling settings of one kind of call, provider-neutral; `None` (or empty) fields are
/// left out of the request, so the provider's default applies.
///
/// ```
/// use rlm_core::{ReasoningEffort, Sampling};
///
/// let root = Sampling {
///     temperature: Some(0.2),
///     max_tokens: Some(4096),
///     stop: vec!["</answer>".into()],
///     ..Sampling::default()
/// };
/// let sub = Sampling { reasoning_effort: Some(ReasoningEffort::Low), ..Sampling::default() };
/// // A sub-call field left unset takes the root's, except the reasoning effort and extras.
/// let effective = sub.inherit(&root);
/// assert_eq!(effective.temperature, Some(0.2));
/// assert_eq!(effective.reasoning_effort, Some(ReasoningEffort::Low));
/// assert!(root.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Sampling temperature, in `[0, 2]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling, in `[0, 1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Upper bound on generated tokens (at least 1). Providers that think count the thinking
    /// in it (OpenAI's `max_completion_tokens`, Anthropic's `max_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Stop sequences (none empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Sampling seed, where the provider supports one (Anthropic has none: left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// How hard a reasoning model thinks ([`ReasoningEffort`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Provider extras: applied to the encoded request body as a JSON Merge Patch (RFC 7396)
    /// after every other field, so they win. Objects merge key by key, `null` deletes a key,
    /// anything else replaces the value.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra_body: Map<String, Value>,
}

/// A [`Sampling`] value out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SamplingError {
    /// A number outside its range (or not finite).
    #[error("{field} must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// The field, as spelt in [`Sampling`].
        field: &'static str,
        /// The value given.
        value: f32,
        /// The smallest value allowed.
        min: f32,
        /// The largest value allowed.
        max: f32,
    },
    /// `max_tokens` of 0.
    #[error("max_tokens must be at least 1")]
    ZeroMaxTokens,
    /// An empty stop sequence.
    #[error("a stop sequence must not be empty")]
    EmptyStop,
}

/// The range of `temperature`.
pub const TEMPERATURE_RANGE: (f32, f32) = (0.0, 2.0);
/// The range of `top_p`.
pub const TOP_P_RANGE: (f32, f32) = (0.0, 1.0);

/// Checks `value` of `field` lies in `range` (and is finite).
pub fn check_range(
    field: &'static str,
    value: f32,
    (min, max): (f32, f32),
) -> Result<(), SamplingError> {
    if value.is_finite() && (min..=max).contains(&value) {
        return Ok(());
    }
    Err(SamplingError::OutOfRange {
        field,
        value,
        min,
        max,
    })
}

impl Sampling {
    /// Whether nothing is set (every request goes out with the provider's defaults).
    pub fn is_empty(&self) -> bool {
        self == &Sampling::default()
    }

    /// Checks every value is in range: temperature in `[0, 2]`, `top_p` in `[0, 1]`,
    /// `max_tokens` at least 1, no empty stop sequence.
    pub fn validate(&self) -> Result<(), SamplingError> {
        if let Some(t) = self.temperature {
            check_range("temperature", t, TEMPERATURE_RANGE)?;
        }
        if let Some(p) = self.top_p {
            check_range("top_p", p, TOP_P_RANGE)?;
        }
        if self.max_tokens == Some(0) {
            return Err(SamplingError::ZeroMaxTokens);
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(SamplingError::EmptyStop);
        }
        Ok(())
    }

    /// These settings with every unset field taken from `parent` (the root model's), except
    /// `reasoning_effort` and `extra_body`: they belong to one model's API (a root's effort
    /// sent to a non-reasoning sub model is refused), so they are never inherited. `stop` is
    /// inherited when this one has none.
    pub fn inherit(&self, parent: &Sampling) -> Sampling {
        Sampling {
            temperature: self.temperature.or(parent.temperature),
            top_p: self.top_p.or(parent.top_p),
            max_tokens: self.max_tokens.or(parent.max_tokens),
            stop: if self.stop.is_empty() {
                parent.stop.clone()
            } else {
                self.stop.clone()
            },
            seed: self.seed.or(parent.seed),
            reasoning_effort: self.reasoning_effort,
            extra_body: self.extra_body.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_table() {
        let ok = |s: Sampling| assert_eq!(s.validate(), Ok(()), "{s:?}");
        let bad = |s: Sampling, field: &str| {
            let err = s.validate().unwrap_err();
            assert!(
                err.to_string().starts_with(field),
                "{err} should name {field}"
            );
        };
        ok(Sampling::default());
        ok(Sampling {
            temperature: Some(2.0),
            top_p: Some(0.0),
            max_tokens: Some(1),
            stop: vec!["x".into()],
            seed: Some(u64::MAX),
            reasoning_effort: Some(ReasoningEffort::High),
            ..Sampling::default()
        });
        for t in [-0.1, 2.01, f32::NAN, f32::INFINITY] {
            bad(
                Sampling {
                    temperature: Some(t),
                    ..Sampling::default()
                },
                "temperature",
            );
        }
        for p in [-0.5, 1.5, f32::NAN] {
            bad(
                Sampling {
                    top_p: Some(p),
                    ..Sampling::default()
                },
                "top_p",
            );
        }
        bad(
            Sampling {
                max_tokens: Some(0),
                ..Sampling::default()
            },
            "max_tokens",
        );
        bad(
            Sampling {
                stop: vec!["ok".into(), String::new()],
                ..Sampling::default()
            },
            "a stop sequence",
        );
    }

    #[test]
    fn inherit_takes_neutral_fields_only() {
        let mut extra = Map::new();
        extra.insert("user".into(), Value::from("root"));
        let root = Sampling {
            temperature: Some(0.7),
            top_p: Some(0.9),
            max_tokens: Some(100),
            stop: vec!["END".into()],
            seed: Some(3),
            reasoning_effort: Some(ReasoningEffort::High),
            extra_body: extra,
        };
        let inherited = Sampling::default().inherit(&root);
        assert_eq!(
            inherited,
            Sampling {
                reasoning_effort: None,
                extra_body: Map::new(),
                ..root.clone()
            }
        );
        let own = Sampling {
            temperature: Some(0.1),
            stop: vec!["STOP".into()],
            reasoning_effort: Some(ReasoningEffort::Low),
            ..Sampling::default()
        };
        let mixed = own.inherit(&root);
        assert_eq!(mixed.temperature, Some(0.1));
        assert_eq!(mixed.top_p, Some(0.9));
        assert_eq!(mixed.stop, vec!["STOP".to_string()]);
        assert_eq!(mixed.reasoning_effort, Some(ReasoningEffort::Low));
        assert!(mixed.extra_body.is_empty());
    }

    #[test]
    fn efforts_parse_print_and_serialise_alike() {
        for effort in ReasoningEffort::ALL {
            assert_eq!(effort.as_str().parse::<ReasoningEffort>(), Ok(effort));
            assert_eq!(
                serde_json::to_value(effort).unwrap(),
                Value::from(effort.to_string())
            );
        }
        assert_eq!("HIGH".parse::<ReasoningEffort>(), Ok(ReasoningEffort::High));
        assert!("extreme".parse::<ReasoningEffort>().is_err());
        assert!(ReasoningEffort::Low.budget_tokens() >= 1024);
    }

    #[test]
    fn empty_sampling_serialises_to_nothing() {
        assert_eq!(
            serde_json::to_value(Sampling::default()).unwrap(),
            serde_json::json!({})
        );
        assert!(Sampling::default().is_empty());
    }
}
