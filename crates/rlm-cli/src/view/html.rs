//! The trajectory as one self-contained HTML page: inline CSS and JavaScript, no network
//! fetch. Runs, turns, messages and sub-calls are `<details>` elements, so the tree folds and
//! unfolds without scripts; the script adds "expand all"/"collapse all", a filter, and the
//! counts in the header.

use std::fmt::Write as _;
use std::path::Path;

use rlm::SubcallKind;
use rlm::trajectory::{Block, RunNode, Subcall, Trajectory, Turn};

use super::highlight::{escape, python};
use super::{fmt_ms, fmt_usage, one_line, run_status};

const STYLE: &str = r#"
:root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --bg:#ffffff; --soft:#f6f8fa; --bad:#cf222e; --good:#1a7f37; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
header { position: sticky; top: 0; background: var(--soft); border-bottom: 1px solid var(--line); padding: 10px 16px; z-index: 1; }
header h1 { font-size: 16px; margin: 0 0 4px; }
header .meta, .muted { color: var(--muted); }
header .controls { margin-top: 6px; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
button, input { font: inherit; padding: 2px 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); }
main { padding: 12px 16px 40px; }
details { margin: 4px 0 4px 14px; border-left: 2px solid var(--line); padding-left: 10px; }
details > summary { cursor: pointer; list-style-position: outside; }
details.run { border-left-color: #8250df; }
details.run > summary { font-weight: 600; }
details.subcall { border-left-color: #0969da; }
.block { margin: 6px 0 6px 14px; padding: 6px 10px; background: var(--soft); border-radius: 6px; }
.block .head { color: var(--muted); margin-bottom: 4px; }
pre { margin: 4px 0; padding: 6px 8px; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; overflow-x: auto; white-space: pre-wrap; word-break: break-word; font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre.error { border-color: var(--bad); color: var(--bad); }
.tag { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; border: 1px solid var(--line); margin-left: 4px; }
.tag.bad { color: var(--bad); border-color: var(--bad); }
.tag.good { color: var(--good); border-color: var(--good); }
.answer { margin: 6px 0 6px 14px; padding: 6px 10px; border: 1px solid var(--good); border-radius: 6px; }
.msg .role { font-size: 12px; color: var(--muted); text-transform: uppercase; }
.hidden { display: none; }
.kw { color: #a626a4; font-weight: 600; } .str { color: #50a14f; } .com { color: #8c8c8c; font-style: italic; }
.num { color: #986801; } .fn { color: #4078f2; }
"#;

const SCRIPT: &str = r#"
(function () {
  var all = function (sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); };
  document.getElementById('expand').addEventListener('click', function () { all('details').forEach(function (d) { d.open = true; }); });
  document.getElementById('collapse').addEventListener('click', function () { all('details').forEach(function (d) { d.open = false; }); });
  document.getElementById('filter').addEventListener('input', function (e) {
    var q = e.target.value.toLowerCase();
    all('.block').forEach(function (b) { b.classList.toggle('hidden', q !== '' && b.textContent.toLowerCase().indexOf(q) < 0); });
  });
  var stats = all('details.run').length + ' runs · ' + all('details.turn').length + ' turns · ' +
    all('.block').length + ' blocks · ' + all('details.subcall').length + ' sub-calls';
  document.getElementById('stats').textContent = stats;
  document.body.setAttribute('data-ready', 'yes');
})();
"#;

/// Renders the page.
pub fn render(t: &Trajectory, file: &Path) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(
        out,
        "<title>rlm trajectory: {}</title><style>{STYLE}</style></head><body>",
        escape(&file.display().to_string())
    );
    out.push_str("<header><h1>RLM trajectory</h1><div class=\"meta\">");
    let _ = write!(out, "{}", escape(&file.display().to_string()));
    if let Some(h) = &t.header {
        let cfg = &h.config;
        let get = |k: &str| {
            cfg.get(k)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
                .unwrap_or_default()
        };
        let _ = write!(
            out,
            " · {} · {} · {} · root model <b>{}</b> · max_depth {} · max_iterations {}",
            escape(&h.schema),
            escape(&h.library),
            escape(&h.created),
            escape(&get("root_model")),
            escape(&get("max_depth")),
            escape(&get("max_iterations")),
        );
    }
    out.push_str(
        "</div><div class=\"controls\"><button id=\"expand\" type=\"button\">Expand all</button>",
    );
    out.push_str("<button id=\"collapse\" type=\"button\">Collapse all</button>");
    out.push_str("<input id=\"filter\" type=\"search\" placeholder=\"filter blocks\">");
    out.push_str("<span id=\"stats\" class=\"muted\"></span></div></header><main>");
    if t.runs.is_empty() {
        out.push_str("<p>No runs recorded.</p>");
    }
    for run in &t.runs {
        render_run(&mut out, run);
    }
    if t.partial_last_line {
        out.push_str("<p class=\"muted\">The last line of the file was cut short: the run was killed while writing.</p>");
    }
    let _ = writeln!(out, "</main><script>{SCRIPT}</script></body></html>");
    out
}

fn pre(out: &mut String, class: &str, text: &str) {
    let _ = write!(out, "<pre class=\"{class}\">{}</pre>", escape(text));
}

fn render_run(out: &mut String, run: &RunNode) {
    let (llm, rlm) = run.subcall_counts();
    let ok = run.finish.as_ref().is_some_and(|f| {
        matches!(
            f.outcome,
            rlm::RunOutcomeKind::Finished | rlm::RunOutcomeKind::IterationLimit
        )
    });
    let _ = write!(
        out,
        "<details class=\"run\" id=\"run-{id}\" data-run-id=\"{id}\" data-depth=\"{depth}\"{open}><summary>run {id} · depth {depth} · {model} <span class=\"tag {class}\">{status}</span> <span class=\"muted\">{usage} · sub-calls: {llm} llm, {rlm} rlm</span></summary>",
        id = run.run_id,
        depth = run.depth,
        open = if run.depth == 0 { " open" } else { "" },
        model = escape(&run.model),
        class = if ok { "good" } else { "bad" },
        status = escape(&run_status(run)),
        usage = escape(&fmt_usage(&run.tree_usage())),
    );
    let _ = write!(
        out,
        "<div class=\"muted\">query: {}</div>",
        escape(&one_line(&run.query_preview, 200))
    );
    for turn in &run.turns {
        render_turn(out, turn, run.depth == 0);
    }
    if let Some(f) = &run.finish {
        if let Some(error) = &f.error {
            let _ = write!(out, "<div class=\"muted\">stopped: {}</div>", escape(error));
        }
        if let Some(answer) = &f.answer {
            let _ = write!(
                out,
                "<div class=\"answer\"><b>answer</b><pre class=\"final\">{}</pre></div>",
                escape(answer)
            );
        }
    }
    out.push_str("</details>");
}

fn render_turn(out: &mut String, turn: &Turn, open: bool) {
    let label = if turn.last_chance {
        format!("iteration {} (last chance)", turn.iteration)
    } else {
        format!("iteration {}", turn.iteration)
    };
    let _ = write!(
        out,
        "<details class=\"turn\" data-iteration=\"{}\"{}><summary>{} <span class=\"muted\">· model {} · {} · {} block{} · {}</span></summary>",
        turn.iteration,
        if open { " open" } else { "" },
        escape(&label),
        fmt_ms(turn.model_ms),
        escape(&fmt_usage(&turn.usage)),
        turn.code_blocks,
        if turn.code_blocks == 1 { "" } else { "s" },
        fmt_ms((turn.ended_ms - turn.started_ms).max(0.0)),
    );
    if !turn.messages.is_empty() {
        let _ = write!(
            out,
            "<details class=\"messages\"><summary>{} new message{} sent</summary>",
            turn.messages.len(),
            if turn.messages.len() == 1 { "" } else { "s" }
        );
        for m in &turn.messages {
            let _ = write!(
                out,
                "<div class=\"msg\"><div class=\"role\">{}</div>",
                m.role.as_str()
            );
            pre(out, "message", &m.content);
            out.push_str("</div>");
        }
        out.push_str("</details>");
    }
    if let Some(response) = &turn.response {
        out.push_str("<details class=\"response\"><summary>response</summary>");
        pre(out, "response", response);
        out.push_str("</details>");
    }
    for block in &turn.blocks {
        render_block(out, block);
    }
    out.push_str("</details>");
}

fn render_block(out: &mut String, block: &Block) {
    let mut tags = String::new();
    if !block.executed {
        tags.push_str("<span class=\"tag bad\">did not finish</span>");
    }
    if block.raised {
        tags.push_str("<span class=\"tag bad\">raised</span>");
    }
    if block.finished {
        tags.push_str("<span class=\"tag good\">finished the run</span>");
    }
    let _ = write!(
        out,
        "<div class=\"block\" data-block=\"{}\"><div class=\"head\">block {} · {} · {} sub-calls{tags}</div>",
        block.index,
        block.index + 1,
        fmt_ms(block.duration_ms),
        block.subcalls.len(),
    );
    if let Some(code) = &block.code {
        let _ = write!(
            out,
            "<pre class=\"code\"><code class=\"language-python\">{}</code></pre>",
            python(code)
        );
    }
    if let Some(stdout) = block.stdout.as_deref().filter(|s| !s.is_empty()) {
        pre(out, "stdout", stdout);
    }
    if let Some(error) = &block.error {
        pre(out, "error", error);
    }
    if let Some(answer) = &block.final_answer {
        pre(out, "final", answer);
    }
    for call in &block.subcalls {
        render_subcall(out, call);
    }
    out.push_str("</div>");
}

fn render_subcall(out: &mut String, call: &Subcall) {
    let function = match call.kind {
        SubcallKind::Llm => "llm_query",
        SubcallKind::Rlm => "rlm_query",
    };
    let prompt = call.prompt.as_deref().unwrap_or(&call.prompt_preview);
    let timing = call.duration_ms.map_or_else(|| "running".into(), fmt_ms);
    let status = match &call.error {
        Some(_) => "<span class=\"tag bad\">error</span>",
        None => "",
    };
    let _ = write!(
        out,
        "<details class=\"subcall\" data-call-id=\"{}\" data-kind=\"{}\"><summary>{function}(\"{}\") <span class=\"muted\">· {} · {timing}</span>{status}</summary>",
        call.call_id,
        match call.kind {
            SubcallKind::Llm => "llm",
            SubcallKind::Rlm => "rlm",
        },
        escape(&one_line(prompt, 80)),
        escape(&call.model),
    );
    pre(out, "prompt", prompt);
    if let Some(usage) = &call.usage {
        let _ = write!(
            out,
            "<div class=\"muted\">{}</div>",
            escape(&fmt_usage(usage))
        );
    }
    if let Some(error) = &call.error {
        pre(out, "error", error);
    } else if let Some(response) = &call.response {
        pre(out, "response", response);
    }
    if let Some(child) = &call.child {
        render_run(out, child);
    }
    out.push_str("</details>");
}
