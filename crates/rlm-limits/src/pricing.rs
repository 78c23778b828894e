//! Per-model prices, used when a provider does not report cost: the user's, then the built-in,
//! dated table of `data/prices.json` (OpenAI, Anthropic and Gemini models; its `source` and
//! `as_of` say where the figures come from and when).

use std::collections::HashMap;
use std::sync::OnceLock;

use rlm_core::Usage;
use serde::{Deserialize, Serialize};

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Uncached input tokens.
    pub input: f64,
    /// Cached input tokens.
    pub cached_input: f64,
    /// Output tokens.
    pub output: f64,
}

/// The built-in table's text: `source`, `as_of`, `written`, `unit` and `models`.
pub const BUILTIN_PRICES_JSON: &str = include_str!("../data/prices.json");

#[derive(Deserialize)]
struct BuiltinFile {
    as_of: String,
    models: HashMap<String, ModelPrice>,
}

fn builtin_file() -> &'static BuiltinFile {
    static TABLE: OnceLock<BuiltinFile> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(BUILTIN_PRICES_JSON).unwrap_or_else(|_| BuiltinFile {
            as_of: String::new(),
            models: HashMap::new(),
        })
    })
}

/// The built-in prices, by model name.
pub fn builtin_prices() -> &'static HashMap<String, ModelPrice> {
    &builtin_file().models
}

/// When the built-in prices were last checked (`YYYY-MM`).
pub fn builtin_prices_as_of() -> &'static str {
    &builtin_file().as_of
}

/// Prices by model name: the user's (`models`), which override the built-in table (when
/// `builtin` is on, the default).
///
/// A model name is looked up as given, then without a routing prefix (`openai/gpt-4o`,
/// `models/gemini-2.5-pro`) and without a date or version suffix (`-2024-08-06`,
/// `-20250929`, `-latest`, `-001`), first in the user's prices, then in the built-in ones.
///
/// ```
/// use rlm_limits::{ModelPrice, PriceTable};
/// let table = PriceTable::default();
/// assert!(table.price("claude-sonnet-4-5-20250929").is_some());
/// let mine = table.with("gpt-4o", ModelPrice { input: 1.0, cached_input: 0.5, output: 2.0 });
/// assert_eq!(mine.price("gpt-4o-2024-08-06").map(|p| p.output), Some(2.0));
/// assert_eq!(PriceTable::empty().price("gpt-4o"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    /// The user's prices, by model name.
    pub models: HashMap<String, ModelPrice>,
    /// Whether the built-in table is consulted after the user's prices.
    #[serde(default = "yes")]
    pub builtin: bool,
}

fn yes() -> bool {
    true
}

impl Default for PriceTable {
    /// No user prices, the built-in table on.
    fn default() -> Self {
        Self {
            models: HashMap::new(),
            builtin: true,
        }
    }
}

/// The names to look a model up under, most specific first.
fn candidates(model: &str) -> Vec<&str> {
    let mut out = vec![model];
    let base = model.rsplit('/').next().unwrap_or(model);
    if base != model {
        out.push(base);
    }
    let mut name = base;
    while let Some(shorter) = strip_version(name) {
        out.push(shorter);
        name = shorter;
    }
    out
}

