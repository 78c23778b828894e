//! New sessions start from a kept copy of a scaffolded interpreter (the backend's session
//! template). A copy must behave as a session built from scratch, and a session of another
//! configuration must not start from it.

use rlm_core::ReplConfig;

use crate::support::{exec, exec_ok, repl, repl_with, variable_names, with_timeout};

#[tokio::test]
async fn a_copied_session_has_the_whole_runtime_and_nothing_of_its_elder() {
    let mut first = repl();
    exec_ok(&mut first, "kept = 1\nanswer['content'] = 'x'", "").await;
    for _ in 0..3 {
        let mut r = repl();
        let missing = exec(&mut r, "print(kept)").await;
        assert!(
            missing
                .error
                .unwrap()
                .ends_with("NameError: name 'kept' is not defined")
        );
        exec_ok(&mut r, "print(answer)", "{'content': '', 'ready': False}\n").await;
        exec_ok(&mut r, "print(llm_query('q'))", "echo:q\n").await;
        let names = variable_names(&mut r).await;
        assert!(names.is_empty() || names == ["answer"], "{names:?}");
    }
}

#[tokio::test]
async fn sessions_of_another_time_limit_keep_their_own() {
    // The short-limit session is made first, so its template exists when the long one starts;
    // the long one's loop (hundreds of milliseconds in a debug build) would stop at the short
    // limit if it had started from that template.
    let mut short = repl_with(with_timeout(50));
    let out = exec(&mut short, "while True: pass").await;
    assert!(out.error.unwrap().contains("TimeoutError"));
    let mut long = repl_with(with_timeout(600_000));
    exec_ok(
        &mut long,
        "n = 0\nfor i in range(3_000_000):\n    n += 1\nprint(n)",
        "3000000\n",
    )
    .await;
}

#[tokio::test]
async fn sessions_without_tools_do_not_get_another_configuration_s_tools() {
    let with_tools = ReplConfig {
        tools: vec!["lookup".to_string()],
        ..ReplConfig::default()
    };
    let _tooled = repl_with(with_tools.clone());
    let _tooled_again = repl_with(with_tools);
    let mut plain = repl();
    let out = exec(&mut plain, "lookup('x')").await;
    assert!(
        out.error
            .unwrap()
            .ends_with("NameError: name 'lookup' is not defined")
    );
}
