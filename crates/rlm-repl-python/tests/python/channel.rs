//! The framed channel: caps on every message, and code that writes to the descriptors.

use rlm_core::{Repl, ReplConfig, ReplError, ReplValue};
use rlm_repl_python::PythonOptions;

use crate::support::{exec, exec_ok, outcome, repl, start};

fn small_frames() -> PythonOptions {
    PythonOptions {
        max_frame_bytes: 1 << 20,
        ..PythonOptions::default()
    }
}

#[tokio::test]
async fn oversized_messages_are_errors_and_the_session_survives() {
    let mut r = start(ReplConfig::default(), small_frames()).await;
    let call = outcome(&mut r, "llm_query('x' * 2_000_000)").await;
    assert!(
        call.starts_with("ValueError: llm_query() arguments are too large to send: 20000"),
        "{call}"
    );
    assert!(call.ends_with(" bytes (the limit is 1048576)"), "{call}");
    let fin = exec(&mut r, "FINAL('y' * 2_000_000)").await;
    assert_eq!(fin.final_answer, None);
    let error = fin.error.unwrap();
    assert!(
        error.contains("ValueError: the final answer is too large to send: 20000"),
        "{error}"
    );
    exec_ok(&mut r, "big = 'z' * 2_000_000", "").await;
    let err = r.get_variable("big").await.unwrap_err();
    assert!(
        matches!(err, ReplError::Backend { .. }) && err.to_string().contains("too large to send"),
        "{err}"
    );
    let code = format!("x = '{}'", "c".repeat(2_000_000));
    let out = exec(&mut r, &code).await;
    assert!(
        out.error
            .unwrap()
            .starts_with("ValueError: the code block cannot be sent: frame of")
    );
    exec_ok(&mut r, "print(len(big))", "2000000\n").await;
    // Injected values travel by file, not by frame: any size loads.
    r.set_variable("context", ReplValue::Str("w".repeat(3_000_000)))
        .await
        .unwrap();
    exec_ok(&mut r, "print(len(context))", "3000000\n").await;
}

#[tokio::test]
async fn raw_writes_to_descriptors_one_and_two_do_not_reach_the_channel() {
    let mut r = repl().await;
    let out = exec(&mut r, "import os, sys\nos.write(1, b'\\x00\\x00\\x00\\x05junk!')\nos.write(2, b'noise')\nos.system('echo from a shell')\nsys.__stdout__.write('dunder')\nprint('printed')").await;
    assert_eq!((out.error, out.stdout.as_str()), (None, "printed\n"));
    exec_ok(&mut r, "print('fine')", "fine\n").await;
}

#[tokio::test]
async fn a_forged_or_oversized_frame_breaks_only_that_interpreter() {
    let mut r = repl().await;
    r.set_variable("context", ReplValue::Str("ctx".into()))
        .await
        .unwrap();
    for forged in [
        "import os\nos.write(llm_query.__globals__['_OUT'], b'\\xff\\xff\\xff\\xff')\nimport time\ntime.sleep(5)",
        "import os\nos.write(llm_query.__globals__['_OUT'], b'\\x00\\x00\\x00\\x03{x}')\nimport time\ntime.sleep(5)",
        "import os\nos.write(llm_query.__globals__['_OUT'], b'\\x00\\x00\\x00\\x07\"ready\"')\nimport time\ntime.sleep(5)",
    ] {
        let out = exec(&mut r, forged).await;
        let error = out.error.unwrap();
        assert!(
            error.starts_with("RuntimeError: the Python process broke the REPL protocol"),
            "{error}"
        );
        exec_ok(&mut r, "print(context)", "ctx\n").await;
    }
}

#[tokio::test]
async fn unicode_and_lone_surrogates_cross_the_channel() {
    let mut r = repl().await;
    exec_ok(&mut r, "print('héllo 🌍')", "héllo 🌍\n").await;
    exec_ok(&mut r, "print('a\\ud800b')", "a?b\n").await;
    r.set_variable("text", ReplValue::Str("naïve 🌍".into()))
        .await
        .unwrap();
    assert_eq!(
        r.get_variable("text").await.unwrap(),
        Some(ReplValue::Str("naïve 🌍".into()))
    );
    exec_ok(&mut r, "print(len(text))", "7\n").await;
}
