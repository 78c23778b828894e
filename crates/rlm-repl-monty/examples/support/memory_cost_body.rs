// Shared body of the `memory_cost` examples (included, not a module).

use std::sync::Arc;
use std::time::Instant;

use rlm_core::{HostCall, HostReply, Repl, ReplConfig, ReplHost, ReplValue};
use rlm_repl_monty::MontyRepl;

struct Instant0;

#[async_trait::async_trait]
impl ReplHost for Instant0 {
    async fn call(&self, _call: HostCall) -> HostReply {
        HostReply::Text("ok".to_string())
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn best<F: FnMut() -> f64>(mut f: F) -> f64 {
    (0..5).map(|_| f()).fold(f64::MAX, f64::min)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        println!("allocator installed: {}", rlm_repl_monty::memory::allocator_installed());
        let host: Arc<dyn ReplHost> = Arc::new(Instant0);
        let startup = best(|| {
            let t = Instant::now();
            for _ in 0..100 {
                drop(MontyRepl::new(ReplConfig::default()).unwrap());
            }
            t.elapsed().as_secs_f64() * 1e6 / 100.0
        });
        println!("start-up: {startup:.0} us per session");
        let mut r = MontyRepl::new(ReplConfig::default()).unwrap();
        let mut calls = 0.0;
        for _ in 0..5 {
            let t = Instant::now();
            r.execute("for i in range(5000):\n    llm_query('p')", host.clone()).await.unwrap();
            let us = t.elapsed().as_secs_f64() * 1e6 / 5000.0;
            calls = if calls == 0.0 { us } else { f64::min(calls, us) };
        }
        println!("host call: {calls:.1} us per call");
        let mut compute = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let out = r
                .execute("l = [str(i) * 2 for i in range(300000)]\nd = {s: len(s) for s in l}\nl = None\nd = None", host.clone())
                .await
                .unwrap();
            assert_eq!(out.error, None);
            compute = compute.min(t.elapsed().as_secs_f64() * 1e3);
        }
        println!("allocation-heavy block: {compute:.1} ms");
        let mut ctx = f64::MAX;
        for _ in 0..3 {
            let context = "0123456789abcdefghi\n".repeat(5_000_000);
            let mut s = MontyRepl::new(ReplConfig::default()).unwrap();
            let t = Instant::now();
            s.set_variable("context", ReplValue::Str(context)).await.unwrap();
            let out = s
                .execute("n = len(context)\nhead = context[:1000]\nparts = context[:10_000_000].split('\\n')\nprint(n, len(parts))", host.clone())
                .await
                .unwrap();
            assert_eq!(out.error, None);
            ctx = ctx.min(t.elapsed().as_secs_f64() * 1e3);
        }
        println!("100 MB context (set + len + slice + split of 10 MB): {ctx:.1} ms");
        println!("peak RSS before the bomb: {:.0} MiB", peak_rss_mib());
        if !rlm_repl_monty::memory::allocator_installed() {
            println!("bomb skipped: without SessionAllocator it would take the machine's memory");
            return;
        }
        let mut b = MontyRepl::new(ReplConfig::default()).unwrap();
        let t = Instant::now();
        let out = b
            .execute("chunks = []\nwhile True:\n    chunks.append('x' * 100_000_000)", host.clone())
            .await
            .unwrap();
        println!(
            "bomb: {:.0} ms, error: {:?}, session usage {:.0} MiB, peak RSS {:.0} MiB (cap {} MiB)",
            t.elapsed().as_secs_f64() * 1e3,
            out.error.as_deref().map(|e| e.lines().last().unwrap_or_default().to_string()),
            b.memory_usage() as f64 / 1048576.0,
            peak_rss_mib(),
            ReplConfig::default().max_memory >> 20,
        );
    });
}
