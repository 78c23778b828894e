//! Timeouts, crashes, cancellation and drop: the process group dies, the session carries on
//! in a fresh interpreter with the injected values loaded again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rlm_core::{FinalAnswer, HostCall, HostReply, Repl, ReplConfig, ReplHost, ReplValue};
use rlm_repl_python::PythonOptions;

use crate::support::{Echo, exec, exec_ok, gone_within, outcome, quick, repl, start};

#[tokio::test]
async fn a_timeout_kills_the_group_reports_lost_state_and_reloads_the_context() {
    let mut r = start(quick(300), PythonOptions::default()).await;
    r.set_variable("context", ReplValue::Str("abcdef".into()))
        .await
        .unwrap();
    exec_ok(&mut r, "kept = 1", "").await;
    let pid = r.isolation().unwrap().pid;
    let out = exec(&mut r, "import subprocess\nsubprocess.Popen(['sleep', '1000'])\nprint('started')\nwhile True:\n    pass").await;
    assert_eq!(out.stdout, "started\n", "output before the kill is kept");
    let error = out.error.unwrap();
    assert!(
        error.starts_with("TimeoutError: time limit exceeded: the block ran longer than 300ms"),
        "{error}"
    );
    assert!(error.contains("variables, functions and imports from earlier blocks are lost (`context` will be loaded again)"), "{error}");
    assert!(
        gone_within(pid, Duration::from_secs(2)).await,
        "the interpreter {pid} survived"
    );
    exec_ok(
        &mut r,
        "print(len(context), 'kept' in globals())",
        "6 False\n",
    )
    .await;
    assert_ne!(r.isolation().unwrap().pid, pid, "a fresh interpreter");
}

#[tokio::test]
async fn a_crash_is_reported_with_its_last_words_and_the_next_block_runs() {
    let mut r = repl().await;
    r.set_variable("context", ReplValue::Str("ctx".into()))
        .await
        .unwrap();
    let out = exec(
        &mut r,
        "import os\nos.write(2, b'famous last words\\n')\nos._exit(5)",
    )
    .await;
    let error = out.error.unwrap();
    assert!(
        error.starts_with("RuntimeError: the Python process exited with status 5"),
        "{error}"
    );
    assert!(error.contains("famous last words"), "{error}");
    exec_ok(&mut r, "print(context)", "ctx\n").await;
    let out = exec(&mut r, "import ctypes\nctypes.string_at(0)").await;
    assert!(
        out.error
            .unwrap()
            .contains("was killed by signal 11 (SIGSEGV)")
    );
    exec_ok(&mut r, "print('again')", "again\n").await;
}

#[tokio::test]
async fn cancelling_an_execution_kills_the_process_and_the_next_one_says_so() {
    let mut r = repl().await;
    r.set_variable("context", ReplValue::Str("ctx".into()))
        .await
        .unwrap();
    exec_ok(&mut r, "before = 1", "").await;
    let pid = r.isolation().unwrap().pid;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        r.execute("while True:\n    pass", Arc::new(Echo)),
    )
    .await;
    assert!(cancelled.is_err());
    assert!(
        gone_within(pid, Duration::from_secs(2)).await,
        "the interpreter survived the cancel"
    );
    let out = exec(&mut r, "print(context, 'before' in globals())").await;
    assert_eq!(out.error, None);
    assert_eq!(
        out.stdout,
        "[rlm] The previous execution was cancelled, so the Python process was restarted: variables, functions \
         and imports from earlier blocks are lost (injected variables such as `context` were loaded again).\nctx False\n"
    );
    exec_ok(&mut r, "print('no note now')", "no note now\n").await;
}

#[tokio::test]
async fn cancelling_while_a_host_call_waits_also_recovers() {
    struct Never;
    #[async_trait::async_trait]
    impl ReplHost for Never {
        async fn call(&self, _: HostCall) -> HostReply {
            std::future::pending().await
        }
    }
    let mut r = repl().await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        r.execute("x = llm_query('hang')", Arc::new(Never)),
    )
    .await;
    assert!(cancelled.is_err());
    let out = exec(&mut r, "print(llm_query('back'))").await;
    assert!(out.stdout.ends_with("echo:back\n"), "{}", out.stdout);
}

#[tokio::test]
async fn dropping_the_session_kills_every_process_of_it() {
    let mut r = repl().await;
    let pid = r.isolation().unwrap().pid;
    // The host's pid of the child (inside a PID namespace `p.pid` is the namespace's).
    let child = outcome(&mut r, "import os, subprocess\np = subprocess.Popen(['sleep', '1000'])\nme = os.readlink('/proc/self')\nprint(open(f'/proc/{me}/task/{me}/children').read().split()[0])").await;
    let child: u32 = child.parse().unwrap();
    drop(r);
    assert!(gone_within(pid, Duration::from_secs(2)).await);
    assert!(
        gone_within(child, Duration::from_secs(2)).await,
        "the code's child {child} survived"
    );
}

