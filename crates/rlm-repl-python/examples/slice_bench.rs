//! Measures the CPython backend against a plain `python3` (issue 4, point 6): interpreter
//! start-up, loading a 100 MB context, and chunking it into 1,000 slices to build 1,000 prompts.
//!
//! ```text
//! cargo run --release -p rlm-repl-python --example slice_bench [-- <megabytes> <rounds>]
//! ```
//!
//! Prints the numbers; asserts nothing about time (performance goals are measured, not tested).

use std::error::Error;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rlm_core::{HostCall, HostReply, Repl, ReplConfig, ReplHost, ReplValue};
use rlm_repl_python::PythonReplFactory;

/// The code under test, identical in both runs: 1,000 slices, 1,000 prompts.
const SLICE: &str = "import time
_t = time.perf_counter()
n = 1000
size = len(context) // n
chunks = [context[i * size:(i + 1) * size] for i in range(n)]
prompts = [f'Summarize part {i + 1} of {n}:\\n{chunk}' for i, chunk in enumerate(chunks)]
_elapsed = time.perf_counter() - _t
print(len(prompts), sum(map(len, prompts)), _elapsed)
";

struct NoHost;

#[async_trait::async_trait]
impl ReplHost for NoHost {
    async fn call(&self, _: HostCall) -> HostReply {
        HostReply::Text("Error: no host in this benchmark".into())
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The in-Python time printed as the last field of `SLICE`'s output.
fn inner_time(stdout: &str) -> Result<Duration, Box<dyn Error>> {
    let secs: f64 = stdout
        .split_whitespace()
        .last()
        .ok_or("no output")?
        .parse()?;
    Ok(Duration::from_secs_f64(secs))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let megabytes: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let line = "2024-05-01T12:00:00Z INFO request served in 12 ms by worker 7 for tenant acme\n";
    let context = line.repeat(megabytes * 1_000_000 / line.len());
    println!("context: {} bytes; {rounds} rounds each", context.len());

    // Start-up of a whole session (directory, confined process, driver ready). The first one
    // also finds the interpreter (following pyenv's shim costs a process start).
    let factory = PythonReplFactory::new();
    let t = Instant::now();
    let first = factory.start(&ReplConfig::default()).await?;
    let first_start = t.elapsed();
    drop(first);
    let mut starts = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let repl = factory.start(&ReplConfig::default()).await?;
        starts.push(t.elapsed());
        drop(repl);
    }
    let mut repl = factory.start(&ReplConfig::default()).await?;
    let iso = repl.isolation().ok_or("no isolation report")?.clone();
    let python = iso.python.clone();
    let mut bare = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let status = Command::new(&python)
            .args(["-I", "-S", "-c", "pass"])
            .status()?;
        bare.push(t.elapsed());
        if !status.success() {
            return Err("python3 failed".into());
        }
    }
    println!(
        "interpreter: {} (CPython {})",
        python.display(),
        iso.python_version
    );
    println!(
        "isolation: uid {} dropped={} netns={} pidns={}",
        iso.uid, iso.dropped_privileges, iso.network_namespace, iso.pid_namespace
    );
    println!(
        "start-up: session {} (median of {rounds}; the first, which also finds the interpreter, {}); \
         bare `python3 -I -S -c pass` {}",
        ms(median(starts)),
        ms(first_start),
        ms(median(bare))
    );

    // Loading the context: one file write on the host, one mmap + decode in the child.
    let t = Instant::now();
    repl.set_variable("context", ReplValue::Str(context.clone()))
        .await?;
    let load = t.elapsed();
    let out = repl
        .execute("print(len(context))", Arc::new(NoHost))
        .await?;
    println!(
        "load {} MB context: {} (then len(context) = {})",
        megabytes,
        ms(load),
        out.stdout.trim()
    );

    // The slicing code in the REPL.
    let mut repl_inner = Vec::new();
    let mut repl_wall = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let out = repl.execute(SLICE, Arc::new(NoHost)).await?;
        repl_wall.push(t.elapsed());
        if let Some(error) = out.error {
            return Err(error.into());
        }
        repl_inner.push(inner_time(&out.stdout)?);
    }

    // The same code in a plain python3 that reads the context from a file.
    let path = std::env::temp_dir().join(format!("rlm-slice-bench-{}.txt", std::process::id()));
    let t = Instant::now();
    std::fs::write(&path, &context)?;
    let write = t.elapsed();
    let t = Instant::now();
    let out = Command::new(&python)
        .args(["-I", "-S", "-c", &format!("import time; t = time.perf_counter(); c = open({:?}, encoding='utf-8').read(); print(time.perf_counter() - t)", path.to_string_lossy())])
        .output()?;
    let plain_load = inner_time(&String::from_utf8_lossy(&out.stdout))?;
    println!(
        "for comparison: writing the file {}, plain python3 reading it {} ({} with start-up)",
        ms(write),
        ms(plain_load),
        ms(t.elapsed())
    );
    // One process running the code `rounds` times, like the REPL session does.
    let plain_code = format!(
        "context = open({:?}, encoding='utf-8').read()\nfor _round in range({rounds}):\n{}",
        path.to_string_lossy(),
        SLICE
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    let out = Command::new(&python)
        .args(["-I", "-S", "-c", &plain_code])
        .output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    let plain_inner = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(inner_time)
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::remove_file(&path)?;
    println!(
        "first round (fresh memory): REPL {}, plain python3 {}",
        ms(repl_inner[0]),
        ms(plain_inner[0])
    );
    let (r, p) = (median(repl_inner), median(plain_inner));
    println!(
        "1,000 slices + 1,000 prompts: REPL {} in Python ({} wall per execution), plain python3 {}; ratio {:.2}",
        ms(r),
        ms(median(repl_wall)),
        ms(p),
        r.as_secs_f64() / p.as_secs_f64()
    );
    Ok(())
}
