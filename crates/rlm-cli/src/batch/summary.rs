//! The summary of `rlm batch`, over every task of the file (results of an earlier run
//! included): a table on stderr, and one JSON object on stdout with `--json`.

use std::collections::HashMap;
use std::time::Duration;

use rlm::limits::TreeState;
use serde_json::{Value, json};

use super::results::Record;
use super::runner::Report;
use super::score::Scoring;
use super::tasks::TaskFile;
use crate::args::RunLimitArgs;

/// The figures of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Valid tasks in the file.
    pub tasks: usize,
    /// Of them, with a result line from an earlier run.
    pub earlier: usize,
    /// Tasks that answered.
    pub done: usize,
    /// Tasks with a result line that did not answer.
    pub failed: usize,
    /// Tasks without a result line.
    pub not_run: usize,
    /// Task lines that are not tasks.
    pub malformed: usize,
    /// Tasks with an `expected` answer and a result.
    pub scored: usize,
    /// Of them, correct.
    pub correct: usize,
    /// USD of every result that has a cost.
    pub cost: f64,
    /// Tokens of every result.
    pub tokens: u64,
    /// Wall-clock time of this run.
    pub elapsed: Duration,
    /// Sum of the tasks' own times (every result).
    pub task_time: Duration,
    /// How answers were compared.
    pub scoring: Scoring,
}

impl Summary {
    /// Sums up the results of `file`'s tasks: `earlier` ones read back, then `report`'s.
    pub fn new(
        file: &TaskFile,
        earlier: &[Record],
        report: &Report,
        elapsed: Duration,
        scoring: Scoring,
    ) -> Self {
        let mut by_key: HashMap<&str, &Record> = HashMap::new();
        for record in earlier.iter().chain(&report.records) {
            by_key.entry(record.key.as_str()).or_insert(record);
        }
        let earlier_keys: std::collections::HashSet<&str> =
            earlier.iter().map(|r| r.key.as_str()).collect();
        let mut summary = Summary {
            tasks: file.tasks.len(),
            earlier: 0,
            done: 0,
            failed: 0,
            not_run: 0,
            malformed: file.problems.len(),
            scored: 0,
            correct: 0,
            cost: 0.0,
            tokens: 0,
            elapsed,
            task_time: Duration::ZERO,
            scoring,
        };
        for task in &file.tasks {
            let Some(record) = by_key.get(task.key.as_str()) else {
                summary.not_run += 1;
                continue;
            };
            summary.earlier += usize::from(earlier_keys.contains(task.key.as_str()));
            if record.answered() {
                summary.done += 1;
            } else {
                summary.failed += 1;
            }
            if let Some(correct) = record.correct {
                summary.scored += 1;
                summary.correct += usize::from(correct);
            }
            summary.cost += record.cost.unwrap_or(0.0);
            summary.tokens += record.tokens;
            summary.task_time += Duration::from_millis(record.duration_ms);
        }
        summary
    }

    /// The table for stderr.
    pub fn table(&self, tasks: &str, out: &str) -> String {
        let mut rows = vec![format!("[rlm] batch summary: {tasks} -> {out}")];
        let mut row = |name: &str, value: String| rows.push(format!("  {name:<10} {value}"));
        let earlier = if self.earlier > 0 {
            format!(" ({} from an earlier run)", self.earlier)
        } else {
            String::new()
        };
        row("tasks", format!("{}{earlier}", self.tasks));
        row("done", self.done.to_string());
        row("failed", self.failed.to_string());
        if self.not_run > 0 {
            row(
                "not run",
                format!("{} (no result line; --resume runs them)", self.not_run),
            );
        }
        if self.malformed > 0 {
            row(
                "malformed",
                format!("{} line(s), reported above", self.malformed),
            );
        }
        row(
            "accuracy",
            match self.accuracy() {
                Some(share) => format!(
                    "{}/{} = {:.1}% ({})",
                    self.correct,
                    self.scored,
                    share * 100.0,
                    self.scoring
                ),
                None => "- (no task has an expected answer)".to_string(),
            },
        );
        row("cost", format!("${:.4}, {} tokens", self.cost, self.tokens));
        row(
            "time",
            format!(
                "{:.1} s (the tasks' own times add up to {:.1} s)",
                self.elapsed.as_secs_f64(),
                self.task_time.as_secs_f64()
            ),
        );
        let mut text = rows.join("\n");
        text.push('\n');
        text
    }

