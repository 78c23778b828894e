//! Rewards, as `repl_env`'s rubrics give them (`rubrics.py`): a terminal step with a final
//! answer is scored by the outcome rubric against the expected answer; a terminal step without
//! one gets the failure reward; every other step gets the process reward (success or error).

use std::fmt;
use std::str::FromStr;

/// How a final answer is compared with the expected one. Both sides are compared after
/// `strip().lower()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// 1.0 when equal, else 0.0 (`ExactMatchRubric`, the default).
    #[default]
    Exact,
    /// 1.0 when equal, 0.5 when one contains the other, else 0.0 (`FuzzyMatchRubric`).
    Fuzzy,
    /// 1.0 when the answer contains the expected text, else 0.0.
    Contains,
}

impl FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "exact" => Ok(Outcome::Exact),
            "fuzzy" => Ok(Outcome::Fuzzy),
            "contains" => Ok(Outcome::Contains),
            other => Err(format!(
                "unknown rubric {other:?}: use exact, fuzzy or contains"
            )),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Exact => "exact",
            Outcome::Fuzzy => "fuzzy",
            Outcome::Contains => "contains",
        })
    }
}

/// The reward settings (`REPLRubric`'s defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rubric {
    /// The outcome comparison.
    pub outcome: Outcome,
    /// Reward of a non-terminal step whose code ran (0.0).
    pub success_reward: f64,
    /// Reward of a non-terminal step whose code raised (−0.05).
    pub error_penalty: f64,
    /// Reward of a terminal step without a final answer (−0.1).
    pub failure_reward: f64,
}

impl Default for Rubric {
    fn default() -> Self {
        Self {
            outcome: Outcome::Exact,
            success_reward: 0.0,
            error_penalty: -0.05,
            failure_reward: -0.1,
        }
    }
}

impl Rubric {
    /// The reward of a step. `final_answer` is the episode's answer when `done`; with no
    /// expected answer the outcome is 0.0.
    pub fn reward(
        &self,
        done: bool,
        success: bool,
        final_answer: Option<&str>,
        expected: Option<&str>,
    ) -> f64 {
        if !done {
            return if success {
                self.success_reward
            } else {
                self.error_penalty
            };
        }
        let Some(answer) = final_answer else {
            return self.failure_reward;
        };
        let Some(expected) = expected else {
            return 0.0;
        };
        let answer = answer.trim().to_lowercase();
        let expected = expected.trim().to_lowercase();
        match self.outcome {
            Outcome::Exact => f64::from(u8::from(answer == expected)),
            Outcome::Fuzzy if answer == expected => 1.0,
            Outcome::Fuzzy if answer.contains(&expected) || expected.contains(&answer) => 0.5,
            Outcome::Fuzzy => 0.0,
            Outcome::Contains => f64::from(u8::from(answer.contains(&expected))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        outcome: Outcome,
        done: bool,
        ok: bool,
        answer: Option<&str>,
        expected: Option<&str>,
        want: f64,
    ) {
        let rubric = Rubric {
            outcome,
            ..Rubric::default()
        };
        assert_eq!(
            rubric.reward(done, ok, answer, expected),
            want,
            "{outcome} {answer:?} {expected:?}"
        );
    }

    #[test]
    fn rewards_follow_repl_env_rubrics() {
        use Outcome::*;
        check(Exact, false, true, None, Some("x"), 0.0);
        check(Exact, false, false, None, Some("x"), -0.05);
        check(Exact, true, true, None, Some("x"), -0.1);
        check(Exact, true, true, Some(" Paris \n"), Some("paris"), 1.0);
        check(Exact, true, true, Some("Lyon"), Some("paris"), 0.0);
        check(Exact, true, true, Some("Paris"), None, 0.0);
        check(Fuzzy, true, true, Some("Paris"), Some("paris"), 1.0);
        check(Fuzzy, true, true, Some("it is Paris"), Some("paris"), 0.5);
        check(Fuzzy, true, true, Some("Lyon"), Some("paris"), 0.0);
        check(
            Contains,
            true,
            true,
            Some("it is Paris"),
            Some("paris"),
            1.0,
        );
        check(Contains, true, true, Some("par"), Some("paris"), 0.0);
        assert_eq!("FUZZY".parse::<Outcome>(), Ok(Fuzzy));
        assert!("close".parse::<Outcome>().is_err());
    }
}
