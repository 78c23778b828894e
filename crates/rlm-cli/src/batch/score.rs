//! Scoring an answer against a task's `expected` answers (`--score`).
//!
//! - `exact` (the default): equal after normalising both sides: trimmed, lower-cased, runs of
//!   whitespace made one space, one trailing period dropped.
//! - `contains`: the normalised answer contains a normalised expected answer.
//! - `numeric[:TOL]`: the last number in the answer (`1,234.5` reads as 1234.5) is within TOL of
//!   the expected number: an absolute tolerance (`numeric:0.01`), or relative with `%`
//!   (`numeric:1%`); the default is 1e-6.
//!
//! A task with several expected answers is correct when any of them matches.

use std::fmt;

/// How answers are compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scoring {
    /// Equal after normalising.
    Exact,
    /// Contains after normalising.
    Contains,
    /// Numerically close.
    Numeric(Tolerance),
}

/// The tolerance of [`Scoring::Numeric`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// At most this far apart.
    Absolute(f64),
    /// At most this share of the expected value apart (0.01 for `1%`).
    Relative(f64),
}

impl fmt::Display for Scoring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scoring::Exact => write!(f, "exact"),
            Scoring::Contains => write!(f, "contains"),
            Scoring::Numeric(Tolerance::Absolute(t)) => write!(f, "numeric:{t}"),
            Scoring::Numeric(Tolerance::Relative(t)) => write!(f, "numeric:{}%", t * 100.0),
        }
    }
}

/// Parses `--score`.
pub fn parse(s: &str) -> Result<Scoring, String> {
    let usage = || {
        format!("{s:?} is not exact, contains, numeric or numeric:TOL (numeric:0.01, numeric:1%)")
    };
    let s = s.trim();
    match s.split_once(':') {
        None => match s {
            "exact" => Ok(Scoring::Exact),
            "contains" => Ok(Scoring::Contains),
            "numeric" => Ok(Scoring::Numeric(Tolerance::Absolute(1e-6))),
            _ => Err(usage()),
        },
        Some(("numeric", tol)) => {
            let (number, relative) = match tol.trim().strip_suffix('%') {
                Some(n) => (n, true),
                None => (tol.trim(), false),
            };
            let value: f64 = number.trim().parse().map_err(|_| usage())?;
            if !value.is_finite() || value < 0.0 {
                return Err(format!("{s:?}: the tolerance must be 0 or more"));
            }
            Ok(Scoring::Numeric(if relative {
                Tolerance::Relative(value / 100.0)
            } else {
                Tolerance::Absolute(value)
            }))
        }
        Some(_) => Err(usage()),
    }
}

impl Scoring {
    /// Whether `answer` matches one of `expected` (`None` when there is nothing to compare).
    pub fn score(&self, answer: &str, expected: &[String]) -> Option<bool> {
        if expected.is_empty() {
            return None;
        }
        Some(expected.iter().any(|e| self.matches(answer, e)))
    }

    fn matches(&self, answer: &str, expected: &str) -> bool {
        match self {
            Scoring::Exact => normalise(answer) == normalise(expected),
            Scoring::Contains => normalise(answer).contains(&normalise(expected)),
            Scoring::Numeric(tolerance) => {
                let (Some(got), Some(want)) = (last_number(answer), last_number(expected)) else {
                    return false;
                };
                let allowed = match tolerance {
                    Tolerance::Absolute(t) => *t,
                    Tolerance::Relative(share) => share * want.abs(),
                };
                (got - want).abs() <= allowed
            }
        }
    }
}

/// Trimmed, lower-cased, whitespace runs made one space, one trailing period dropped.
fn normalise(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ").to_lowercase();
    joined
        .strip_suffix('.')
        .unwrap_or(&joined)
        .trim_end()
        .to_string()
}

/// The last number written in `text`: `42`, `-3.5`, `1,234`, `6.02e23`.
fn last_number(text: &str) -> Option<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | ',' | '-' | '+' | 'e' | 'E')))
        .rev()
        .find_map(|token| {
            let token = token.trim_matches(|c| matches!(c, '.' | ',' | 'e' | 'E' | '+'));
            let token = token.strip_suffix('-').unwrap_or(token);
            let cleaned: String = token.chars().filter(|c| *c != ',').collect();
            if !cleaned.chars().any(|c| c.is_ascii_digit()) {
                return None;
            }
            cleaned.parse::<f64>().ok().filter(|n| n.is_finite())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(scoring: &str, answer: &str, expected: &[&str], want: Option<bool>) {
        let scoring = parse(scoring).unwrap();
        let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            scoring.score(answer, &expected),
            want,
            "{scoring} {answer:?} {expected:?}"
        );
    }

    #[test]
    fn each_scoring() {
        check("exact", "  Paris. ", &["paris"], Some(true));
        check("exact", "Paris,\n France", &["paris, france"], Some(true));
        check("exact", "Paris, France", &["paris"], Some(false));
        check("exact", "anything", &[], None);
        check("exact", "Lyon", &["Paris", "lyon"], Some(true));
        check("contains", "The capital is Paris.", &["PARIS"], Some(true));
        check("contains", "The capital is Lyon.", &["paris"], Some(false));
        check("numeric", "The total is 1,234.", &["1234"], Some(true));
        check("numeric", "about 41.9", &["42"], Some(false));
        check("numeric:0.5", "about 41.9", &["42"], Some(true));
        check("numeric:1%", "3.13", &["3.14159"], Some(true));
        check("numeric:0.1%", "3.13", &["3.14159"], Some(false));
        check("numeric", "-7 degrees", &["-7"], Some(true));
        check("numeric", "6.02e23", &["6.02E23"], Some(true));
        check("numeric", "no number here", &["5"], Some(false));
        check("numeric", "5", &["five"], Some(false));
        check("numeric", "answer: 12.", &["12"], Some(true));
    }

    #[test]
    fn flag_values() {
        assert_eq!(parse("exact"), Ok(Scoring::Exact));
        assert_eq!(
            parse("numeric"),
            Ok(Scoring::Numeric(Tolerance::Absolute(1e-6)))
        );
        assert_eq!(
            parse("numeric:2.5%"),
            Ok(Scoring::Numeric(Tolerance::Relative(0.025)))
        );
        assert_eq!(parse("numeric:2.5%").unwrap().to_string(), "numeric:2.5%");
        for bad in [
            "",
            "fuzzy",
            "numeric:",
            "numeric:x",
            "numeric:-1",
            "exact:1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
