//! Live progress on a terminal: the recursion tree as it grows, redrawn in place on stderr
//! with `indicatif`.
//!
//! Events only update [`LiveState`] under a mutex (a map update, no drawing); a ticker thread
//! renders the tree five times a second, so watching costs the run almost nothing. One
//! `indicatif` line per tree line, each `{wide_msg}`, so lines are cut to the terminal's width.
//!
//! When streaming is on, the root model's reply of the current turn shows under the root's
//! line as it arrives ([`RunEvent::RootDelta`]): its last [`REPLY_LINES`] lines, each marked
//! `> `, until the next turn starts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rlm::{EventSink, SinkError};
use rlm::{RunEvent, RunOutcomeKind, Usage};

/// Most runs shown at once; the rest are summed up in one line.
const MAX_RUN_LINES: usize = 12;
/// How often the tree is redrawn.
const TICK: Duration = Duration::from_millis(200);
/// Lines of the streaming reply shown under the root.
pub const REPLY_LINES: usize = 3;
/// Characters of the streaming reply kept (its tail): enough for [`REPLY_LINES`] lines.
const REPLY_KEEP: usize = 4096;

/// One run as the live view knows it.
#[derive(Debug, Clone)]
struct Node {
    depth: u32,
    label: String,
    model: String,
    children: Vec<u64>,
    iteration: u32,
    started: Instant,
    usage: Usage,
    calls_running: usize,
    calls_done: usize,
    calls_failed: usize,
    finished: Option<(RunOutcomeKind, Duration)>,
    /// Model replies so far, and whether one was the last-chance call.
    replies: u64,
    last_chance: bool,
}

/// The tree so far. Pure data: `apply` events, render `lines`.
#[derive(Debug)]
pub struct LiveState {
    max_iterations: u32,
    started: Instant,
    nodes: BTreeMap<u64, Node>,
    roots: Vec<u64>,
    usage: Usage,
    /// Usage by model name (root turns under the run's model, plain sub-calls under theirs).
    by_model: BTreeMap<String, Usage>,
    /// The tail of the root's reply of the current turn, as streamed.
    reply: String,
}

impl LiveState {
    /// An empty tree; `max_iterations` is shown next to each run's iteration.
    pub fn new(max_iterations: u32, now: Instant) -> Self {
        Self {
            max_iterations,
            started: now,
            nodes: BTreeMap::new(),
            roots: Vec::new(),
            usage: Usage::default(),
            by_model: BTreeMap::new(),
            reply: String::new(),
        }
    }

    /// Takes one event into account.
    pub fn apply(&mut self, event: &RunEvent, now: Instant) {
        match event {
            RunEvent::RunStarted {
                run_id,
                parent_run_id,
                depth,
                model,
                query_preview,
                ..
            } => {
                let label = if *depth == 0 {
                    format!("root ({model})")
                } else {
                    format!("child \"{}\"", clip(query_preview, 28))
                };
                self.nodes.insert(
                    *run_id,
                    Node {
                        depth: *depth,
                        label,
                        model: model.clone(),
                        children: Vec::new(),
                        iteration: 0,
                        started: now,
                        usage: Usage::default(),
                        calls_running: 0,
                        calls_done: 0,
                        calls_failed: 0,
                        finished: None,
                        replies: 0,
                        last_chance: false,
                    },
                );
                match parent_run_id.and_then(|p| self.nodes.get_mut(&p)) {
                    Some(parent) => parent.children.push(*run_id),
                    None => self.roots.push(*run_id),
                }
            }
            RunEvent::IterationStarted {
                run_id,
                iteration,
                depth,
            } => {
                if let Some(n) = self.nodes.get_mut(run_id) {
                    n.iteration = *iteration;
                }
                if *depth == 0 {
                    self.reply.clear();
                }
            }
            RunEvent::RootDelta { text, .. } => {
                self.reply.push_str(text);
                if self.reply.len() > REPLY_KEEP {
                    let mut cut = self.reply.len() - REPLY_KEEP;
                    while !self.reply.is_char_boundary(cut) {
                        cut += 1;
                    }
                    self.reply.drain(..cut);
                }
            }
            RunEvent::ModelResponded {
                run_id,
                usage,
                last_chance,
                ..
            } => {
                self.usage.add(usage);
                if let Some(n) = self.nodes.get_mut(run_id) {
                    n.replies += 1;
                    n.last_chance |= *last_chance;
                    n.usage.add(usage);
                    self.by_model.entry(n.model.clone()).or_default().add(usage);
                }
            }
            RunEvent::SubcallStarted { run_id, .. } => {
                if let Some(n) = self.nodes.get_mut(run_id) {
                    n.calls_running += 1;
                }
            }
            RunEvent::SubcallCompleted {
                run_id,
                error,
                usage,
                model,
                ..
            } => {
                if let Some(usage) = usage {
                    self.usage.add(usage);
                    self.by_model.entry(model.clone()).or_default().add(usage);
                }
                if let Some(n) = self.nodes.get_mut(run_id) {
                    n.calls_running = n.calls_running.saturating_sub(1);
                    n.calls_done += 1;
                    n.calls_failed += usize::from(error.is_some());
                    if let Some(usage) = usage {
                        n.usage.add(usage);
                    }
                }
            }
            RunEvent::RunFinished {
                run_id,
                outcome,
                duration,
                ..
            } => {
                if let Some(n) = self.nodes.get_mut(run_id) {
                    n.finished = Some((*outcome, *duration));
                }
            }
            _ => {}
        }
    }

