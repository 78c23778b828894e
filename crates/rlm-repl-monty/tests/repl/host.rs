//! Sub-calls through the ReplHost, OS access, unknown names.

use std::sync::Arc;
use std::time::Duration;

use rlm_core::{FinalAnswer, HostCall, HostReply, Repl, ReplHost};

use crate::support::{TestHost, check, error_line, exec, exec_ok, repl};

#[tokio::test]
async fn sub_calls_reach_the_host_with_their_arguments() {
    let host = TestHost::echo();
    let mut r = repl();
    let code = "a = llm_query('p1')\nb = llm_query('p2', model='small')\nc = llm_query(prompt='p3', model=None)\n\
                d = llm_query_batched(['x', 'y'])\ne = rlm_query('q', 'big')\nf = rlm_query_batched(('u',), model='m')\n\
                print(a, b, c)\nprint(d, e, f)";
    let out = r.execute(code, host.clone()).await.unwrap();
    assert_eq!(out.error, None);
    assert_eq!(
        out.stdout,
        "echo:p1 echo:p2 echo:p3\n['echo:x', 'echo:y'] child:q ['child:u']\n"
    );
    let s = |t: &str| t.to_string();
    assert_eq!(
        host.calls(),
        [
            HostCall::LlmQuery {
                prompt: s("p1"),
                model: None
            },
            HostCall::LlmQuery {
                prompt: s("p2"),
                model: Some(s("small"))
            },
            HostCall::LlmQuery {
                prompt: s("p3"),
                model: None
            },
            HostCall::LlmQueryBatched {
                prompts: vec![s("x"), s("y")],
                model: None
            },
            HostCall::RlmQuery {
                prompt: s("q"),
                model: Some(s("big"))
            },
            HostCall::RlmQueryBatched {
                prompts: vec![s("u")],
                model: Some(s("m"))
            },
        ]
    );
}

#[tokio::test]
async fn sub_calls_work_inside_functions_loops_and_comprehensions() {
    check(
        "def ask(c):\n    return llm_query(f'summarize {c}')\nres = [ask(c) for c in ['a', 'b']]\nfor c in 'xy':\n    res.append(llm_query(c))\nprint(res)",
        "['echo:summarize a', 'echo:summarize b', 'echo:x', 'echo:y']\n",
    )
    .await;
}

#[tokio::test]
async fn a_bare_reference_to_a_host_function_is_callable() {
    check(
        "f = llm_query\ng = rlm_query_batched\nprint(f('a'), g(['b']))",
        "echo:a ['child:b']\n",
    )
    .await;
}

#[tokio::test]
async fn bad_arguments_raise_a_type_error_the_code_can_catch() {
    let cases = [
        (
            "llm_query()",
            "TypeError: llm_query() missing 1 required positional argument: 'prompt'",
        ),
        (
            "llm_query(42)",
            "TypeError: llm_query() argument 'prompt' must be str, not int",
        ),
        (
            "llm_query('a', model=3)",
            "TypeError: llm_query() argument 'model' must be str or None, not int",
        ),
        (
            "llm_query('a', temperature=0)",
            "TypeError: llm_query() got an unexpected keyword argument 'temperature'",
        ),
        (
            "llm_query_batched('one prompt')",
            "TypeError: llm_query_batched() argument 'prompts' must be a list of str, not str",
        ),
        (
            "rlm_query_batched(['a', 1])",
            "TypeError: rlm_query_batched() argument 'prompts' item 1 must be str, not int",
        ),
    ];
    for (call, expected) in cases {
        assert_eq!(error_line(call).await, expected);
    }
    let host = TestHost::echo();
    let out = repl()
        .execute(
            "try:\n    llm_query(1)\nexcept TypeError as e:\n    print('caught', e)",
            host.clone(),
        )
        .await
        .unwrap();
    assert_eq!(
        out.stdout,
        "caught llm_query() argument 'prompt' must be str, not int\n"
    );
    assert!(host.calls().is_empty());
}

#[tokio::test]
async fn an_empty_batch_needs_no_host_call() {
    let host = TestHost::echo();
    let out = repl()
        .execute("print(llm_query_batched([]))", host.clone())
        .await
        .unwrap();
    assert_eq!((out.stdout.as_str(), out.host_calls), ("[]\n", 0));
    assert!(host.calls().is_empty());
}

