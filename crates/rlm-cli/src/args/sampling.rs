//! The sampling flags: `--temperature`, `--top-p`, `--max-output-tokens`, `--seed`, `--stop`,
//! `--reasoning-effort` and `--extra-body` for the root model's turns, each with a `--sub-`
//! form for `llm_query` sub-calls. A `--sub-` flag left out takes the root's value, except
//! `--sub-reasoning-effort` and `--sub-extra-body` (they belong to one model's API); see
//! [`rlm::Sampling::inherit`]. Values are range-checked here, so a bad one is a usage error
//! (exit 2) naming the flag.

use clap::{Args, ValueEnum};
use rlm::core::{TEMPERATURE_RANGE, TOP_P_RANGE};
use rlm::{ConfigError, ReasoningEffort, RlmError, Sampling};
use serde_json::{Map, Value};

/// The reasoning effort as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Effort {
    /// OpenAI `reasoning_effort: low`; a 1,024-token thinking budget (Anthropic, Gemini).
    Low,
    /// OpenAI `reasoning_effort: medium`; an 8,192-token thinking budget.
    Medium,
    /// OpenAI `reasoning_effort: high`; a 24,576-token thinking budget.
    High,
}

impl From<Effort> for ReasoningEffort {
    fn from(effort: Effort) -> Self {
        match effort {
            Effort::Low => ReasoningEffort::Low,
            Effort::Medium => ReasoningEffort::Medium,
            Effort::High => ReasoningEffort::High,
        }
    }
}

/// The sampling flags of `rlm run`.
#[derive(Debug, Clone, Default, Args)]
pub struct SamplingArgs {
    /// Sampling temperature, 0 to 2 (root turns; sub-calls too unless --sub-temperature is
    /// given).
    #[arg(long, value_name = "T", value_parser = parse_temperature)]
    pub temperature: Option<f32>,
    /// Sampling temperature of `llm_query` sub-calls to the sub model.
    #[arg(long, value_name = "T", value_parser = parse_temperature)]
    pub sub_temperature: Option<f32>,
    /// Nucleus sampling, 0 to 1 (root turns; sub-calls too unless --sub-top-p is given).
    #[arg(long, value_name = "P", value_parser = parse_top_p)]
    pub top_p: Option<f32>,
    /// Nucleus sampling of sub-calls.
    #[arg(long, value_name = "P", value_parser = parse_top_p)]
    pub sub_top_p: Option<f32>,
    /// Most tokens one reply may generate, thinking included where the provider counts it
    /// (root turns; sub-calls too unless --sub-max-output-tokens is given).
    #[arg(long, value_name = "N", value_parser = parse_max_output_tokens)]
    pub max_output_tokens: Option<u32>,
    /// Most tokens one sub-call reply may generate.
    #[arg(long, value_name = "N", value_parser = parse_max_output_tokens)]
    pub sub_max_output_tokens: Option<u32>,
    /// Sampling seed, where the provider takes one (OpenAI, Gemini; Anthropic has none)
    /// (root turns; sub-calls too unless --sub-seed is given).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Sampling seed of sub-calls.
    #[arg(long, value_name = "N")]
    pub sub_seed: Option<u64>,
    /// A stop sequence (repeatable) (root turns; sub-calls too unless --sub-stop is given).
    #[arg(long, value_name = "TEXT", value_parser = parse_stop)]
    pub stop: Vec<String>,
    /// A stop sequence of sub-calls (repeatable).
    #[arg(long, value_name = "TEXT", value_parser = parse_stop)]
    pub sub_stop: Vec<String>,
    /// How hard a reasoning model thinks (root turns only): OpenAI `reasoning_effort`,
    /// Anthropic extended thinking, Gemini thinking budget.
    #[arg(long, value_name = "EFFORT", value_enum)]
    pub reasoning_effort: Option<Effort>,
    /// How hard the sub model thinks in sub-calls.
    #[arg(long, value_name = "EFFORT", value_enum)]
    pub sub_reasoning_effort: Option<Effort>,
    /// A JSON object merged into every request body of the root model (a JSON Merge Patch:
    /// it wins over the fields above, objects merge, null deletes a key).
    #[arg(long, value_name = "JSON", value_parser = parse_extra_body)]
    pub extra_body: Option<Map<String, Value>>,
    /// A JSON object merged into every sub-call request body.
    #[arg(long, value_name = "JSON", value_parser = parse_extra_body)]
    pub sub_extra_body: Option<Map<String, Value>>,
}

impl SamplingArgs {
    /// The sampling of the root model's turns.
    pub fn root(&self) -> Sampling {
        Sampling {
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_output_tokens,
            stop: self.stop.clone(),
            seed: self.seed,
            reasoning_effort: self.reasoning_effort.map(Into::into),
            extra_body: self.extra_body.clone().unwrap_or_default(),
        }
    }

    /// The sub-call flags alone (the runner fills the rest in from [`SamplingArgs::root`]).
    pub fn sub(&self) -> Sampling {
        Sampling {
            temperature: self.sub_temperature,
            top_p: self.sub_top_p,
            max_tokens: self.sub_max_output_tokens,
            stop: self.sub_stop.clone(),
            seed: self.sub_seed,
            reasoning_effort: self.sub_reasoning_effort.map(Into::into),
            extra_body: self.sub_extra_body.clone().unwrap_or_default(),
        }
    }
}

