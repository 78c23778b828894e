//! Running the CLI as a child process and measuring it: wall time from spawn to exit (the
//! calling thread blocks in `wait`, so the exit is seen at once) and peak RSS, polled from
//! `/proc/<pid>/status` (`VmHWM`, the kernel's own high-water mark) every 10 ms by a watcher
//! thread, which also kills the child past a timeout. The last poll can miss growth in the
//! final few milliseconds before exit; `getrusage(RUSAGE_CHILDREN)` would not, but std has no
//! API for it and the harness takes no `libc` dependency.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// How often the watcher reads `/proc/<pid>/status`.
const POLL: Duration = Duration::from_millis(10);

/// What a finished child did.
#[derive(Debug)]
pub struct Measured {
    pub status: ExitStatus,
    /// From spawn to exit.
    pub wall: Duration,
    /// The largest `VmHWM` seen, in bytes (`None` without `/proc`).
    pub peak_rss: Option<u64>,
    /// Whether the watcher killed the child at the timeout.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` (stdin closed, stdout and stderr captured), killing it after `timeout`.
/// `name` is the executable's file name: the watcher reads only a process of that name, so a
/// pid reused after the child is reaped is never measured.
pub fn run(cmd: &mut Command, name: &str, timeout: Duration) -> Result<Measured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().context("could not start the CLI")?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let done = Arc::new(AtomicBool::new(false));
    let watcher = watch(&child, name, timeout, Arc::clone(&done));
    let status = child.wait();
    let wall = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            // Do not leave it running.
            let _ = child.kill();
            let _ = child.wait();
            return Err(e).context("could not wait for the CLI");
        }
    };
    let (peak_rss, timed_out) = watcher.join().unwrap_or((None, false));
    Ok(Measured {
        status,
        wall,
        peak_rss,
        timed_out,
        stdout: joined(stdout),
        stderr: joined(stderr),
    })
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error leaves what was read; the exit status tells the rest.
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn joined(handle: JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

/// Polls the child's `VmHWM` until `done`; kills it (by its pid, with `kill -KILL`) once
/// `timeout` has passed. Returns the peak in bytes and whether it killed the child.
fn watch(
    child: &Child,
    name: &str,
    timeout: Duration,
    done: Arc<AtomicBool>,
) -> JoinHandle<(Option<u64>, bool)> {
    let pid = child.id();
    let name = name.to_owned();
    std::thread::spawn(move || {
        let started = Instant::now();
        let status = format!("/proc/{pid}/status");
        let mut peak: Option<u64> = None;
        let mut killed = false;
        while !done.load(Ordering::SeqCst) {
            if let Ok(text) = std::fs::read_to_string(&status)
                && let Some(hwm) = parse_status(&text, &name)
            {
                peak = Some(peak.map_or(hwm, |p| p.max(hwm)));
            }
            if !killed && started.elapsed() > timeout && !done.load(Ordering::SeqCst) {
                // Only our child, by its id; it is not reaped until `wait` returns.
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                killed = true;
            }
            std::thread::sleep(POLL);
        }
        (peak, killed)
    })
}

/// `VmHWM` in bytes from a `/proc/<pid>/status` text, when the process is called `name` (before
/// `exec` the child still carries the parent's name and memory).
pub fn parse_status(text: &str, name: &str) -> Option<u64> {
    let mut is_name = false;
    let mut hwm = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("Name:") {
            is_name = value.trim() == name;
        } else if let Some(value) = line.strip_prefix("VmHWM:") {
            let kib: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
            hwm = Some(kib * 1024);
        }
    }
    hwm.filter(|_| is_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parsing() {
        let status = "Name:\trlm\nUmask:\t0022\nVmPeak:\t  200000 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_status(status, "rlm"), Some(12345 * 1024));
        assert_eq!(parse_status(status, "xtask"), None);
        // A zombie has no memory lines.
        assert_eq!(
            parse_status("Name:\trlm\nState:\tZ (zombie)\n", "rlm"),
            None
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn measures_a_real_child() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 0.1; echo out; echo err >&2"]);
        let m = run(&mut cmd, "sh", Duration::from_secs(30)).unwrap();
        assert!(m.status.success());
        assert_eq!((m.stdout.as_str(), m.stderr.as_str()), ("out\n", "err\n"));
        assert!(m.wall >= Duration::from_millis(100), "{:?}", m.wall);
        assert!(!m.timed_out);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn kills_at_the_timeout() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let m = run(&mut cmd, "sleep", Duration::from_millis(50)).unwrap();
        assert!(m.timed_out);
        assert!(!m.status.success());
        assert!(m.wall < Duration::from_secs(10), "{:?}", m.wall);
    }
}
