//! FINAL, FINAL_VAR, SHOW_VARS, the answer dict, and scaffold protection.

use rlm_core::{FinalAnswer, HostCall, Repl};

use crate::support::{TestHost, exec, exec_ok, repl};

fn final_(answer: &str) -> Option<FinalAnswer> {
    Some(FinalAnswer::Final {
        answer: answer.into(),
    })
}

fn final_var(name: Option<&str>, answer: &str) -> Option<FinalAnswer> {
    Some(FinalAnswer::FinalVar {
        name: name.map(str::to_string),
        answer: answer.into(),
    })
}

/// Runs `code` in a fresh session; returns (stdout, finish) and asserts no error.
async fn finish(code: &str) -> (String, Option<FinalAnswer>) {
    let out = exec(&mut repl(), code).await;
    assert_eq!(out.error, None, "code:\n{code}");
    (out.stdout, out.final_answer)
}

#[tokio::test]
async fn final_stops_the_block_with_str_of_its_value() {
    let cases: &[(&str, &str, Option<FinalAnswer>)] = &[
        (
            "print('a')\nFINAL('the answer')\nprint('b')",
            "a\n",
            final_("the answer"),
        ),
        ("FINAL(42)", "", final_("42")),
        ("FINAL([1, 'x', None])", "", final_("[1, 'x', None]")),
        (
            "class A:\n    def __str__(self):\n        return 'custom'\nFINAL(A())",
            "",
            final_("custom"),
        ),
        (
            "def go():\n    for i in range(10):\n        if i == 3:\n            FINAL(i)\ngo()\nprint('no')",
            "",
            final_("3"),
        ),
        (
            "try:\n    FINAL('x')\nexcept BaseException:\n    print('caught')\nfinally:\n    print('finally')",
            "",
            final_("x"),
        ),
        ("print('no finish')", "no finish\n", None),
    ];
    for (code, stdout, expected) in cases {
        assert_eq!(
            finish(code).await,
            (stdout.to_string(), expected.clone()),
            "code:\n{code}"
        );
    }
}

#[tokio::test]
async fn the_session_stays_usable_after_a_finish() {
    let mut r = repl();
    let out = exec(&mut r, "kept = 'yes'\nFINAL('done')\nlost = 1").await;
    assert_eq!(out.final_answer, final_("done"));
    exec_ok(
        &mut r,
        "print(kept)\nprint(\"'lost':\" in SHOW_VARS())",
        "yes\nFalse\n",
    )
    .await;
    let out = exec(&mut r, "FINAL('again')").await;
    assert_eq!(out.final_answer, final_("again"));
}

#[tokio::test]
async fn final_var_finishes_with_an_existing_variable() {
    let mut r = repl();
    exec_ok(&mut r, "earlier = {'n': 1}", "").await;
    let out = exec(&mut r, "FINAL_VAR('earlier')\nprint('not reached')").await;
    assert_eq!(
        (out.stdout.as_str(), out.final_answer),
        ("", final_var(Some("earlier"), "{'n': 1}"))
    );
    let out = exec(&mut r, "result = 'made ' + 'here'\nFINAL_VAR(\"result\")").await;
    assert_eq!(out.final_answer, final_var(Some("result"), "made here"));
    let out = exec(&mut r, "FINAL_VAR(' \"result\" ')").await;
    assert_eq!(out.final_answer, final_var(Some("result"), "made here"));
    let out = exec(
        &mut r,
        "def wrap():\n    inner = 'local'\n    FINAL_VAR('result')\nwrap()",
    )
    .await;
    assert_eq!(out.final_answer, final_var(Some("result"), "made here"));
}

#[tokio::test]
async fn final_var_with_a_non_string_uses_the_value() {
    assert_eq!(
        finish("x = [1, 2]\nFINAL_VAR(x)").await.1,
        final_var(None, "[1, 2]")
    );
    assert_eq!(finish("FINAL_VAR(7)").await.1, final_var(None, "7"));
}

#[tokio::test]
async fn final_var_of_a_missing_name_does_not_finish_and_says_why() {
    let mut r = repl();
    r.set_variable("context", "c".into()).await.unwrap();
    exec_ok(&mut r, "a = 1", "").await;
    let msg = "Error: Variable 'missing' not found. Available variables: ['a', 'answer', 'context']. \
               You must create and assign a variable BEFORE calling FINAL_VAR on it.";
    let out = exec(
        &mut r,
        "r = FINAL_VAR('missing')\nprint('continued', r == printed)\n",
    )
    .await;
    // `printed` is not defined: the block continues past FINAL_VAR and fails on the next line.
    assert_eq!(out.final_answer, None);
    assert_eq!(out.stdout, format!("{msg}\n"));
    assert!(
        out.error
            .unwrap()
            .contains("NameError: name 'printed' is not defined")
    );
    let out = exec(&mut r, "r = FINAL_VAR('later')\nlater = 2\nprint(r.startswith(\"Error: Variable 'later' not found\"))").await;
    assert_eq!(out.final_answer, None);
    assert!(out.stdout.ends_with("\nTrue\n"), "{}", out.stdout);
    let out = exec(&mut r, "FINAL_VAR('not an identifier')").await;
    assert_eq!(out.final_answer, None);
    assert!(
        out.stdout
            .starts_with("Error: Variable 'not an identifier' not found.")
    );
    // `later` now exists.
    assert_eq!(
        exec(&mut r, "FINAL_VAR('later')").await.final_answer,
        final_var(Some("later"), "2")
    );
}

