//! The chunked fan-out scenarios (`latency-tail`, `fault-mix`): the root slices the context
//! the way models do (`context.index("\n", i * size)` plus slicing), sends one
//! `llm_query_batched` of the chunks, and the fake server makes some sub-calls slow or fails
//! their first attempt, chosen by chunk number so every run is the same.

use std::time::Duration;

use rlm_testkit::{Attempts, Reply};

use super::ideal::{Cost, Step};

/// The smallest backoff of the default retry policy before the first retry of a 500: 0.5 s,
/// less at most 25 % of jitter (`rlm_limits::RetryPolicy`). The ideal uses the smallest, so it
/// stays a lower bound.
const MIN_FIRST_BACKOFF: Duration = Duration::from_millis(375);

/// First-attempt faults by chunk number: chunk `i` with `i % 10 < rate_limited` is answered
/// 429 with `Retry-After: retry_after_secs`; the next `server_errors` residues get a 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    /// Residues (of 10) answered 429 on the first attempt.
    pub rate_limited: usize,
    /// Residues (of 10) after those, answered 500 on the first attempt.
    pub server_errors: usize,
    /// The `Retry-After` of a 429, in seconds.
    pub retry_after_secs: u64,
}

/// One chunked fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunked {
    /// How many chunks (and sub-calls).
    pub count: usize,
    /// `--max-batch-workers`.
    pub workers: usize,
    /// Chunk `i` with `i % every == 0` takes `factor` × the latency: `(every, factor)`.
    pub slow: Option<(usize, u32)>,
    pub faults: Option<Faults>,
}

/// What a first attempt gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    RateLimited,
    ServerError,
}

/// What the server does with one request of a sub-call.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// 429 with this `Retry-After`, after the base latency.
    RateLimited { retry_after_secs: u64 },
    /// 500, after the base latency.
    ServerError,
    /// This text, after `latencies` × the base latency.
    Text { text: String, latencies: u32 },
}

impl Chunked {
    /// The root's code: chunk on line ends, ask about every chunk, count the answers that are
    /// right and in place, and check the chunks cover the context.
    pub fn code(&self) -> String {
        let n = self.count;
        format!(
            "n = {n}\n\
             size = len(context) // n\n\
             starts = [0] + [context.index('\\n', i * size) + 1 for i in range(1, n)]\n\
             ends = starts[1:] + [len(context)]\n\
             chunks = [context[s:e] for s, e in zip(starts, ends)]\n\
             prompts = [f'Chunk {{i}} of {{n}}: how many ERROR lines?\\n' + c for i, c in enumerate(chunks)]\n\
             r = llm_query_batched(prompts)\n\
             ok = sum(1 for i, x in enumerate(r) if x == f'a{{i}}')\n\
             covered = sum(len(c) for c in chunks) == len(context)\n\
             FINAL(str(ok) + ' ' + str(covered))"
        )
    }

    /// The answer the root finishes with when every sub-call came back right and in order.
    pub fn expected_answer(&self) -> String {
        format!("{} True", self.count)
    }

    /// The chunk number of a sub-call's prompt, and whether its chunk is non-empty.
    fn chunk_of(prompt: &str) -> Option<(usize, bool)> {
        let rest = prompt.strip_prefix("Chunk ")?;
        let (number, rest) = rest.split_once(' ')?;
        let body = rest.split_once('\n').map(|(_, body)| body)?;
        Some((number.parse().ok()?, !body.is_empty()))
    }

    fn latency_factor(&self, chunk: usize) -> u32 {
        match self.slow {
            Some((every, factor)) if every > 0 && chunk.is_multiple_of(every) => factor,
            _ => 1,
        }
    }

    fn fault(&self, chunk: usize) -> Option<Fault> {
        let faults = self.faults?;
        let residue = chunk % 10;
        if residue < faults.rate_limited {
            Some(Fault::RateLimited)
        } else if residue < faults.rate_limited + faults.server_errors {
            Some(Fault::ServerError)
        } else {
            None
        }
    }

    /// What the server does with a sub-call, or `None` when `prompt` is not one of ours.
    fn answer(&self, prompt: &str, attempts: &Attempts) -> Option<Answer> {
        let (chunk, non_empty) = Self::chunk_of(prompt)?;
        let first = attempts.next(&chunk.to_string()) == 0;
        Some(match (first, self.fault(chunk), self.faults) {
            (true, Some(Fault::RateLimited), Some(faults)) => Answer::RateLimited {
                retry_after_secs: faults.retry_after_secs,
            },
            (true, Some(Fault::ServerError), _) => Answer::ServerError,
            _ => Answer::Text {
                text: if non_empty {
                    format!("a{chunk}")
                } else {
                    format!("empty chunk {chunk}")
                },
                latencies: self.latency_factor(chunk),
            },
        })
    }

