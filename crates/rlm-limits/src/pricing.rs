//! Per-model prices, used when a provider does not report cost.

use std::collections::HashMap;

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

/// Prices by model name, supplied by the user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    /// Model name to price.
    pub models: HashMap<String, ModelPrice>,
}

impl PriceTable {
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
        let price = self.models.get(model)?;
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
}
