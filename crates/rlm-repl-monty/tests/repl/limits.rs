//! Time limit, host-call cap, and sessions shared across threads.

use std::time::Duration;

use rlm_core::{HostCall, HostReply, Repl, ReplConfig, ReplError};

use crate::support::{TestHost, exec, exec_ok, repl, repl_with, with_timeout};

#[tokio::test]
async fn an_endless_loop_times_out_uncatchably_and_the_next_execution_works() {
    let mut r = repl_with(with_timeout(200));
    exec_ok(&mut r, "state = 'kept'", "").await;
    let out = exec(
        &mut r,
        "try:\n    while True:\n        pass\nexcept BaseException:\n    print('caught')",
    )
    .await;
    assert_eq!(out.stdout, "");
    let error = out.error.unwrap();
    assert!(
        error.contains("TimeoutError: time limit exceeded"),
        "{error}"
    );
    // The budget is per execution: each of these would fail if it were cumulative.
    for _ in 0..3 {
        exec_ok(&mut r, "print(state)", "kept\n").await;
    }
    let again = exec(&mut r, "while True: pass").await;
    assert!(again.error.unwrap().contains("TimeoutError"));
    exec_ok(&mut r, "print(sum(range(1000)))", "499500\n").await;
}

#[tokio::test]
async fn time_waiting_on_the_host_does_not_count() {
    let host = TestHost::new(|_| {
        std::thread::sleep(Duration::from_millis(60));
        HostReply::Text("slow".into())
    });
    let mut r = repl_with(with_timeout(100));
    let out = r
        .execute("print([llm_query(str(i)) for i in range(3)])", host)
        .await
        .unwrap();
    assert_eq!(out.error, None);
    assert_eq!(out.stdout, "['slow', 'slow', 'slow']\n");
}

#[tokio::test]
async fn five_thousand_sub_calls_fit_the_default_cap() {
    let host = TestHost::new(|call| match call {
        HostCall::LlmQuery { prompt, .. } => HostReply::Text(prompt.len().to_string()),
        _ => HostReply::Text("Error: unexpected".into()),
    });
    let mut r = repl();
    let code = "chunks = ['x' * (i % 7) for i in range(5000)]\nsizes = [int(llm_query(c)) for c in chunks]\nprint(sum(sizes))";
    let out = r.execute(code, host.clone()).await.unwrap();
    assert_eq!(out.error, None);
    let expected: usize = (0..5000).map(|i| i % 7).sum();
    assert_eq!(out.stdout, format!("{expected}\n"));
    assert_eq!(out.host_calls, 5000);
    assert_eq!(host.calls().len(), 5000);
}

#[tokio::test]
async fn past_the_host_call_cap_sub_calls_raise_runtime_error() {
    let host = TestHost::echo();
    let mut r = repl_with(ReplConfig {
        max_host_calls: 3,
        ..ReplConfig::default()
    });
    let out = r
        .execute(
            "got = []\nfor i in range(5):\n    got.append(llm_query(str(i)))",
            host.clone(),
        )
        .await
        .unwrap();
    assert_eq!(out.host_calls, 3);
    let error = out.error.unwrap();
    assert!(
        error.ends_with("RuntimeError: host-call limit reached: an execution may make at most 3 llm_query/rlm_query calls"),
        "{error}"
    );
    exec_ok(&mut r, "print(got)", "['echo:0', 'echo:1', 'echo:2']\n").await;
    // The cap is per execution.
    let out = r.execute("print(llm_query('fresh'))", host).await.unwrap();
    assert_eq!((out.stdout.as_str(), out.host_calls), ("echo:fresh\n", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cancelled_while_running_comes_back_when_the_step_ends() {
    let mut r = repl_with(with_timeout(1500));
    exec_ok(&mut r, "kept = 1", "").await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        r.execute("while True: pass", TestHost::echo()),
    )
    .await;
    assert!(cancelled.is_err());
    let busy = r
        .execute("print(kept)", TestHost::echo())
        .await
        .unwrap_err();
    assert!(matches!(busy, ReplError::Backend { .. }), "{busy:?}");
    // The abandoned step stops at its time limit and gives the session back.
    let mut back = None;
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(out) = r.execute("print(kept)", TestHost::echo()).await {
            back = Some(out);
            break;
        }
    }
    assert_eq!(back.expect("the session never came back").stdout, "1\n");
}

/// A session dropped while its block computes (a server client that disconnected mid-step)
/// stops the block at its next checkpoint: with a one-thread blocking pool, another session
/// runs at once instead of waiting out the dropped block's hour-long time limit.
#[test]
fn dropping_a_session_mid_block_stops_the_block_and_frees_its_thread() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let hour = ReplConfig {
            execution_timeout: Duration::from_secs(3600),
            ..ReplConfig::default()
        };
        let mut dropped = repl_with(hour.clone());
        let abandoned = tokio::time::timeout(
            Duration::from_millis(100),
            dropped.execute("while True: pass", TestHost::echo()),
        )
        .await;
        assert!(abandoned.is_err(), "the loop cannot finish");
        drop(dropped);
        let mut other = repl_with(hour);
        let out = tokio::time::timeout(
            Duration::from_secs(120),
            other.execute("print('free')", TestHost::echo()),
        )
        .await
        .expect("the blocking thread is still held by the dropped session's loop")
        .unwrap();
        assert_eq!(out.stdout, "free\n");
    });
    runtime.shutdown_background();
}

#[test]
fn outside_a_tokio_runtime_the_backend_errors_instead_of_panicking() {
    let mut r = repl();
    let err = futures::executor::block_on(r.execute("print(1)", TestHost::echo())).unwrap_err();
    assert!(matches!(err, ReplError::Backend { .. }), "{err:?}");
    // Nothing was lost: the check happens before the interpreter is touched.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let out = rt
        .block_on(r.execute("print(1)", TestHost::echo()))
        .unwrap();
    assert_eq!(out.stdout, "1\n");
}