#[tokio::test]
async fn a_caught_finish_that_keeps_running_is_stopped_and_still_finishes() {
    let mut r = start(quick(20_000), PythonOptions::default()).await;
    let started = Instant::now();
    let out = exec(&mut r, "try:\n    FINAL('first')\nexcept BaseException:\n    print('handler ran')\nwhile True:\n    pass").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        out.final_answer,
        Some(FinalAnswer::Final {
            answer: "first".into()
        })
    );
    assert_eq!(out.error, None);
    assert_eq!(out.stdout, "handler ran\n");
    let out = exec(&mut r, "print('usable')").await;
    assert!(
        out.stdout
            .starts_with("[rlm] The previous block kept running after it finished"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with("\nusable\n"), "{}", out.stdout);
}

#[tokio::test]
async fn threads_share_the_channel_safely() {
    let mut r = repl().await;
    let code = "import threading\nresults = {}\ndef work(i):\n    results[i] = llm_query(str(i))\n\
                ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]\n\
                [t.start() for t in ts]\n[t.join() for t in ts]\nprint(sorted(results.values()))";
    let out = exec(&mut r, code).await;
    assert_eq!(out.error, None);
    assert_eq!(out.host_calls, 8);
    assert_eq!(
        out.stdout,
        format!(
            "{:?}\n",
            (0..8).map(|i| format!("echo:{i}")).collect::<Vec<_>>()
        )
        .replace('"', "'")
    );
}

#[tokio::test]
async fn forked_children_never_answer_for_the_session() {
    let mut r = repl().await;
    let code = "import os\npid = os.fork()\nif pid == 0:\n    print('child')\nelse:\n    os.waitpid(pid, 0)\n    print('parent')";
    exec_ok(&mut r, code, "parent\n").await;
    let code = "import os\npid = os.fork()\nif pid == 0:\n    llm_query('from the child')\nos.waitpid(pid, 0) if pid else None\nprint('ok')";
    let out = exec(&mut r, code).await;
    assert_eq!((out.stdout.as_str(), out.host_calls), ("ok\n", 0));
    exec_ok(&mut r, "print(llm_query('parent'))", "echo:parent\n").await;
}

#[tokio::test]
async fn a_context_larger_than_the_memory_limit_still_loads() {
    let options = PythonOptions {
        memory_limit: Some(96 << 20),
        ..PythonOptions::default()
    };
    let mut r = start(ReplConfig::default(), options).await;
    let big = "x".repeat(60 << 20);
    r.set_variable("context", ReplValue::Str(big.clone()))
        .await
        .unwrap();
    exec_ok(&mut r, "print(len(context))", &format!("{}\n", 60 << 20)).await;
    // After code has run, a second large value raises the running interpreter's limit.
    r.set_variable("second", ReplValue::Str(big)).await.unwrap();
    exec_ok(
        &mut r,
        "print(len(second) + len(context))",
        &format!("{}\n", 120 << 20),
    )
    .await;
}

#[tokio::test]
async fn json_values_and_bytes_are_reloaded_after_a_restart() {
    let mut r = start(quick(300), PythonOptions::default()).await;
    r.set_variable(
        "docs",
        ReplValue::List(vec![ReplValue::Str("a".into()), ReplValue::Int(2)]),
    )
    .await
    .unwrap();
    r.set_variable("raw", ReplValue::Bytes(vec![0, 255]))
        .await
        .unwrap();
    assert!(exec(&mut r, "while True: pass").await.error.is_some());
    exec_ok(&mut r, "print(docs, raw)", "['a', 2] b'\\x00\\xff'\n").await;
    let config = r.config().clone();
    assert_eq!(
        config,
        ReplConfig {
            execution_timeout: Duration::from_millis(300),
            ..ReplConfig::default()
        }
    );
}

#[tokio::test]
async fn the_sandbox_dies_with_its_host() {
    use std::io::{BufRead as _, BufReader};
    if std::env::var_os("RLM_PYTHON_HOST_CHILD").is_some() {
        // The host: start a session busy in a loop, report its pids, wait to be killed.
        let mut r = start(quick(60_000), PythonOptions::default()).await;
        let iso = r.isolation().unwrap().clone();
        println!(
            "PIDS {} {} {}",
            iso.process_group,
            iso.pid,
            r.work_dir().parent().unwrap().display()
        );
        let _ = r.execute("while True:\n    pass", Arc::new(Echo)).await;
        return;
    }
    let mut host = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "lifecycle::the_sandbox_dies_with_its_host",
            "--exact",
            "--nocapture",
        ])
        .env("RLM_PYTHON_HOST_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = host.stdout.take().unwrap();
    let line = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("PIDS "))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().skip(1).collect();
    let pids: Vec<u32> = fields[..2].iter().map(|p| p.parse().unwrap()).collect();
    let dir = std::path::PathBuf::from(fields[2]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    host.kill().unwrap();
    host.wait().unwrap();
    for pid in pids {
        assert!(
            gone_within(pid, Duration::from_secs(3)).await,
            "{pid} outlived its host"
        );
    }
    // A killed host cannot remove its session directory (the next host process sweeps it).
    assert!(dir.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