#[tokio::test]
async fn show_vars_sees_the_live_state_mid_block() {
    let mut r = repl();
    r.set_variable("context", "c".into()).await.unwrap();
    exec_ok(&mut r, "import json\nn = 1", "").await;
    exec_ok(
        &mut r,
        "m = 'new'\ndef helper():\n    return 1\nprint(SHOW_VARS())",
        "Available variables: {'answer': 'dict', 'context': 'str', 'helper': 'function', 'm': 'str', 'n': 'int'}\n",
    )
    .await;
}

#[tokio::test]
async fn the_answer_dict_finishes_after_the_block_and_is_reset() {
    let mut r = repl();
    let out = exec(&mut r, "answer['content'] = 'part one'\nprint('working')").await;
    assert_eq!(out.final_answer, None);
    let out = exec(
        &mut r,
        "answer['content'] += ', part two'\nanswer['ready'] = True\nprint('done')",
    )
    .await;
    assert_eq!(out.stdout, "done\n");
    assert_eq!(
        out.final_answer,
        Some(FinalAnswer::AnswerDict {
            answer: "part one, part two".into()
        })
    );
    exec_ok(&mut r, "print(answer)", "{'content': '', 'ready': False}\n").await;
    let out = exec(&mut r, "answer = {'content': 99, 'ready': 1}").await;
    assert_eq!(
        out.final_answer,
        Some(FinalAnswer::AnswerDict {
            answer: "99".into()
        })
    );
    let out = exec(&mut r, "answer = 'not a dict'").await;
    assert_eq!(out.final_answer, None);
    exec_ok(&mut r, "print(answer)", "{'content': '', 'ready': False}\n").await;
}

/// `answer["ready"]` is judged by Python's truth, whether the runtime reads it from the heap
/// (a plain dict with a bool, None or int flag) or asks Python (anything else).
#[tokio::test]
async fn the_ready_flag_follows_python_truth() {
    let mut r = repl();
    for (code, finishes) in [
        ("answer['ready'] = 0", false),
        ("answer['ready'] = None", false),
        ("answer = {'content': 'no flag'}", false),
        ("answer['ready'] = ''", false),
        ("answer['ready'] = []", false),
        ("answer['ready'] = 0.0", false),
        ("answer['ready'] = 2", true),
        ("answer['ready'] = 'yes'", true),
        ("answer['ready'] = [0]", true),
        ("answer['ready'] = 0.5", true),
    ] {
        let out = exec(&mut r, &format!("answer['content'] = 'c'\n{code}")).await;
        assert_eq!(out.error, None, "{code}");
        assert_eq!(out.final_answer.is_some(), finishes, "{code}");
        exec_ok(&mut r, "answer = {'content': '', 'ready': False}", "").await;
    }
    // Not a plain dict: reset, never finished.
    let out = exec(
        &mut r,
        "import collections\nanswer = collections.defaultdict(int)\nanswer['ready'] = True",
    )
    .await;
    assert_eq!(out.final_answer, None);
    exec_ok(&mut r, "print(answer)", "{'content': '', 'ready': False}\n").await;
}

#[tokio::test]
async fn final_wins_over_the_answer_dict() {
    let mut r = repl();
    let out = exec(
        &mut r,
        "answer['content'] = 'dict'\nanswer['ready'] = True\nFINAL('final')",
    )
    .await;
    assert_eq!(out.final_answer, final_("final"));
    exec_ok(&mut r, "print(answer['ready'])", "False\n").await;
}

#[tokio::test]
async fn rebinding_runtime_names_lasts_only_until_the_block_ends() {
    let host = TestHost::echo();
    let mut r = repl();
    let rebind = "llm_query = lambda p: 'fake'\nFINAL = print\ndef SHOW_VARS():\n    return 'mine'\n\
                  FINAL_VAR = None\n__rlm_vars = None\nprint(llm_query('x'))\nFINAL('printed, not finished')";
    let out = r.execute(rebind, host.clone()).await.unwrap();
    assert_eq!(out.error, None);
    assert_eq!(out.stdout, "fake\nprinted, not finished\n");
    assert_eq!(out.final_answer, None);
    assert!(host.calls().is_empty());

    let out = r
        .execute(
            "x = 5\nprint(llm_query('real'))\nprint(SHOW_VARS())",
            host.clone(),
        )
        .await
        .unwrap();
    assert_eq!(out.error, None);
    assert_eq!(
        out.stdout,
        "echo:real\nAvailable variables: {'answer': 'dict', 'x': 'int'}\n"
    );
    assert_eq!(
        host.calls(),
        [HostCall::LlmQuery {
            prompt: "real".into(),
            model: None
        }]
    );
    assert_eq!(
        exec(&mut r, "FINAL_VAR('x')").await.final_answer,
        final_var(Some("x"), "5")
    );
    assert_eq!(
        exec(&mut r, "for FINAL in range(2): pass\nFINAL")
            .await
            .error,
        None
    );
    assert_eq!(exec(&mut r, "FINAL('ok')").await.final_answer, final_("ok"));
}