/// The message of a failed `build()`: a sampling a model cannot take names the flags it came
/// from; anything else is the error as it is.
pub fn explain_build_error(error: &RlmError) -> String {
    match error {
        RlmError::Config(ConfigError::Invalid { field, reason }) if *field == "sampling" => {
            format!("the sampling flags of --model do not fit it: {reason}")
        }
        RlmError::Config(ConfigError::Invalid { field, reason }) if *field == "sub_sampling" => {
            format!(
                "the sampling of sub-calls (the --sub-* flags, and the root flags they inherit) \
                 does not fit the sub model: {reason}"
            )
        }
        other => other.to_string(),
    }
}

fn parse_in(s: &str, (min, max): (f32, f32)) -> Result<f32, String> {
    let value: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!("must be between {min} and {max}"))
    }
}

fn parse_temperature(s: &str) -> Result<f32, String> {
    parse_in(s, TEMPERATURE_RANGE)
}

fn parse_top_p(s: &str) -> Result<f32, String> {
    parse_in(s, TOP_P_RANGE)
}

fn parse_max_output_tokens(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "{s:?} is not a whole number from 1 to {}",
            u32::MAX
        )),
    }
}

fn parse_stop(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a stop sequence must not be empty".into());
    }
    Ok(s.to_string())
}

fn parse_extra_body(s: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "must be a JSON object such as '{{\"service_tier\": \"flex\"}}', not {}",
            kind(&other)
        )),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        sampling: SamplingArgs,
    }

    fn parse(flags: &[&str]) -> Result<SamplingArgs, String> {
        let argv = std::iter::once("rlm").chain(flags.iter().copied());
        Cli::try_parse_from(argv)
            .map(|cli| cli.sampling)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_flag_reaches_its_field() {
        let args = parse(&[
            "--temperature=0.5",
            "--top-p=0.9",
            "--max-output-tokens=4096",
            "--seed=7",
            "--stop=END",
            "--stop",
            "</answer>",
            "--reasoning-effort=high",
            "--extra-body",
            r#"{"service_tier": "flex", "metadata": {"a": 1}}"#,
            "--sub-temperature=0",
            "--sub-top-p=1",
            "--sub-max-output-tokens=1",
            "--sub-seed=9",
            "--sub-stop=STOP",
            "--sub-reasoning-effort=low",
            "--sub-extra-body={}",
        ])
        .unwrap();
        let Value::Object(extra_body) = json!({"service_tier": "flex", "metadata": {"a": 1}})
        else {
            unreachable!()
        };
        assert_eq!(
            args.root(),
            Sampling {
                temperature: Some(0.5),
                top_p: Some(0.9),
                max_tokens: Some(4096),
                stop: vec!["END".into(), "</answer>".into()],
                seed: Some(7),
                reasoning_effort: Some(ReasoningEffort::High),
                extra_body,
            }
        );
        assert_eq!(
            args.sub(),
            Sampling {
                temperature: Some(0.0),
                top_p: Some(1.0),
                max_tokens: Some(1),
                stop: vec!["STOP".into()],
                seed: Some(9),
                reasoning_effort: Some(ReasoningEffort::Low),
                extra_body: Map::new(),
            }
        );
        let none = parse(&[]).unwrap();
        assert!(none.root().is_empty() && none.sub().is_empty());
    }

    #[test]
    fn bad_values_name_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--temperature=2.5"],
                "'--temperature <T>': must be between 0 and 2",
            ),
            (
                &["--sub-temperature=-1"],
                "'--sub-temperature <T>': must be between 0 and 2",
            ),
            (
                &["--temperature=NaN"],
                "'--temperature <T>': must be between 0 and 2",
            ),
            (&["--top-p=1.01"], "'--top-p <P>': must be between 0 and 1"),
            (
                &["--sub-top-p=x"],
                "'--sub-top-p <P>': \"x\" is not a number",
            ),
            (
                &["--max-output-tokens=0"],
                "'--max-output-tokens <N>': must be at least 1",
            ),
            (
                &["--sub-max-output-tokens=-3"],
                "'--sub-max-output-tokens <N>'",
            ),
            (&["--seed=-1"], "'--seed <N>'"),
            (
                &["--stop="],
                "'--stop <TEXT>': a stop sequence must not be empty",
            ),
            (
                &["--reasoning-effort=extreme"],
                "'--reasoning-effort <EFFORT>'",
            ),
            (
                &["--extra-body=[1]"],
                "'--extra-body <JSON>': must be a JSON object",
            ),
            (
                &["--sub-extra-body={nope"],
                "'--sub-extra-body <JSON>': not valid JSON",
            ),
            (&["--extra-body=null"], "not null"),
        ];
        for (flags, want) in cases {
            let err = parse(flags).unwrap_err();
            assert!(err.contains(want), "{flags:?}: {err}");
        }
    }
}
