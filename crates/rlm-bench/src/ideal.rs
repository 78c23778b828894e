//! The ideal time of a scenario: how many LLM round-trips lie on the critical path, times the
//! fake server's latency. A scenario describes its calls as a [`Step`] list; a fan-out of
//! `count` chains run `workers` at a time takes `ceil(count / workers)` waves of one chain each
//! (every request takes the same latency, so a worker pool and waves take the same time).
//! A [`Step::Pool`] of calls of different costs (slow calls, retries after a wait) has the
//! busy-slot ideal instead: `max(Σ costs / workers, the slowest)`, what a pool that refills a
//! worker as soon as it is free reaches.

use std::time::Duration;

/// One part of a scenario's call graph, in the order the calls happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// One LLM request (a model turn or a plain sub-call) that the next step waits for.
    Round,
    /// `count` independent chains of `each`, at most `workers` of them in flight at once.
    Fanout {
        count: u64,
        workers: u64,
        each: Vec<Step>,
    },
    /// Independent calls of known [`Cost`], at most `workers` in flight, a worker refilled as
    /// soon as it is free.
    Pool { workers: u64, calls: Vec<Cost> },
}

/// What one call of a [`Step::Pool`] costs, retries included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// HTTP requests it makes (1, or 2 with a retry).
    pub requests: u32,
    /// Its time on the server, in multiples of the base latency (a 10× slow call: 10).
    pub latencies: u32,
    /// Time spent waiting between attempts (a `Retry-After`, a backoff).
    pub wait: Duration,
}

impl Cost {
    /// One request at the base latency.
    pub const PLAIN: Cost = Cost {
        requests: 1,
        latencies: 1,
        wait: Duration::ZERO,
    };

    /// Its time at `latency` per base request.
    pub fn time(&self, latency: Duration) -> Duration {
        latency.saturating_mul(self.latencies) + self.wait
    }
}

/// The busy-slot ideal of a pool: `max(Σ time / workers, the slowest)`.
fn pool_time(workers: u64, calls: &[Cost], latency: Duration) -> Duration {
    let total: Duration = calls.iter().map(|c| c.time(latency)).sum();
    let workers = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
    let slowest = calls
        .iter()
        .map(|c| c.time(latency))
        .max()
        .unwrap_or_default();
    (total / workers).max(slowest)
}

impl Step {
    /// A fan-out of `count` chains; `workers` is clamped to at least 1.
    pub fn fanout(count: u64, workers: u64, each: Vec<Step>) -> Step {
        Step::Fanout {
            count,
            workers: workers.max(1),
            each,
        }
    }
}

/// Sequential LLM round-trips on the critical path (a pool counts its base latencies spread over
/// its workers, or its slowest call, whichever is more; waits are left out). The tests check
/// each scenario's shape with it; the ideal itself is [`ideal`].
#[cfg(test)]
pub fn rounds(path: &[Step]) -> u64 {
    path.iter()
        .map(|step| match step {
            Step::Round => 1,
            Step::Fanout {
                count,
                workers,
                each,
            } => count.div_ceil((*workers).max(1)) * rounds(each),
            Step::Pool { workers, calls } => {
                let total: u64 = calls.iter().map(|c| u64::from(c.latencies)).sum();
                let slowest = calls.iter().map(|c| u64::from(c.latencies)).max();
                total.div_ceil((*workers).max(1)).max(slowest.unwrap_or(0))
            }
        })
        .sum()
}

/// Every LLM request the path makes (what the fake server should count).
pub fn calls(path: &[Step]) -> u64 {
    path.iter()
        .map(|step| match step {
            Step::Round => 1,
            Step::Fanout { count, each, .. } => count * calls(each),
            Step::Pool { calls, .. } => calls.iter().map(|c| u64::from(c.requests)).sum(),
        })
        .sum()
}

/// The most requests in flight at once.
pub fn width(path: &[Step]) -> u64 {
    path.iter()
        .map(|step| match step {
            Step::Round => 1,
            Step::Fanout {
                count,
                workers,
                each,
            } => (*count).min(*workers) * width(each),
            Step::Pool { workers, calls } => (calls.len() as u64).min((*workers).max(1)),
        })
        .max()
        .unwrap_or(0)
}

