//! The recursion tree as plain text for the terminal.

use std::fmt::Write as _;
use std::path::Path;

use rlm::SubcallKind;
use rlm::trajectory::{Block, RunNode, Subcall, Trajectory, Turn};

use super::{fmt_ms, fmt_usage, one_line, run_status};

const PREVIEW: usize = 100;

/// Renders the whole trajectory.
pub fn render(t: &Trajectory, file: &Path, full: bool) -> String {
    let mut out = String::new();
    match &t.header {
        Some(h) => {
            let _ = writeln!(
                out,
                "trajectory {} · {} · {} · {}",
                file.display(),
                h.schema,
                h.library,
                h.created
            );
            let cfg = &h.config;
            let get = |k: &str| match cfg.get(k) {
                None | Some(serde_json::Value::Null) => "-".to_string(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            let _ = writeln!(
                out,
                "root model {} · sub-model {} · max_depth {} · max_iterations {} · repl {}",
                get("root_model"),
                get("sub_model"),
                get("max_depth"),
                get("max_iterations"),
                get("repl_backend")
            );
        }
        None => {
            let _ = writeln!(out, "trajectory {} (no header)", file.display());
        }
    }
    if t.runs.is_empty() {
        let _ = writeln!(out, "no runs recorded");
    }
    let r = Renderer { full };
    for run in &t.runs {
        out.push('\n');
        r.run(&mut out, run, "");
    }
    let by_model = super::usage_by_model(t);
    if !by_model.is_empty() {
        let _ = writeln!(out, "\nusage by model:");
        for (model, usage) in &by_model {
            let cost = usage
                .cost
                .map_or_else(|| "no known price".to_string(), |c| format!("${c:.4}"));
            let _ = writeln!(
                out,
                "  {model}: {} calls · {} tok · {cost}",
                usage.calls,
                super::thousands(usage.total_tokens()),
            );
        }
    }
    if t.partial_last_line {
        let _ = writeln!(out, "\n(the last line was cut short: the run was killed)");
    }
    out
}

struct Renderer {
    full: bool,
}

impl Renderer {
    fn text(&self, out: &mut String, indent: &str, label: &str, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        if self.full {
            let _ = writeln!(out, "{indent}{label}:");
            for line in text.trim_end().lines() {
                let _ = writeln!(out, "{indent}  | {line}");
            }
        } else {
            let _ = writeln!(out, "{indent}{label}: {}", one_line(text, PREVIEW));
        }
    }

    fn run(&self, out: &mut String, run: &RunNode, indent: &str) {
        let (llm, rlm) = run.subcall_counts();
        let own = run.own_usage();
        let tree = run.tree_usage();
        let mut usage = fmt_usage(&own);
        if tree.total_tokens() != own.total_tokens() {
            usage.push_str(&format!(" (with sub-calls: {})", fmt_usage(&tree)));
        }
        let _ = writeln!(
            out,
            "{indent}run {} · depth {} · {} · {} · {usage} · sub-calls: {llm} llm, {rlm} rlm",
            run.run_id,
            run.depth,
            run.model,
            run_status(run),
        );
        let inner = format!("{indent}  ");
        let _ = writeln!(
            out,
            "{inner}query: {}",
            one_line(&run.query_preview, PREVIEW)
        );
        for turn in &run.turns {
            self.turn(out, turn, &inner);
        }
        if let Some(f) = &run.finish {
            if let Some(error) = &f.error {
                let _ = writeln!(out, "{inner}stopped: {}", one_line(error, PREVIEW));
            }
            if let Some(answer) = &f.answer {
                self.text(out, &inner, "answer", answer);
            }
        }
    }

    fn turn(&self, out: &mut String, turn: &Turn, indent: &str) {
        let label = if turn.last_chance {
            format!("iteration {} (last chance)", turn.iteration)
        } else {
            format!("iteration {}", turn.iteration)
        };
        let state = if turn.responded {
            format!(
                "model {} · {} · {} block{}",
                fmt_ms(turn.model_ms),
                fmt_usage(&turn.usage),
                turn.code_blocks,
                if turn.code_blocks == 1 { "" } else { "s" }
            )
        } else {
            "waiting for the model".to_string()
        };
        let _ = writeln!(
            out,
            "{indent}{label} · {state} · {}",
            fmt_ms((turn.ended_ms - turn.started_ms).max(0.0))
        );
        let inner = format!("{indent}  ");
        if turn.blocks.is_empty()
            && let Some(response) = &turn.response
        {
            self.text(out, &inner, "reply", response);
        }
        for block in &turn.blocks {
            self.block(out, block, &inner);
        }
    }

    fn block(&self, out: &mut String, block: &Block, indent: &str) {
        let mut flags = Vec::new();
        if !block.executed {
            flags.push("did not finish".to_string());
        }
        if block.raised {
            flags.push("raised".to_string());
        }
        if block.finished {
            flags.push("finished the run".to_string());
        }
        if !block.subcalls.is_empty() {
            flags.push(format!("{} sub-calls", block.subcalls.len()));
        }
        let _ = writeln!(
            out,
            "{indent}block {} · {}{}",
            block.index + 1,
            fmt_ms(block.duration_ms),
            flags.iter().map(|f| format!(" · {f}")).collect::<String>()
        );
        let inner = format!("{indent}  ");
        if let Some(code) = &block.code {
            self.text(out, &inner, "code", code);
        }
        if let Some(stdout) = &block.stdout {
            self.text(out, &inner, "output", stdout);
        }
        if let Some(error) = &block.error {
            // The traceback's last line says what went wrong.
            let last = if self.full {
                error.as_str()
            } else {
                error.trim_end().lines().last().unwrap_or_default()
            };
            self.text(out, &inner, "error", last);
        }
        if let Some(answer) = &block.final_answer {
            self.text(out, &inner, "final", answer);
        }
        for call in &block.subcalls {
            self.subcall(out, call, &inner);
        }
    }

    fn subcall(&self, out: &mut String, call: &Subcall, indent: &str) {
        let function = match call.kind {
            SubcallKind::Llm => "llm_query",
            SubcallKind::Rlm => "rlm_query",
        };
        let prompt = call.prompt.as_deref().unwrap_or(&call.prompt_preview);
        let timing = call
            .duration_ms
            .map_or_else(|| "running".to_string(), fmt_ms);
        let usage = call
            .usage
            .as_ref()
            .map(|u| format!(" · {}", fmt_usage(u)))
            .unwrap_or_default();
        let result = match (&call.error, &call.response) {
            (Some(e), _) => format!(" · error: {}", one_line(e, 60)),
            (None, Some(r)) => format!(" -> {}", one_line(r, 60)),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "{indent}{function}({:?}) · {timing}{usage}{result}",
            one_line(prompt, 50)
        );
        if let Some(child) = &call.child {
            self.run(out, child, &format!("{indent}  "));
        }
    }
}