/// `name` without one trailing `-latest`, `-YYYY-MM-DD`, `-YYYYMMDD` or `-NNN`.
fn strip_version(name: &str) -> Option<&str> {
    if let Some(rest) = name.strip_suffix("-latest") {
        return Some(rest);
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (rest, last) = name.rsplit_once('-')?;
    if digits(last) && (last.len() == 8 || last.len() == 3) {
        return Some(rest);
    }
    // `-YYYY-MM-DD`: three numeric parts.
    let (rest2, month) = rest.rsplit_once('-')?;
    let (rest3, year) = rest2.rsplit_once('-')?;
    (digits(last)
        && last.len() == 2
        && digits(month)
        && month.len() == 2
        && digits(year)
        && year.len() == 4)
        .then_some(rest3)
}

impl PriceTable {
    /// No prices at all: neither the user's nor the built-in ones.
    pub fn empty() -> Self {
        Self {
            models: HashMap::new(),
            builtin: false,
        }
    }

    /// The price of `model`: the user's, else the built-in one (see the type's docs).
    pub fn price(&self, model: &str) -> Option<ModelPrice> {
        let names = candidates(model);
        let user = names.iter().find_map(|n| self.models.get(*n));
        let builtin = || {
            self.builtin
                .then(|| names.iter().find_map(|n| builtin_prices().get(*n)))
                .flatten()
        };
        user.or_else(builtin).copied()
    }

    /// Adds or replaces a model's price.
    pub fn with(mut self, model: impl Into<String>, price: ModelPrice) -> Self {
        self.models.insert(model.into(), price);
        self
    }

    /// The cost of `usage`: the provider's reported cost when present, else the table's price,
    /// else `None`.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        if usage.cost.is_some() {
            return usage.cost;
        }
        let price = self.price(model)?;
        let cached = usage.cached_tokens.min(usage.input_tokens);
        let uncached = usage.input_tokens - cached;
        Some(
            (uncached as f64 * price.input
                + cached as f64 * price.cached_input
                + usage.output_tokens as f64 * price.output)
                / 1_000_000.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_cost_wins_then_table() {
        let table = PriceTable::default().with(
            "m",
            ModelPrice {
                input: 2.0,
                cached_input: 1.0,
                output: 8.0,
            },
        );
        let u = Usage {
            input_tokens: 1_000_000,
            cached_tokens: 500_000,
            output_tokens: 100_000,
            ..Usage::default()
        };
        let cost = table.cost("m", &u).unwrap();
        assert!((cost - (1.0 + 0.5 + 0.8)).abs() < 1e-9);
        assert_eq!(table.cost("other", &u), None);
        // The built-in table prices known models, and the user's price overrides it.
        let builtin = PriceTable::default().cost("gpt-4o-mini", &u).unwrap();
        assert!((builtin - (0.5 * 0.15 + 0.5 * 0.075 + 0.1 * 0.6)).abs() < 1e-9);
        let mine = PriceTable::default()
            .with(
                "gpt-4o-mini",
                ModelPrice {
                    input: 1.0,
                    cached_input: 1.0,
                    output: 1.0,
                },
            )
            .cost("gpt-4o-mini", &u)
            .unwrap();
        assert!((mine - 1.1).abs() < 1e-9);
        assert_eq!(
            table.cost(
                "m",
                &Usage {
                    cost: Some(0.25),
                    ..u
                }
            ),
            Some(0.25)
        );
    }

    #[test]
    fn the_builtin_table_is_dated_and_covers_the_three_providers() {
        let file: serde_json::Value = serde_json::from_str(BUILTIN_PRICES_JSON).unwrap();
        assert!(file["source"].as_str().unwrap().contains("pricing"));
        assert_eq!(builtin_prices_as_of(), file["as_of"].as_str().unwrap());
        for model in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
            "o3",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
            "claude-opus-4-1",
            "claude-sonnet-4-5",
            "claude-haiku-4-5",
            "claude-3-7-sonnet",
            "claude-3-5-sonnet",
            "claude-3-5-haiku",
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
        ] {
            let p = builtin_prices()
                .get(model)
                .unwrap_or_else(|| panic!("{model}"));
            assert!(
                p.input > 0.0 && p.output >= p.input && p.cached_input <= p.input,
                "{model}: {p:?}"
            );
        }
    }

    #[test]
    fn names_are_found_without_routing_prefixes_and_dates() {
        let table = PriceTable::default();
        let sonnet = table.price("claude-sonnet-4-5").unwrap();
        for name in [
            "claude-sonnet-4-5-20250929",
            "anthropic/claude-sonnet-4-5",
            "claude-sonnet-4-5-latest",
        ] {
            assert_eq!(table.price(name), Some(sonnet), "{name}");
        }
        assert_eq!(
            table.price("gpt-4o-2024-08-06"),
            table.price("gpt-4o"),
            "dated snapshot"
        );
        // A snapshot with its own price keeps it.
        assert_ne!(table.price("gpt-4o-2024-05-13"), table.price("gpt-4o"));
        assert_eq!(
            table.price("models/gemini-2.5-flash-001"),
            table.price("gemini-2.5-flash")
        );
        assert_eq!(table.price("fake-model"), None);
        assert_eq!(table.price("llama3.1:8b"), None);
        assert_eq!(PriceTable::empty().price("gpt-4o"), None);
    }
}