#[tokio::test]
async fn error_replies_are_strings_not_exceptions() {
    let host = TestHost::new(|_| HostReply::Text("Error: model unavailable".into()));
    let out = repl()
        .execute("r = llm_query('x')\nprint(r.startswith('Error:'))", host)
        .await
        .unwrap();
    assert_eq!(out.stdout, "True\n");
}

#[tokio::test]
async fn unknown_functions_and_names_raise_name_error() {
    assert_eq!(
        error_line("summarize('x')").await,
        "NameError: name 'summarize' is not defined"
    );
    assert_eq!(
        error_line("x = undefined_thing").await,
        "NameError: name 'undefined_thing' is not defined"
    );
    check(
        "try:\n    nope()\nexcept NameError:\n    print('ok')",
        "ok\n",
    )
    .await;
}

#[tokio::test]
async fn os_access_is_denied() {
    let denied = "PermissionError: operating-system access is disabled in the sandbox";
    for code in [
        "open('/etc/passwd').read()",
        "import os\nos.getenv('HOME')",
        "from pathlib import Path\nPath('/etc/hostname').read_text()",
        "from pathlib import Path\nPath('/tmp/x').write_text('x')",
        "from datetime import datetime\ndatetime.now()",
    ] {
        assert_eq!(error_line(code).await, denied, "{code}");
    }
    check(
        "try:\n    open('x')\nexcept PermissionError as e:\n    print(e)",
        "operating-system access is disabled in the sandbox\n",
    )
    .await;
}

/// A host that answers batched calls concurrently, each after a delay that decreases with the
/// index, so later prompts finish first.
struct SlowBatchHost;

#[async_trait::async_trait]
impl ReplHost for SlowBatchHost {
    async fn call(&self, call: HostCall) -> HostReply {
        let HostCall::LlmQueryBatched { prompts, .. } = call else {
            return HostReply::Text("Error: unexpected".into());
        };
        let n = prompts.len() as u64;
        let tasks = prompts.into_iter().enumerate().map(|(i, p)| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis((n - i as u64) % 20)).await;
                format!("answer to {p}")
            })
        });
        let answers = futures::future::join_all(tasks).await;
        HostReply::Texts(answers.into_iter().map(|a| a.unwrap()).collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_batched_calls_resolve_in_order() {
    let mut r = repl();
    let code = "prompts = [f'p{i}' for i in range(200)]\nanswers = llm_query_batched(prompts)\n\
                print(len(answers), all(a == f'answer to p{i}' for i, a in enumerate(answers)), answers[199])";
    let out = r.execute(code, Arc::new(SlowBatchHost)).await.unwrap();
    assert_eq!(out.error, None);
    assert_eq!(out.stdout, "200 True answer to p199\n");
    assert_eq!(out.host_calls, 1);
}

#[tokio::test]
async fn the_session_survives_a_cancelled_execution_waiting_on_the_host() {
    struct Never;
    #[async_trait::async_trait]
    impl ReplHost for Never {
        async fn call(&self, _: HostCall) -> HostReply {
            std::future::pending().await
        }
    }
    let mut r = repl();
    exec_ok(&mut r, "before = 1", "").await;
    // The block rebinds a runtime name and readies `answer` before hanging on the host.
    let code = "during = 2\nFINAL = None\nanswer['content'] = 'stale'\nanswer['ready'] = True\n\
                x = llm_query('hang')\nafter = 3";
    let cancelled =
        tokio::time::timeout(Duration::from_millis(100), r.execute(code, Arc::new(Never))).await;
    assert!(cancelled.is_err(), "the call should hang");
    let out = exec(
        &mut r,
        "print(before, during)\nprint(\"'after':\" in SHOW_VARS())",
    )
    .await;
    assert_eq!(out.stdout, "1 2\nFalse\n");
    assert_eq!(
        out.final_answer, None,
        "the interrupted block's answer must not leak"
    );
    let out = exec(&mut r, "print(llm_query('again'))\nFINAL('restored')").await;
    assert_eq!(out.stdout, "echo:again\n");
    assert_eq!(
        out.final_answer,
        Some(FinalAnswer::Final {
            answer: "restored".into()
        })
    );
}
