//! The limit bundles: the recursion limits ([`BackendLimits`], the seed's name) and the
//! run-level [`RunLimits`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The recursion limits: how deep runs may nest, how many children the tree and one batch may
/// spawn, how many sub-calls run at once, how long a child may take and how much of a sub-call's
/// result is kept. The name and fields are the seed's `BackendLimits` (OpenEnv `repl_env`),
/// kept as its public vocabulary: "backend" there means the recursive sub-call backends, not a
/// REPL backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackendLimits {
    /// Depth at which `rlm_query` stops spawning children. The root is depth 0; a child is
    /// spawned at `d + 1` only if `d + 1 < max_depth`. `1` (the default) means sub-calls are
    /// plain LLM calls; `0` disables sub-calls altogether.
    pub max_depth: u32,
    /// Most concurrent calls one batched call runs at once.
    pub max_batch_workers: usize,
    /// Most child RLMs the whole tree may spawn.
    pub max_children_total: Option<u64>,
    /// Most children one `rlm_query_batched` call spawns; slots past it get an `Error:` string
    /// (the result list is never shortened).
    pub max_children_per_batch: Option<usize>,
    /// Sub-call results are cut to this many characters.
    pub result_truncation_limit: Option<usize>,
    /// Hard timeout of one child run (cancels it).
    pub per_child_timeout: Option<Duration>,
}

impl Default for BackendLimits {
    fn default() -> Self {
        Self {
            max_depth: 1,
            max_batch_workers: 8,
            max_children_total: None,
            max_children_per_batch: None,
            result_truncation_limit: None,
            per_child_timeout: None,
        }
    }
}

/// Limits of one run, most of them shared by the whole recursion tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunLimits {
    /// Most model turns per run (root and each child).
    pub max_iterations: u32,
    /// Wall-clock limit of the whole run, children included.
    pub timeout: Option<Duration>,
    /// Token budget (input + output) of the whole tree.
    pub max_tokens: Option<u64>,
    /// Cost budget in USD of the whole tree.
    pub max_cost: Option<f64>,
    /// Most LLM calls of the whole tree.
    pub max_llm_calls: Option<u64>,
    /// Most LLM calls in flight at once across the tree.
    pub max_concurrency: Option<usize>,
    /// Turns in a row whose code raised before the run ends.
    pub max_errors: Option<u32>,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            max_iterations: 30,
            timeout: None,
            max_tokens: None,
            max_cost: None,
            max_llm_calls: None,
            max_concurrency: None,
            max_errors: None,
        }
    }
}

/// A limit was configured with a value that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The value is out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field name, as spelt in the config.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
}

fn invalid(field: &'static str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

impl BackendLimits {
    /// Checks the values make sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_batch_workers == 0 {
            return Err(invalid("max_batch_workers", "must be at least 1"));
        }
        if self.per_child_timeout == Some(Duration::ZERO) {
            return Err(invalid("per_child_timeout", "must be longer than zero"));
        }
        Ok(())
    }
}

impl RunLimits {
    /// Checks the values make sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_iterations == 0 {
            return Err(invalid("max_iterations", "must be at least 1"));
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(invalid("timeout", "must be longer than zero"));
        }
        if let Some(cost) = self.max_cost
            && !(cost.is_finite() && cost >= 0.0)
        {
            return Err(invalid("max_cost", "must be a finite, non-negative amount"));
        }
        if self.max_concurrency == Some(0) {
            return Err(invalid("max_concurrency", "must be at least 1"));
        }
        if self.max_errors == Some(0) {
            return Err(invalid("max_errors", "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_seed() {
        let b = BackendLimits::default();
        assert_eq!(b.max_depth, 1);
        assert_eq!(b.max_batch_workers, 8);
        assert_eq!(b.max_children_total, None);
        assert_eq!(b.max_children_per_batch, None);
        assert_eq!(b.result_truncation_limit, None);
        assert_eq!(b.per_child_timeout, None);
        assert_eq!(RunLimits::default().max_iterations, 30);
    }

    #[test]
    fn validation_names_the_field() {
        let cases: Vec<(RunLimits, &str)> = vec![
            (
                RunLimits {
                    max_iterations: 0,
                    ..Default::default()
                },
                "max_iterations",
            ),
            (
                RunLimits {
                    max_cost: Some(f64::NAN),
                    ..Default::default()
                },
                "max_cost",
            ),
            (
                RunLimits {
                    max_concurrency: Some(0),
                    ..Default::default()
                },
                "max_concurrency",
            ),
            (
                RunLimits {
                    timeout: Some(Duration::ZERO),
                    ..Default::default()
                },
                "timeout",
            ),
        ];
        for (limits, field) in cases {
            let err = limits.validate().unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
        let err = BackendLimits {
            max_batch_workers: 0,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("max_batch_workers"));
    }
}