    /// The server's reply to a sub-call, or `None` when `prompt` is not one of ours.
    pub fn reply(&self, prompt: &str, attempts: &Attempts, latency: Duration) -> Option<Reply> {
        let reply = match self.answer(prompt, attempts)? {
            Answer::RateLimited { retry_after_secs } => {
                Reply::openai_error(429, "rate_limit_exceeded", "slow down")
                    .header("retry-after", retry_after_secs.to_string())
                    .latency(latency)
            }
            Answer::ServerError => {
                Reply::openai_error(500, "server_error", "try again").latency(latency)
            }
            Answer::Text { text, latencies } => {
                Reply::text(text).latency(latency.saturating_mul(latencies))
            }
        };
        Some(reply)
    }

    /// The cost of every sub-call, for the busy-slot ideal.
    pub fn costs(&self) -> Vec<Cost> {
        (0..self.count)
            .map(|chunk| {
                let answer = self.latency_factor(chunk);
                match (self.fault(chunk), self.faults) {
                    (Some(Fault::RateLimited), Some(faults)) => Cost {
                        requests: 2,
                        latencies: 1 + answer,
                        wait: Duration::from_secs(faults.retry_after_secs),
                    },
                    (Some(Fault::ServerError), _) => Cost {
                        requests: 2,
                        latencies: 1 + answer,
                        wait: MIN_FIRST_BACKOFF,
                    },
                    _ => Cost {
                        latencies: answer,
                        ..Cost::PLAIN
                    },
                }
            })
            .collect()
    }

    /// The scenario's calls: the root turn, then the pool of sub-calls.
    pub fn path(&self) -> Vec<Step> {
        vec![
            Step::Round,
            Step::Pool {
                workers: self.workers as u64,
                calls: self.costs(),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::super::ideal;
    use super::*;

    const TAIL: Chunked = Chunked {
        count: 256,
        workers: 8,
        slow: Some((10, 10)),
        faults: None,
    };

    const MIX: Chunked = Chunked {
        count: 256,
        workers: 16,
        slow: None,
        faults: Some(Faults {
            rate_limited: 3,
            server_errors: 1,
            retry_after_secs: 1,
        }),
    };

    fn prompt(i: usize) -> String {
        format!("Chunk {i} of 256: how many ERROR lines?\n2026-03-14T10:00:00Z INFO x\n")
    }

    fn text(text: &str, latencies: u32) -> Option<Answer> {
        Some(Answer::Text {
            text: text.into(),
            latencies,
        })
    }

    #[test]
    fn slow_chunks_are_every_tenth_and_ten_times_slower() {
        let attempts = Attempts::default();
        let ms = Duration::from_millis;
        let answer = |i| TAIL.answer(&prompt(i), &attempts);
        assert_eq!(answer(0), text("a0", 10));
        assert_eq!(answer(0), text("a0", 10));
        assert_eq!(answer(1), text("a1", 1));
        assert_eq!(answer(250), text("a250", 10));
        assert!(TAIL.reply(&prompt(7), &attempts, ms(50)).is_some());
        // 26 of 256 are slow: 1 root turn, then (230 + 26 × 10) × 50 ms / 8 workers.
        assert_eq!(
            ideal::ideal(&TAIL.path(), ms(50)),
            ms(50) + ms((230 + 260) * 50) / 8
        );
        assert_eq!(ideal::calls(&TAIL.path()), 257);
        assert_eq!(ideal::width(&TAIL.path()), 8);
    }

    #[test]
    fn first_attempts_fail_by_chunk_and_retries_succeed() {
        let attempts = Attempts::default();
        let ms = Duration::from_millis;
        let answer = |i| MIX.answer(&prompt(i), &attempts);
        let limited = Some(Answer::RateLimited {
            retry_after_secs: 1,
        });
        assert_eq!(answer(0), limited);
        assert_eq!(answer(0), text("a0", 1));
        assert_eq!(answer(2), limited);
        assert_eq!(answer(3), Some(Answer::ServerError));
        assert_eq!(answer(3), text("a3", 1));
        assert_eq!(answer(4), text("a4", 1));
        assert_eq!(answer(259), text("a259", 1));
        let costs = MIX.costs();
        let faulted = costs.iter().filter(|c| c.requests == 2).count();
        // 78 of 256 (30.5 %) rate-limited, 26 (10.2 %) answered 500.
        assert_eq!(faulted, 78 + 26);
        assert_eq!(ideal::calls(&MIX.path()), 1 + 256 + 104);
        // Σ = 152 × 50 + 78 × (100 + 1000) + 26 × (100 + 375) ms, over 16 workers.
        let total = 152 * 50 + 78 * 1100 + 26 * 475;
        assert_eq!(ideal::ideal(&MIX.path(), ms(50)), ms(50) + ms(total) / 16);
    }

    #[test]
    fn prompts_that_are_not_chunks_are_not_answered() {
        let attempts = Attempts::default();
        assert!(TAIL.reply("q1", &attempts, Duration::ZERO).is_none());
        assert_eq!(
            TAIL.answer("Chunk 3 of 256: x\n", &attempts),
            text("empty chunk 3", 1)
        );
    }
}
