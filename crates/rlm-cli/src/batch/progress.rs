//! Progress of `rlm batch` on stderr: an `indicatif` bar on a terminal (done, failed, running,
//! ETA, cost), one plain line per finished task otherwise, nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
pub enum BatchProgress {
    /// The bar, redrawn in place.
    Bar(ProgressBar),
    /// One line per finished task.
    Lines {
        /// Tasks this run will start.
        total: u64,
        /// Tasks ended so far.
        ended: u64,
    },
    /// Nothing (`--quiet`).
    Quiet,
}

/// The counters shown.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Tasks that answered.
    pub done: u64,
    /// Tasks that ended without an answer.
    pub failed: u64,
    /// Tasks running now.
    pub running: u64,
    /// USD spent by this run's tasks.
    pub cost: f64,
}

impl BatchProgress {
    /// A bar when stderr is a terminal (and `RUST_LOG` is unset), else plain lines; nothing
    /// when `quiet`.
    pub fn for_stderr(total: u64, quiet: bool) -> Self {
        if quiet {
            return BatchProgress::Quiet;
        }
        let logging = std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty());
        if !std::io::stderr().is_terminal() || logging {
            return BatchProgress::Lines { total, ended: 0 };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg} ETA {eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        BatchProgress::Bar(bar)
    }

    /// Shows the counters after a task started.
    pub fn started(&self, counts: Counts) {
        if let BatchProgress::Bar(bar) = self {
            bar.set_message(message(counts));
        }
    }

    /// Shows a task's end: `line` says which task and how it ended.
    pub fn ended(&mut self, line: &str, counts: Counts) {
        match self {
            BatchProgress::Bar(bar) => {
                bar.inc(1);
                bar.set_message(message(counts));
            }
            BatchProgress::Lines { total, ended } => {
                *ended += 1;
                eprintln!(
                    "[rlm] {ended}/{total} {line} ({} failed, {} running, ${:.4})",
                    counts.failed, counts.running, counts.cost
                );
            }
            BatchProgress::Quiet => {}
        }
    }

    /// Prints a line above the bar (or as it is).
    pub fn println(&self, line: &str) {
        match self {
            BatchProgress::Bar(bar) => bar.suspend(|| eprintln!("{line}")),
            BatchProgress::Lines { .. } => eprintln!("{line}"),
            BatchProgress::Quiet => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let BatchProgress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn message(counts: Counts) -> String {
    format!(
        "done {} · failed {} · running {} · ${:.4}",
        counts.done, counts.failed, counts.running, counts.cost
    )
}
