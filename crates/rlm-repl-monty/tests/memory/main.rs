//! The per-session memory cap, in a test binary that installs [`SessionAllocator`] as its
//! global allocator (as the `rlm` binary does). Every test runs real Python through Monty.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use rlm_core::{Execution, HostCall, HostReply, Repl, ReplConfig, ReplHost, ReplValue};
use rlm_repl_monty::MontyRepl;
use rlm_repl_monty::memory::{self, SessionAllocator};

#[global_allocator]
static ALLOCATOR: SessionAllocator = SessionAllocator;

const MIB: usize = 1 << 20;

/// Answers `llm_query(p)` with `echo:p`.
struct Echo;

#[async_trait::async_trait]
impl ReplHost for Echo {
    async fn call(&self, call: HostCall) -> HostReply {
        match call {
            HostCall::LlmQuery { prompt, .. } => HostReply::Text(format!("echo:{prompt}")),
            other => HostReply::Text(format!("Error: {} is not available", other.function_name())),
        }
    }
}

fn capped(max_memory: usize) -> MontyRepl {
    MontyRepl::new(ReplConfig {
        max_memory,
        ..ReplConfig::default()
    })
    .unwrap()
}

async fn exec(repl: &mut MontyRepl, code: &str) -> Execution {
    repl.execute(code, Arc::new(Echo)).await.unwrap()
}

/// The loop of issue 11: append 100 MB strings until something gives.
const BOMB: &str = "chunks = []\nwhile True:\n    chunks.append('x' * 100_000_000)";

fn assert_memory_error(out: &Execution) {
    let error = out.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("MemoryError"),
        "expected MemoryError, got {out:?}"
    );
}

#[test]
fn the_allocator_is_installed() {
    assert!(memory::allocator_installed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appending_100_mb_strings_raises_memory_error_and_the_session_recovers() {
    let mut r = capped(1 << 30);
    let out = exec(&mut r, BOMB).await;
    assert_memory_error(&out);
    let held = r.memory_usage();
    assert!(
        held <= (1 << 30) + 16 * MIB,
        "{held} bytes held past the cap"
    );
    // What the block bound before the error is still there.
    let out = exec(&mut r, "print(len(chunks) > 5)").await;
    assert_eq!(out.stdout, "True\n", "{out:?}");
    // Freeing the list gives the memory back, and the session works as before.
    let out = exec(
        &mut r,
        "chunks = None\ns = 'y' * 200_000_000\nprint(len(s))",
    )
    .await;
    assert_eq!(out.error, None);
    assert_eq!(out.stdout, "200000000\n");
    exec(&mut r, "s = None").await;
    assert!(r.memory_usage() < 16 * MIB, "{} bytes", r.memory_usage());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gradual_growth_is_caught_too() {
    // Many small objects: no single allocation comes near the cap (the outer list grows by one
    // pointer per thousand strings), so only the session's meter can see the growth.
    let mut r = MontyRepl::new(ReplConfig {
        max_memory: 64 * MIB,
        execution_timeout: std::time::Duration::from_secs(20),
        ..ReplConfig::default()
    })
    .unwrap();
    let out = exec(
        &mut r,
        "items = []\nwhile True:\n    items.append([str(i) * 10 for i in range(1000)])",
    )
    .await;
    assert_memory_error(&out);
    assert!(r.memory_usage() < 80 * MIB, "{} bytes", r.memory_usage());
    let out = exec(&mut r, "items = None\nprint(sum(range(10)))").await;
    assert_eq!(out.error, None, "{out:?}");
    assert_eq!(out.stdout, "45\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_does_not_count_but_copies_of_it_do() {
    let mut r = capped(64 * MIB);
    let context = "abc\n".repeat(25 * MIB);
    r.set_variable("context", ReplValue::Str(context))
        .await
        .unwrap();
    assert!(r.memory_usage() < 8 * MIB, "{} bytes", r.memory_usage());
    let out = exec(&mut r, "print(len(context), context[:3])").await;
    assert_eq!(out.error, None, "{out:?}");
    assert_eq!(out.stdout, "104857600 abc\n");
    let out = exec(&mut r, "copy = context + '!'").await;
    assert_memory_error(&out);
    let out = exec(&mut r, "print(context.count('abc') > 0)").await;
    assert_eq!(out.stdout, "True\n", "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_sessions_bomb_does_not_disturb_another() {
    let mut bomb = capped(1 << 30);
    let mut worker = capped(1 << 30);
    let bombing = tokio::spawn(async move {
        let out = exec(&mut bomb, BOMB).await;
        (bomb, out)
    });
    let working = tokio::spawn(async move {
        // Normal work: build, transform and query data, with host calls in between, while the
        // other session fills its cap.
        let mut results = Vec::new();
        for round in 0..20 {
            let out = exec(
                &mut worker,
                &format!(
                    "words = [str(i) * 3 for i in range(20000)]\n\
                     total = sum(len(w) for w in words)\n\
                     print(total, llm_query('round {round}'), len(' '.join(words)))"
                ),
            )
            .await;
            results.push(out);
        }
        (worker, results)
    });
    let (bomb, out) = bombing.await.unwrap();
    let (worker, results) = working.await.unwrap();
    assert_memory_error(&out);
    for (round, out) in results.iter().enumerate() {
        assert_eq!(out.error, None, "round {round}: {out:?}");
        assert_eq!(out.stdout, format!("266670 echo:round {round} 286669\n"));
    }
    assert!(
        worker.memory_usage() < 64 * MIB,
        "{}",
        worker.memory_usage()
    );
    drop(bomb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_per_session_and_returns_when_freed() {
    let mut a = capped(1 << 30);
    let b = capped(1 << 30);
    let base_a = a.memory_usage();
    let base_b = b.memory_usage();
    assert!(base_a > 0 && base_a < 8 * MIB, "{base_a}");
    exec(&mut a, "big = 'z' * 50_000_000").await;
    assert!(a.memory_usage() >= base_a + 50_000_000);
    assert!(b.memory_usage() < base_b + MIB);
    // A value read back out of the session is the caller's; freeing it later credits `a`.
    let big = a.get_variable("big").await.unwrap();
    exec(&mut a, "big = None").await;
    drop(big);
    assert!(a.memory_usage() < base_a + 2 * MIB, "{}", a.memory_usage());
}

/// `set_variable` binds with the session's next operation (one trip to the blocking pool for
/// binding `context` and running the first block). A value the cap refuses fails that
/// operation with a conversion error, the value is released (the name is left as `None`) and
/// the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_the_cap_refuses_fails_the_next_operation_and_the_session_goes_on() {
    let mut r = capped(8 * MIB);
    let rows = ReplValue::List((0..1_000_000).map(ReplValue::Int).collect());
    r.set_variable("rows", rows).await.unwrap();
    match r.execute("print(len(rows))", Arc::new(Echo)).await {
        Err(rlm_core::ReplError::Conversion { message }) => {
            assert!(message.contains("MemoryError"), "{message}")
        }
        other => panic!("expected a conversion error, got {other:?}"),
    }
    assert!(r.memory_usage() < 4 * MIB, "{} bytes", r.memory_usage());
    // Released, not deleted: Monty has no `del`.
    let out = exec(&mut r, "print(rows)").await;
    assert_eq!(out.stdout, "None\n", "{out:?}");
    r.set_variable("small", ReplValue::Int(7)).await.unwrap();
    let names: Vec<String> = r
        .variables()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(names.contains(&"small".to_string()), "{names:?}");
    let out = exec(&mut r, "print(small * 6)").await;
    assert_eq!(out.stdout, "42\n", "{out:?}");
}