    /// Runs in display order (depth first), with their indentation level.
    fn order(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<u64> = self.roots.iter().rev().copied().collect();
        while let Some(id) = stack.pop() {
            out.push(id);
            if let Some(n) = self.nodes.get(&id) {
                stack.extend(n.children.iter().rev().copied());
            }
        }
        out
    }

    /// The lines to show: a summary, then one line per run (at most `MAX_RUN_LINES`; running
    /// runs first when there are more).
    pub fn lines(&self, now: Instant) -> Vec<String> {
        if self.nodes.is_empty() {
            return Vec::new(); // nothing started (yet): draw nothing
        }
        let order = self.order();
        let running = self.nodes.values().filter(|n| n.finished.is_none()).count();
        let calls_running: usize = self.nodes.values().map(|n| n.calls_running).sum();
        let calls_done: usize = self.nodes.values().map(|n| n.calls_done).sum();
        let mut lines = vec![format!(
            "rlm {} · runs: {running} running, {} done · sub-calls: {calls_running} running, {calls_done} done · {}{}",
            secs(now.saturating_duration_since(self.started)),
            self.nodes.len() - running,
            tokens(&self.usage),
            cost(&self.usage),
        )];
        // With several models, what each has used and cost so far.
        if self.by_model.len() > 1 {
            let each: Vec<String> = self
                .by_model
                .iter()
                .map(|(model, usage)| format!("{model} {}{}", tokens(usage), cost(usage)))
                .collect();
            lines.push(format!("models: {}", each.join("; ")));
        }
        let shown: Vec<u64> = if order.len() <= MAX_RUN_LINES {
            order
        } else {
            // The roots, then running runs, then the most recent finished ones.
            let mut keep: Vec<u64> = order
                .iter()
                .copied()
                .filter(|id| self.roots.contains(id))
                .collect();
            for id in &order {
                if keep.len() >= MAX_RUN_LINES - 1 {
                    break;
                }
                if !keep.contains(id) && self.nodes.get(id).is_some_and(|n| n.finished.is_none()) {
                    keep.push(*id);
                }
            }
            order.into_iter().filter(|id| keep.contains(id)).collect()
        };
        let hidden = self.nodes.len() - shown.len();
        for id in &shown {
            if let Some(n) = self.nodes.get(id) {
                lines.push(self.node_line(n, now));
                if n.depth == 0 {
                    lines.extend(self.reply_lines());
                }
            }
        }
        if hidden > 0 {
            lines.push(format!("  ... and {hidden} more runs"));
        }
        lines
    }

    /// The last [`REPLY_LINES`] non-blank lines of the streaming reply, marked `> `.
    fn reply_lines(&self) -> Vec<String> {
        let tail: Vec<&str> = self
            .reply
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        tail[tail.len().saturating_sub(REPLY_LINES)..]
            .iter()
            .map(|line| {
                let shown: String = line
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                format!("  > {}", clip(&shown, 160))
            })
            .collect()
    }

