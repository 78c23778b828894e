//! `rlm view FILE`: a trajectory written by `rlm run --trace` as a tree in the terminal, as
//! JSON (`--json`), as one self-contained HTML file (`--html OUT.html`), or in the official
//! `rlm` library's log format (`--export-official OUT.jsonl`).

mod highlight;
mod html;
mod text;

use std::path::{Path, PathBuf};

use clap::Args;
use rlm::Usage;
use rlm::trajectory::{self, RunNode, Trajectory};
use serde_json::json;

/// `rlm view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// The trajectory file (written by `rlm run --trace FILE`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the tree as one JSON object (a summary and every run, turn, block and sub-call).
    #[arg(long)]
    pub json: bool,
    /// Write one self-contained HTML file (no network fetches) where the tree folds and
    /// unfolds; nothing is printed.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
    /// Write the root run in the official `rlm` library's log format (JSON Lines), which its
    /// visualizer opens; nothing is printed.
    #[arg(long, value_name = "OUT.jsonl")]
    pub export_official: Option<PathBuf>,
    /// Show whole code blocks and outputs instead of one-line previews.
    #[arg(long)]
    pub full: bool,
}

/// A failure of `rlm view`: exit code and message.
pub struct ViewFailure {
    /// Exit code.
    pub code: u8,
    /// One line saying what is wrong.
    pub message: String,
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ViewFailure> {
    std::fs::write(path, bytes).map_err(|e| ViewFailure {
        code: 1,
        message: format!("cannot write {}: {e}", path.display()),
    })
}

/// Runs `rlm view`.
pub fn run(args: &ViewArgs) -> Result<(), ViewFailure> {
    let t = trajectory::read_file(&args.file).map_err(|e| match e {
        trajectory::ReadError::Io { .. } => ViewFailure {
            code: 3,
            message: e.to_string(),
        },
        other => ViewFailure {
            code: 1,
            message: format!(
                "{}: {other} (is it a file written by `rlm run --trace`?)",
                args.file.display()
            ),
        },
    })?;
    if t.partial_last_line {
        eprintln!(
            "[rlm] note: the last line of {} is cut short (the run was killed while writing); it was skipped",
            args.file.display()
        );
    }
    let mut wrote = false;
    if let Some(out) = &args.html {
        write_file(out, html::render(&t, &args.file).as_bytes())?;
        eprintln!("[rlm] wrote {}", out.display());
        wrote = true;
    }
    if let Some(out) = &args.export_official {
        if out.extension().is_none_or(|ext| ext != "jsonl") {
            eprintln!(
                "[rlm] warning: {} does not end in .jsonl; the official visualizer's uploader accepts only .jsonl files",
                out.display()
            );
        }
        if t.runs.len() > 1 {
            eprintln!(
                "[rlm] note: {} holds {} root runs; the official format holds one, so only the first is exported",
                args.file.display(),
                t.runs.len()
            );
        }
        let mut buf = Vec::new();
        trajectory::write_official(&t, &mut buf).map_err(|e| ViewFailure {
            code: 1,
            message: format!("cannot export: {e}"),
        })?;
        write_file(out, &buf)?;
        eprintln!("[rlm] wrote {}", out.display());
        wrote = true;
    }
    if args.json {
        let value = json!({ "summary": summary(&t), "trajectory": t });
        println!("{value}");
    } else if !wrote {
        print!("{}", text::render(&t, &args.file, args.full));
    }
    Ok(())
}

/// Counts over the whole trajectory.
fn summary(t: &Trajectory) -> serde_json::Value {
    let runs: Vec<&RunNode> = t.runs.iter().flat_map(|r| r.walk()).collect();
    let turns: usize = runs.iter().map(|r| r.turns.len()).sum();
    let blocks: usize = runs
        .iter()
        .flat_map(|r| r.turns.iter())
        .map(|x| x.blocks.len())
        .sum();
    let subcalls: usize = runs.iter().map(|r| r.subcalls().count()).sum();
    let mut usage = Usage::default();
    for root in &t.runs {
        usage.add(&root.tree_usage());
    }
    json!({
        "schema": t.header.as_ref().map(|h| h.schema.clone()),
        "runs": runs.len(),
        "max_depth": runs.iter().map(|r| r.depth).max(),
        "turns": turns,
        "blocks": blocks,
        "subcalls": subcalls,
        "usage": usage,
        "answer": t.runs.first().and_then(|r| r.answer()),
        "outcome": t.runs.first().and_then(|r| r.finish.as_ref()).map(|f| f.outcome),
        "partial_last_line": t.partial_last_line,
    })
}

/// Milliseconds as a short duration.
fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.2}ms", ms)
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// Tokens and cost, e.g. `1,234 tok · $0.0012`.
fn fmt_usage(usage: &Usage) -> String {
    let mut s = format!("{} tok", thousands(usage.total_tokens()));
    if let Some(cost) = usage.cost {
        s.push_str(&format!(" · ${cost:.4}"));
    }
    s
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One line of at most `max` characters: newlines become ` ⏎ `.
fn one_line(text: &str, max: usize) -> String {
    let flat = text.trim().replace("\r\n", "\n").replace('\n', " ⏎ ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

fn outcome_name(outcome: rlm::RunOutcomeKind) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| "ended".into())
}

/// A run's one-line status: outcome, iterations, duration.
fn run_status(run: &RunNode) -> String {
    match &run.finish {
        Some(f) => format!(
            "{} after {} iteration{} in {}",
            outcome_name(f.outcome),
            f.iterations,
            if f.iterations == 1 { "" } else { "s" },
            fmt_ms(f.duration_ms)
        ),
        None => format!("unfinished after {}", fmt_ms(run.duration_ms())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(fmt_ms(0.5), "0.50ms");
        assert_eq!(fmt_ms(12.4), "12ms");
        assert_eq!(fmt_ms(1500.0), "1.50s");
        assert_eq!(one_line("a\nb\n", 10), "a ⏎ b");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