/// The critical path's LLM time at `latency` per request.
pub fn ideal(path: &[Step], latency: Duration) -> Duration {
    path.iter()
        .map(|step| match step {
            Step::Round => latency,
            Step::Fanout {
                count,
                workers,
                each,
            } => {
                let waves = count.div_ceil((*workers).max(1));
                ideal(each, latency).saturating_mul(u32::try_from(waves).unwrap_or(u32::MAX))
            }
            Step::Pool { workers, calls } => pool_time(*workers, calls, latency),
        })
        .sum()
}

/// `wall / ideal`, or `None` when the ideal is zero (latency 0 or no calls).
pub fn ratio(wall: Duration, ideal: Duration) -> Option<f64> {
    if ideal.is_zero() {
        None
    } else {
        Some(wall.as_secs_f64() / ideal.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Step::Round;

    fn check(path: &[Step], expected_rounds: u64, expected_calls: u64, expected_width: u64) {
        assert_eq!(
            (rounds(path), calls(path), width(path)),
            (expected_rounds, expected_calls, expected_width),
            "{path:?}"
        );
    }

    #[test]
    fn rounds_calls_and_width() {
        // needle-10mb, context-100mb: turns in a row.
        check(&[Round, Round], 2, 2, 1);
        check(&[Round, Round, Round], 3, 3, 1);
        // fanout-256 at 64: one root turn, then 4 waves.
        check(&[Round, Step::fanout(256, 64, vec![Round])], 5, 257, 64);
        // A partial last wave still costs a whole round.
        check(&[Round, Step::fanout(257, 64, vec![Round])], 6, 258, 64);
        // Fewer calls than workers: one wave, as wide as the calls.
        check(&[Step::fanout(3, 64, vec![Round])], 1, 3, 3);
        // depth2-8children: root turn, then 8 children of (turn, sub-call, turn) side by side.
        check(
            &[Round, Step::fanout(8, 8, vec![Round, Round, Round])],
            4,
            25,
            8,
        );
        // Nested fan-outs multiply.
        check(
            &[Step::fanout(
                4,
                2,
                vec![Round, Step::fanout(10, 5, vec![Round])],
            )],
            6,
            44,
            10,
        );
        // Zero workers is treated as one.
        check(&[Step::fanout(3, 0, vec![Round])], 3, 3, 1);
        check(&[], 0, 0, 0);
    }

    #[test]
    fn ideal_is_rounds_times_latency() {
        let fanout = [Round, Step::fanout(256, 64, vec![Round])];
        assert_eq!(
            ideal(&fanout, Duration::from_millis(50)),
            Duration::from_millis(250)
        );
        assert_eq!(ideal(&fanout, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_pool_is_busy_slot_bound() {
        let ms = Duration::from_millis;
        let slow = Cost {
            latencies: 10,
            ..Cost::PLAIN
        };
        let retried = Cost {
            requests: 2,
            latencies: 2,
            wait: Duration::from_secs(1),
        };
        // 19 plain calls and one 10× call at 2 workers: (19 + 10) × 50 / 2 = 725 ms.
        let mut calls = vec![Cost::PLAIN; 19];
        calls.push(slow);
        let tail = [Round, Step::Pool { workers: 2, calls }];
        assert_eq!(ideal(&tail, ms(50)), ms(50 + 725));
        assert_eq!((rounds(&tail), calls_of(&tail), width(&tail)), (16, 21, 2));
        // At 16 workers the slow call is the bound.
        let wide = [Step::Pool {
            workers: 16,
            calls: vec![Cost::PLAIN, slow],
        }];
        assert_eq!(ideal(&wide, ms(50)), ms(500));
        assert_eq!(width(&wide), 2);
        // Retries count their requests and their waits.
        let faults = [Step::Pool {
            workers: 1,
            calls: vec![retried, Cost::PLAIN],
        }];
        assert_eq!(ideal(&faults, ms(50)), ms(100 + 1000 + 50));
        assert_eq!(calls_of(&faults), 3);
        assert_eq!(ideal(&faults, Duration::ZERO), Duration::from_secs(1));
    }

    fn calls_of(path: &[Step]) -> u64 {
        calls(path)
    }

    #[test]
    fn ratio_of_wall_to_ideal() {
        let r = ratio(Duration::from_millis(130), Duration::from_millis(100));
        assert!(r.is_some_and(|r| (r - 1.3).abs() < 1e-9), "{r:?}");
        assert_eq!(ratio(Duration::from_millis(5), Duration::ZERO), None);
    }
}