    fn node_line(&self, n: &Node, now: Instant) -> String {
        let indent = "  ".repeat(n.depth as usize);
        let (mark, state, elapsed) = match n.finished {
            None => (
                "*",
                format!("iter {}/{}", n.iteration, self.max_iterations),
                now.saturating_duration_since(n.started),
            ),
            Some((outcome, took)) => {
                let answered = matches!(
                    outcome,
                    RunOutcomeKind::Finished | RunOutcomeKind::IterationLimit
                );
                let name = outcome_name(outcome);
                let state = match (n.replies, n.last_chance) {
                    (0, _) if !answered => format!("{name} before any reply"),
                    (_, true) => format!("{name} after {} iter + last-chance call", n.iteration),
                    _ => format!("{name} after {} iter", n.iteration),
                };
                (if answered { "+" } else { "!" }, state, took)
            }
        };
        let mut calls = String::new();
        if n.calls_running + n.calls_done > 0 {
            calls = format!(
                " · sub-calls {} running, {} done",
                n.calls_running, n.calls_done
            );
            if n.calls_failed > 0 {
                calls.push_str(&format!(" ({} failed)", n.calls_failed));
            }
        }
        format!(
            "{indent}{mark} {} · {state}{calls} · {}{} · {}",
            n.label,
            tokens(&n.usage),
            cost(&n.usage),
            secs(elapsed)
        )
    }
}

fn outcome_name(outcome: RunOutcomeKind) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| "ended".into())
}

/// The first `max` characters of `text` on one line.
fn clip(text: &str, max: usize) -> String {
    let one_line = text.replace(['\n', '\r'], " ");
    match one_line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &one_line[..cut]),
        None => one_line,
    }
}

fn tokens(usage: &Usage) -> String {
    let t = usage.total_tokens();
    if t >= 10_000 {
        format!("{:.1}k tok", t as f64 / 1000.0)
    } else {
        format!("{t} tok")
    }
}

fn cost(usage: &Usage) -> String {
    usage.cost.map_or(String::new(), |c| format!(" · ${c:.4}"))
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The live view: an event sink plus the thread that draws it.
pub struct LiveTree {
    state: Mutex<LiveState>,
    /// Whether the root's reply is asked for as a stream.
    stream: bool,
    multi: MultiProgress,
    bars: Mutex<Vec<ProgressBar>>,
    stopped: AtomicBool,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl LiveTree {
    /// Starts drawing on stderr; `stream` asks for the root's replies as they stream in.
    pub fn start(max_iterations: u32, stream: bool) -> Arc<Self> {
        let tree = Arc::new(Self {
            state: Mutex::new(LiveState::new(max_iterations, Instant::now())),
            stream,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            bars: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            ticker: Mutex::new(None),
        });
        let weak: Weak<Self> = Arc::downgrade(&tree);
        let handle = std::thread::Builder::new()
            .name("rlm-live".into())
            .spawn(move || {
                loop {
                    // Parked rather than asleep, so `finish` wakes it at once.
                    std::thread::park_timeout(TICK);
                    let Some(tree) = weak.upgrade() else { break };
                    if tree.stopped.load(Ordering::Acquire) {
                        break;
                    }
                    tree.render();
                }
            })
            .ok();
        *tree.ticker.lock().unwrap_or_else(|p| p.into_inner()) = handle;
        tree
    }

    fn render(&self) {
        let lines = {
            let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.lines(Instant::now())
        };
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        while bars.len() < lines.len() {
            let style = ProgressStyle::with_template("{wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = self.multi.add(ProgressBar::new_spinner().with_style(style));
            bars.push(bar);
        }
        while bars.len() > lines.len() {
            if let Some(bar) = bars.pop() {
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
        }
        for (bar, line) in bars.iter().zip(lines) {
            bar.set_message(line);
        }
    }

    /// Stops the ticker and leaves the final tree on screen.
    pub fn finish(&self) {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        let ticker = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = ticker {
            handle.thread().unpark();
            let _ = handle.join();
        }
        self.render();
        for bar in self.bars.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            bar.abandon();
        }
    }
}

impl EventSink for LiveTree {
    fn on_event(&self, event: &RunEvent) -> Result<(), SinkError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.apply(event, Instant::now());
        Ok(())
    }

    fn wants_deltas(&self) -> bool {
        self.stream
    }
}

impl Drop for LiveTree {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests;
