//! The ideal time of a scenario: how many LLM round-trips lie on the critical path, times the
//! fake server's latency. A scenario describes its calls as a [`Step`] list; a fan-out of
//! `count` chains run `workers` at a time takes `ceil(count / workers)` waves of one chain each
//! (every request takes the same latency, so a worker pool and waves take the same time).

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

/// Sequential LLM round-trips on the critical path.
pub fn rounds(path: &[Step]) -> u64 {
    path.iter()
        .map(|step| match step {
            Step::Round => 1,
            Step::Fanout {
                count,
                workers,
                each,
            } => count.div_ceil((*workers).max(1)) * rounds(each),
        })
        .sum()
}

/// Every LLM request the path makes (what the fake server should count).
pub fn calls(path: &[Step]) -> u64 {
    path.iter()
        .map(|step| match step {
            Step::Round => 1,
            Step::Fanout { count, each, .. } => count * calls(each),
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
        })
        .max()
        .unwrap_or(0)
}

/// The critical path's LLM time at `latency` per request.
pub fn ideal(path: &[Step], latency: Duration) -> Duration {
    let rounds = u32::try_from(rounds(path)).unwrap_or(u32::MAX);
    latency.saturating_mul(rounds)
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
    fn ratio_of_wall_to_ideal() {
        let r = ratio(Duration::from_millis(130), Duration::from_millis(100));
        assert!(r.is_some_and(|r| (r - 1.3).abs() < 1e-9), "{r:?}");
        assert_eq!(ratio(Duration::from_millis(5), Duration::ZERO), None);
    }
}
