//! The retry policy providers follow.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a provider retries a failed call. Defaults follow the official OpenAI and Anthropic
/// clients: 2 retries, backoff 0.5 s·2^n capped at 8 s with jitter, and a cap on how long a
/// `Retry-After` header may make us wait (longer waits fail fast instead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Backoff before the first retry.
    pub initial_backoff: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
    /// Whether backoff is multiplied by a random factor in `[0.75, 1.0]`.
    pub jitter: bool,
    /// Longest `Retry-After` wait honoured; a longer one fails the call at once.
    pub max_retry_after: Duration,
    /// Total deadline of one call including all its retries (`None`: only the run deadline).
    pub call_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            jitter: true,
            max_retry_after: Duration::from_secs(60),
            call_timeout: Some(Duration::from_secs(600)),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The backoff before retry number `retry` (0-based), given a random number in `[0, 1)`.
    pub fn backoff(&self, retry: u32, random: f64) -> Duration {
        let base = self.initial_backoff.as_secs_f64() * 2f64.powi(retry.min(30) as i32);
        let capped = base.min(self.max_backoff.as_secs_f64());
        let factor = if self.jitter {
            1.0 - 0.25 * random.clamp(0.0, 1.0)
        } else {
            1.0
        };
        Duration::from_secs_f64((capped * factor).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let got: Vec<f64> = (0..6).map(|n| p.backoff(n, 0.0).as_secs_f64()).collect();
        assert_eq!(got, vec![0.5, 1.0, 2.0, 4.0, 8.0, 8.0]);
        let j = RetryPolicy::default();
        assert_eq!(j.backoff(0, 0.0), Duration::from_millis(500));
        assert_eq!(j.backoff(0, 1.0), Duration::from_millis(375));
        assert_eq!(j.backoff(40, 0.5).as_secs_f64(), 7.0);
    }
}
