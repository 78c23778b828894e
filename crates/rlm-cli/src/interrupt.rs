//! Ctrl-C for `rlm run`: the first one cancels the run (it stops, prints the usage so far and
//! exits 130); a second one, or a run that has not stopped within [`GRACE`], exits 130 at once.
//!
//! SIGINT is watched on a thread of its own with its own small runtime, so nothing the run does
//! (a worker thread busy with synchronous work, a Monty block that cannot be interrupted) can keep
//! the watcher from acting. Before the run starts (reading the context, even from a terminal
//! that never sends EOF) the first Ctrl-C exits at once: there is nothing to report yet.
//!
//! Exiting: the process ends through [`exit`], here and in `main`, under one lock, so a
//! watcher's exit and the orderly one never run at the same time. An exit at once does not wait
//! on stderr for long: a full pipe nobody reads (`rlm ... 2>&1 | less`, paused) blocks every
//! writer, and may be what kept the orderly stop from finishing.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How long the first Ctrl-C waits for the run's orderly stop (a few milliseconds when nothing
/// blocks it) before exiting anyway; with [`SAY_WITHIN`] the process is gone within a second.
pub const GRACE: Duration = Duration::from_millis(800);

/// How long an exit at once waits for its line to reach stderr.
const SAY_WITHIN: Duration = Duration::from_millis(100);

/// The exit code of a cancelled run.
pub const CANCELLED: u8 = 130;

/// Held by whoever is ending the process.
static EXITING: Mutex<()> = Mutex::new(());

/// Ends the process with `code`, after sending the spans not yet exported (`--otlp-endpoint`;
/// outside the lock, so that an exit at once never waits on a collector); only one thread ever
/// gets past the lock.
pub fn exit(code: u8) -> ! {
    crate::telemetry::shutdown(crate::telemetry::ORDERLY);
    let _only_one = EXITING.lock();
    std::process::exit(i32::from(code))
}

/// What a Ctrl-C does, given how many have come and whether the run has started.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    /// Tell the run to stop, and give it [`GRACE`] to do so.
    Cancel,
    /// Exit 130 now, after this line on stderr.
    ExitNow(&'static str),
}

fn on_interrupt(count: u32, run_started: bool) -> Action {
    match (count, run_started) {
        (1, false) => Action::ExitNow("[rlm] cancelled before the run started"),
        (1, true) => Action::Cancel,
        _ => Action::ExitNow("[rlm] interrupted again: exiting at once"),
    }
}

struct Shared {
    run_started: AtomicBool,
    stop: Notify,
}

/// The installed Ctrl-C watcher.
pub struct Interrupt {
    shared: Arc<Shared>,
}

impl Interrupt {
    /// Starts watching SIGINT. From now on Ctrl-C no longer kills the process by signal: it
    /// follows this module's rules.
    pub fn install() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            run_started: AtomicBool::new(false),
            stop: Notify::new(),
        });
        let watched = shared.clone();
        spawn_watcher("rlm-ctrl-c", move |listener| async move {
            watch(listener, &watched).await;
        })?;
        Ok(Self { shared })
    }

    /// Marks the run as started and returns the future that completes on the first Ctrl-C
    /// (one that came earlier ended the process already).
    pub fn run_started(&self) -> impl Future<Output = ()> + Send + 'static {
        self.shared.run_started.store(true, Ordering::SeqCst);
        let shared = self.shared.clone();
        async move { shared.stop.notified().await }
    }
}

/// Runs `watch` on a thread of its own with its own small runtime, so nothing the process does
/// can keep it from acting. SIGINT's handler is registered before this returns, so no Ctrl-C
/// falls between the two.
pub(crate) fn spawn_watcher<W, F>(name: &str, watch: W) -> std::io::Result<()>
where
    W: FnOnce(Listener) -> F + Send + 'static,
    F: Future<Output = ()>,
{
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                match Listener::new() {
                    Ok(listener) => {
                        let _ = ready_tx.send(Ok(()));
                        watch(listener).await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
    ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("the Ctrl-C watcher did not start"))?
}

async fn watch(mut listener: Listener, shared: &Shared) {
    let mut count = 0;
    loop {
        if !listener.recv().await {
            return;
        }
        count += 1;
        match on_interrupt(count, shared.run_started.load(Ordering::SeqCst)) {
            Action::Cancel => {
                // `notify_one` keeps the permit if the run is not waiting yet.
                shared.stop.notify_one();
                tokio::select! {
                    more = listener.recv() => {
                        if more {
                            count += 1;
                            if let Action::ExitNow(line) = on_interrupt(count, true) {
                                exit_now(line);
                            }
                        }
                    }
                    () = tokio::time::sleep(GRACE) => exit_now(
                        "[rlm] cancelled: the run did not stop in time; exiting without its usage report",
                    ),
                }
            }
            Action::ExitNow(line) => exit_now(line),
        }
    }
}

/// Exits 130 after writing `line` to stderr, without waiting long for it: stderr may be a pipe
/// nobody reads (the writer blocked on it may be what stopped the orderly exit).
pub(crate) fn exit_now(line: &'static str) -> ! {
    let (written_tx, written_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("rlm-ctrl-c-say".into())
        .spawn(move || {
            eprintln!("{line}");
            let _ = written_tx.send(());
        });
    if spawned.is_ok() {
        let _ = written_rx.recv_timeout(SAY_WITHIN);
    }
    crate::telemetry::shutdown(crate::telemetry::AT_ONCE);
    exit(CANCELLED)
}

/// The process's SIGINT stream.
#[cfg(unix)]
pub(crate) struct Listener(tokio::signal::unix::Signal);

#[cfg(unix)]
impl Listener {
    pub(crate) fn new() -> std::io::Result<Self> {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).map(Self)
    }

    /// The next SIGINT; `false` if none can come any more.
    pub(crate) async fn recv(&mut self) -> bool {
        self.0.recv().await.is_some()
    }
}

/// The process's Ctrl-C stream.
#[cfg(not(unix))]
pub(crate) struct Listener;

#[cfg(not(unix))]
impl Listener {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Self)
    }

    /// The next Ctrl-C; `false` if none can come any more.
    pub(crate) async fn recv(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_ctrl_c_does() {
        let cases = [
            (
                1,
                false,
                Action::ExitNow("[rlm] cancelled before the run started"),
            ),
            (1, true, Action::Cancel),
            (
                2,
                true,
                Action::ExitNow("[rlm] interrupted again: exiting at once"),
            ),
            (
                3,
                false,
                Action::ExitNow("[rlm] interrupted again: exiting at once"),
            ),
        ];
        for (count, started, expected) in cases {
            assert_eq!(on_interrupt(count, started), expected, "{count} {started}");
        }
    }
}