    /// The share of scored tasks that are correct.
    pub fn accuracy(&self) -> Option<f64> {
        (self.scored > 0).then(|| self.correct as f64 / self.scored as f64)
    }

    /// The `--json` object.
    pub fn json(&self) -> Value {
        json!({
            "tasks": self.tasks,
            "earlier": self.earlier,
            "done": self.done,
            "failed": self.failed,
            "not_run": self.not_run,
            "malformed": self.malformed,
            "scored": self.scored,
            "correct": self.correct,
            "accuracy": self.accuracy(),
            "scoring": self.scoring.to_string(),
            "cost": self.cost,
            "tokens": self.tokens,
            "elapsed_ms": self.elapsed.as_millis() as u64,
            "task_time_ms": self.task_time.as_millis() as u64,
        })
    }
}

/// The line saying which batch-wide budget stopped the batch, with its figure.
pub fn budget_line(state: &TreeState, limits: &RunLimitArgs, not_run: usize) -> String {
    let b = state.budget().snapshot();
    let field = state
        .budget()
        .first_refusal()
        .map(|e| e.field())
        .unwrap_or("");
    let cause = match field {
        "max_tokens" => format!(
            "--max-tokens reached ({} of {} tokens)",
            b.tokens_used,
            limits.max_tokens.unwrap_or(b.tokens_used)
        ),
        "max_cost" => format!(
            "--max-cost reached (${:.4} of ${:.4})",
            b.cost_spent,
            limits.max_cost.unwrap_or(b.cost_spent)
        ),
        "max_llm_calls" => format!(
            "--max-llm-calls reached ({} of {} calls)",
            b.calls_started,
            limits.max_llm_calls.unwrap_or(b.calls_started)
        ),
        _ => "the batch's budget is spent".to_string(),
    };
    format!(
        "stopped: {cause} for the whole batch; {not_run} task(s) not run: raise it and pass --resume"
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn record(key: &str, outcome: &str, correct: Option<bool>, cost: f64) -> Record {
        Record {
            key: key.into(),
            outcome: outcome.into(),
            correct,
            cost: Some(cost),
            tokens: 10,
            duration_ms: 1500,
        }
    }

    #[test]
    fn counts_every_task_of_the_file_once() {
        let file = super::super::tasks::parse(
            "{\"id\":\"a\",\"query\":\"q\"}\n{\"id\":\"b\",\"query\":\"q\"}\n{\"id\":\"c\",\"query\":\"q\"}\n{\"id\":\"d\",\"query\":\"q\"}\nbad\n",
            Path::new("."),
        );
        let earlier = vec![
            record("a", "finished", Some(true), 0.5),
            record("gone", "finished", Some(true), 9.0),
        ];
        let report = Report {
            records: vec![
                record("b", "iteration_limit", Some(false), 0.25),
                record("c", "timeout", None, 0.25),
            ],
            not_run: 1,
            stopped: None,
        };
        let s = Summary::new(
            &file,
            &earlier,
            &report,
            Duration::from_secs(2),
            Scoring::Exact,
        );
        assert_eq!(
            (s.tasks, s.earlier, s.done, s.failed, s.not_run, s.malformed),
            (4, 1, 2, 1, 1, 1)
        );
        assert_eq!((s.scored, s.correct, s.cost, s.tokens), (2, 1, 1.0, 30));
        let table = s.table("t.jsonl", "r.jsonl");
        assert!(table.contains("accuracy   1/2 = 50.0% (exact)"), "{table}");
        assert!(table.contains("not run    1"), "{table}");
        assert!(table.contains("$1.0000, 30 tokens"), "{table}");
        assert_eq!(s.json()["accuracy"], 0.5);
    }
}
