//! One conformance suite for every REPL backend: the same cases, through `Arc<dyn ReplFactory>`,
//! against the embedded Monty interpreter and the OS-isolated CPython subprocess.
//!
//! A backend is added with one line at the bottom (`backend!(name => factory expression);`).
//! Where the backends legitimately differ (CPython keeps no state across a timeout; Monty cannot
//! be asked for a module's file), a case asserts only what both promise.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rlm_core::{
    Execution, FinalAnswer, HostCall, HostReply, Repl, ReplConfig, ReplError, ReplFactory,
    ReplHost, ReplValue, VariableInfo,
};

type Answer = dyn Fn(&HostCall) -> HostReply + Send + Sync;

/// A host that records every call and answers from a closure.
struct TestHost {
    calls: Mutex<Vec<HostCall>>,
    answer: Box<Answer>,
}

impl TestHost {
    fn new(answer: impl Fn(&HostCall) -> HostReply + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            calls: Mutex::new(Vec::new()),
            answer: Box::new(answer),
        })
    }

    /// `llm_query(p)` answers `echo:p`, `rlm_query(p)` answers `child:p`, per prompt for batches.
    fn echo() -> Arc<Self> {
        Self::new(|call| match call {
            HostCall::LlmQuery { prompt, .. } => HostReply::Text(format!("echo:{prompt}")),
            HostCall::RlmQuery { prompt, .. } => HostReply::Text(format!("child:{prompt}")),
            HostCall::LlmQueryBatched { prompts, .. } => {
                HostReply::Texts(prompts.iter().map(|p| format!("echo:{p}")).collect())
            }
            HostCall::RlmQueryBatched { prompts, .. } => {
                HostReply::Texts(prompts.iter().map(|p| format!("child:{p}")).collect())
            }
            HostCall::Tool { name, .. } => {
                HostReply::Raise(rlm_core::ToolError::new(format!("no tool {name}")))
            }
        })
    }

    fn calls(&self) -> Vec<HostCall> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl ReplHost for TestHost {
    async fn call(&self, call: HostCall) -> HostReply {
        self.calls.lock().unwrap().push(call.clone());
        (self.answer)(&call)
    }
}

type Factory = Arc<dyn ReplFactory>;

async fn repl(factory: &Factory) -> Box<dyn Repl> {
    repl_with(factory, ReplConfig::default()).await
}

async fn repl_with(factory: &Factory, config: ReplConfig) -> Box<dyn Repl> {
    factory.create(&config).await.unwrap()
}

fn quick(timeout_ms: u64) -> ReplConfig {
    ReplConfig {
        execution_timeout: Duration::from_millis(timeout_ms),
        ..ReplConfig::default()
    }
}

async fn exec(repl: &mut Box<dyn Repl>, code: &str) -> Execution {
    repl.execute(code, TestHost::echo()).await.unwrap()
}

/// Runs `code` and asserts it printed `expected` without an error.
async fn exec_ok(repl: &mut Box<dyn Repl>, code: &str, expected: &str) {
    let out = exec(repl, code).await;
    assert_eq!(out.error, None, "code:\n{code}");
    assert_eq!(out.stdout, expected, "code:\n{code}");
}

async fn check(factory: &Factory, code: &str, expected: &str) {
    exec_ok(&mut repl(factory).await, code, expected).await;
}

/// The last line of the error `code` raises in a fresh session.
async fn error_line(factory: &Factory, code: &str) -> String {
    let out = exec(&mut repl(factory).await, code).await;
    let error = out
        .error
        .unwrap_or_else(|| panic!("no error for:\n{code}\nstdout: {}", out.stdout));
    error.lines().last().unwrap_or_default().to_string()
}

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

fn var(name: &str, type_name: &str) -> VariableInfo {
    VariableInfo {
        name: name.into(),
        type_name: type_name.into(),
    }
}

/// The cases, each a function of the backend's factory.
mod cases {
    use super::*;

    pub async fn names_itself(f: Factory) {
        let mut r = repl(&f).await;
        assert_eq!(r.backend_name(), f.backend_name());
        assert!(
            f.capabilities().len() > 100,
            "capabilities describe the sandbox"
        );
        exec_ok(&mut r, "print(1 + 1)", "2\n").await;
    }

    pub async fn state_persists(f: Factory) {
        let mut r = repl(&f).await;
        exec_ok(&mut r, "x = 40\ndef add(a, b=2):\n    return a + b\nclass Box:\n    def __init__(self, v):\n        self.v = v", "").await;
        exec_ok(&mut r, "b = Box(add(x))\nprint(b.v)", "42\n").await;
        exec_ok(
            &mut r,
            "print(x, add(1, 1), type(b).__name__)",
            "40 2 Box\n",
        )
        .await;
    }

    pub async fn sessions_are_independent(f: Factory) {
        let (mut a, mut b) = (repl(&f).await, repl(&f).await);
        exec_ok(&mut a, "x = 'a'", "").await;
        let out = exec(&mut b, "print(x)").await;
        assert!(
            out.error
                .unwrap()
                .ends_with("NameError: name 'x' is not defined")
        );
    }

    pub async fn fresh_sessions_draw_different_random_numbers(f: Factory) {
        // A backend may start sessions from a copy of a prepared one; the copy must not share
        // the random state.
        let mut draws = std::collections::BTreeSet::new();
        for _ in 0..3 {
            let mut r = repl(&f).await;
            let out = exec(&mut r, "import random\nprint(random.random())").await;
            assert_eq!(out.error, None);
            draws.insert(out.stdout);
        }
        assert_eq!(draws.len(), 3, "{draws:?}");
    }

    pub async fn a_runtime_error_is_a_traceback_and_keeps_partial_state(f: Factory) {
        let mut r = repl(&f).await;
        exec_ok(&mut r, "a = 1", "").await;
        let out = exec(&mut r, "b = 2\nprint('before')\nc = 1 / 0\nd = 4").await;
        assert_eq!(out.stdout, "before\n");
        let error = out.error.unwrap();
        assert!(
            error.starts_with("Traceback (most recent call last):"),
            "{error}"
        );
        assert!(error.contains("line 3"), "{error}");
        assert!(
            error.ends_with("ZeroDivisionError: division by zero"),
            "{error}"
        );
        exec_ok(
            &mut r,
            "print(a, b)\nprint(\"'d':\" in SHOW_VARS())",
            "1 2\nFalse\n",
        )
        .await;
    }

    pub async fn a_syntax_error_is_reported_and_the_session_survives(f: Factory) {
        let mut r = repl(&f).await;
        exec_ok(&mut r, "keep = 'me'", "").await;
        let error = exec(&mut r, "print(keep\n").await.error.unwrap();
        assert!(error.contains("SyntaxError"), "{error}");
        assert!(error.contains("File \"<python-input-"), "{error}");
        assert!(
            exec(&mut r, "```python\nprint(1)")
                .await
                .error
                .unwrap()
                .contains("SyntaxError")
        );
        exec_ok(&mut r, "print(keep)", "me\n").await;
    }

    pub async fn an_error_in_an_earlier_function_shows_its_frame(f: Factory) {
        let mut r = repl(&f).await;
        exec_ok(&mut r, "def bad(x):\n    return x['missing']", "").await;
        let error = exec(&mut r, "bad({})").await.error.unwrap();
        assert!(error.contains("in bad"), "{error}");
        assert!(
            error.lines().last().unwrap().starts_with("KeyError: "),
            "{error}"
        );
    }

    pub async fn unknown_names_raise_name_error(f: Factory) {
        for (code, name) in [
            ("summarize('x')", "summarize"),
            ("x = undefined_thing", "undefined_thing"),
        ] {
            let line = error_line(&f, code).await;
            assert!(
                line.starts_with(&format!("NameError: name '{name}' is not defined")),
                "{line}"
            );
        }
        check(
            &f,
            "try:\n    nope()\nexcept NameError:\n    print('ok')",
            "ok\n",
        )
        .await;
    }

    pub async fn output_is_captured_per_execution(f: Factory) {
        let mut r = repl(&f).await;
        exec_ok(
            &mut r,
            "print('one')\nprint('a', 2, sep='-', end='!\\n')",
            "one\na-2!\n",
        )
        .await;
        exec_ok(&mut r, "print('two')", "two\n").await;
        exec_ok(&mut r, "x = 1", "").await;
    }

    pub async fn output_past_the_cap_is_dropped_and_the_code_goes_on(f: Factory) {
        let mut r = repl_with(
            &f,
            ReplConfig {
                max_output_bytes: 10,
                ..ReplConfig::default()
            },
        )
        .await;
        let out = exec(&mut r, "for i in range(100):\n    print(i)\ndone = True").await;
        assert_eq!(out.error, None);
        assert_eq!(out.stdout, "0\n1\n2\n3\n4\n");
        assert!(out.output_truncated);
        let out = exec(&mut r, "print(done)").await;
        assert_eq!(
            (out.stdout.as_str(), out.output_truncated),
            ("True\n", false)
        );
        let mut r = repl_with(
            &f,
            ReplConfig {
                max_output_bytes: 5,
                ..ReplConfig::default()
            },
        )
        .await;
        let out = exec(
            &mut r,
            "print('abc', end='')\nprint('déf', end='')\nprint('more')",
        )
        .await;
        assert_eq!(
            (out.stdout.as_str(), out.output_truncated),
            ("abcd", true),
            "cut at a character boundary"
        );
    }

    pub async fn sub_calls_reach_the_host_with_their_arguments(f: Factory) {
        let host = TestHost::echo();
        let mut r = repl(&f).await;
        let code = "a = llm_query('p1')\nb = llm_query('p2', model='small')\nc = llm_query(prompt='p3', model=None)\n\
                    d = llm_query_batched(['x', 'y'])\ne = rlm_query('q', 'big')\nf = rlm_query_batched(('u',), model='m')\n\
                    print(a, b, c)\nprint(d, e, f)";
        let out = r.execute(code, host.clone()).await.unwrap();
        assert_eq!(out.error, None);
        assert_eq!(
            out.stdout,
            "echo:p1 echo:p2 echo:p3\n['echo:x', 'echo:y'] child:q ['child:u']\n"
        );
        assert_eq!(out.host_calls, 6);
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

    pub async fn sub_calls_work_in_functions_loops_comprehensions_and_by_reference(f: Factory) {
        check(
            &f,
            "def ask(c):\n    return llm_query(f'summarize {c}')\nres = [ask(c) for c in ['a', 'b']]\nfor c in 'xy':\n    res.append(llm_query(c))\nprint(res)",
            "['echo:summarize a', 'echo:summarize b', 'echo:x', 'echo:y']\n",
        )
        .await;
        check(
            &f,
            "g = llm_query\nh = rlm_query_batched\nprint(g('a'), h(['b']))",
            "echo:a ['child:b']\n",
        )
        .await;
    }

    pub async fn bad_sub_call_arguments_raise_type_error(f: Factory) {
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
                "llm_query('a', 'b', 'c')",
                "TypeError: llm_query() takes from 1 to 2 positional arguments but 3 were given",
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
            assert_eq!(error_line(&f, call).await, expected, "{call}");
        }
        let host = TestHost::echo();
        let out = repl(&f)
            .await
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

    pub async fn an_empty_batch_needs_no_host_call(f: Factory) {
        let host = TestHost::echo();
        let out = repl(&f)
            .await
            .execute("print(llm_query_batched([]))", host.clone())
            .await
            .unwrap();
        assert_eq!((out.stdout.as_str(), out.host_calls), ("[]\n", 0));
        assert!(host.calls().is_empty());
    }

    pub async fn error_replies_are_strings(f: Factory) {
        let host = TestHost::new(|_| HostReply::Text("Error: model unavailable".into()));
        let out = repl(&f)
            .await
            .execute("r = llm_query('x')\nprint(r.startswith('Error:'))", host)
            .await
            .unwrap();
        assert_eq!(out.stdout, "True\n");
    }

    pub async fn batched_calls_resolve_in_order(f: Factory) {
        let host = TestHost::new(|call| match call {
            HostCall::LlmQueryBatched { prompts, .. } => {
                HostReply::Texts(prompts.iter().map(|p| format!("answer to {p}")).collect())
            }
            _ => HostReply::Text("Error: unexpected".into()),
        });
        let code = "prompts = [f'p{i}' for i in range(200)]\nanswers = llm_query_batched(prompts)\n\
                    print(len(answers), all(a == f'answer to p{i}' for i, a in enumerate(answers)), answers[199])";
        let out = repl(&f).await.execute(code, host).await.unwrap();
        assert_eq!(
            (out.stdout.as_str(), out.host_calls),
            ("200 True answer to p199\n", 1)
        );
    }

    pub async fn the_host_call_cap_raises_runtime_error(f: Factory) {
        let host = TestHost::echo();
        let mut r = repl_with(
            &f,
            ReplConfig {
                max_host_calls: 3,
                ..ReplConfig::default()
            },
        )
        .await;
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
        let out = r.execute("print(llm_query('fresh'))", host).await.unwrap();
        assert_eq!(
            (out.stdout.as_str(), out.host_calls),
            ("echo:fresh\n", 1),
            "the cap is per execution"
        );
    }

    pub async fn thousands_of_sub_calls_fit_the_default_cap(f: Factory) {
        let host = TestHost::new(|call| match call {
            HostCall::LlmQuery { prompt, .. } => HostReply::Text(prompt.len().to_string()),
            _ => HostReply::Text("Error: unexpected".into()),
        });
        let code = "chunks = ['x' * (i % 7) for i in range(2000)]\nsizes = [int(llm_query(c)) for c in chunks]\nprint(sum(sizes))";
        let out = repl(&f).await.execute(code, host.clone()).await.unwrap();
        let expected: usize = (0..2000).map(|i| i % 7).sum();
        assert_eq!((out.error, out.stdout), (None, format!("{expected}\n")));
        assert_eq!((out.host_calls, host.calls().len()), (2000, 2000));
    }

    pub async fn final_stops_the_block_with_str_of_its_value(f: Factory) {
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
            ("print('no finish')", "no finish\n", None),
        ];
        for (code, stdout, expected) in cases {
            let out = exec(&mut repl(&f).await, code).await;
            assert_eq!(out.error, None, "{code}");
            assert_eq!(
                (out.stdout.as_str(), &out.final_answer),
                (*stdout, expected),
                "code:\n{code}"
            );
        }
    }

    pub async fn a_finish_stands_even_inside_except_base_exception(f: Factory) {
        // Monty's stop is uncatchable; CPython's handler runs, but the finish was already taken.
        let code = "try:\n    FINAL('x')\nexcept BaseException:\n    pass\nFINAL('second')";
        let out = exec(&mut repl(&f).await, code).await;
        assert_eq!((out.error, out.final_answer), (None, final_("x")));
    }

    pub async fn the_session_stays_usable_after_a_finish(f: Factory) {
        let mut r = repl(&f).await;
        let out = exec(&mut r, "kept = 'yes'\nFINAL('done')\nlost = 1").await;
        assert_eq!(out.final_answer, final_("done"));
        exec_ok(
            &mut r,
            "print(kept)\nprint(\"'lost':\" in SHOW_VARS())",
            "yes\nFalse\n",
        )
        .await;
        assert_eq!(
            exec(&mut r, "FINAL('again')").await.final_answer,
            final_("again")
        );
    }

    pub async fn final_var_finishes_with_a_variable_or_a_value(f: Factory) {
        let mut r = repl(&f).await;
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
        assert_eq!(
            exec(&mut r, "x = [1, 2]\nFINAL_VAR(x)").await.final_answer,
            final_var(None, "[1, 2]")
        );
        assert_eq!(
            exec(&mut r, "FINAL_VAR(7)").await.final_answer,
            final_var(None, "7")
        );
    }

    pub async fn final_var_of_a_missing_name_does_not_finish_and_says_why(f: Factory) {
        let mut r = repl(&f).await;
        r.set_variable("context", "c".into()).await.unwrap();
        exec_ok(&mut r, "a = 1", "").await;
        let msg = "Error: Variable 'missing' not found. Available variables: ['a', 'answer', 'context']. \
                   You must create and assign a variable BEFORE calling FINAL_VAR on it.";
        let out = exec(
            &mut r,
            "r = FINAL_VAR('missing')\nprint('continued', r == printed)\n",
        )
        .await;
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
        assert_eq!(
            exec(&mut r, "FINAL_VAR('later')").await.final_answer,
            final_var(Some("later"), "2")
        );
        let out = exec(&mut r, "FINAL_VAR('llm_query')").await;
        assert_eq!(
            out.final_answer, None,
            "runtime functions are not variables"
        );
    }

    pub async fn show_vars_sees_the_live_state(f: Factory) {
        let mut r = repl(&f).await;
        r.set_variable("context", "c".into()).await.unwrap();
        exec_ok(&mut r, "import json\nn = 1", "").await;
        exec_ok(
            &mut r,
            "m = 'new'\ndef helper():\n    return 1\nprint(SHOW_VARS())",
            "Available variables: {'answer': 'dict', 'context': 'str', 'helper': 'function', 'm': 'str', 'n': 'int'}\n",
        )
        .await;
    }

    pub async fn the_answer_dict_finishes_after_the_block_and_is_reset(f: Factory) {
        let mut r = repl(&f).await;
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
        assert_eq!(
            exec(&mut r, "answer = 'not a dict'").await.final_answer,
            None
        );
        exec_ok(&mut r, "print(answer)", "{'content': '', 'ready': False}\n").await;
        let out = exec(
            &mut r,
            "answer['content'] = 'dict'\nanswer['ready'] = True\nFINAL('final')",
        )
        .await;
        assert_eq!(
            out.final_answer,
            final_("final"),
            "FINAL wins over the answer dict"
        );
        exec_ok(&mut r, "print(answer['ready'])", "False\n").await;
    }

    pub async fn rebinding_runtime_names_lasts_only_until_the_block_ends(f: Factory) {
        let host = TestHost::echo();
        let mut r = repl(&f).await;
        let rebind = "llm_query = lambda p: 'fake'\nFINAL = print\ndef SHOW_VARS():\n    return 'mine'\n\
                      FINAL_VAR = None\n__rlm_vars = None\nprint(llm_query('x'))\nFINAL('printed, not finished')";
        let out = r.execute(rebind, host.clone()).await.unwrap();
        assert_eq!(
            (out.error, out.stdout.as_str(), out.final_answer),
            (None, "fake\nprinted, not finished\n", None)
        );
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

    pub async fn an_endless_loop_hits_the_time_limit_and_the_next_execution_works(f: Factory) {
        let mut r = repl_with(&f, quick(300)).await;
        let started = std::time::Instant::now();
        let out = exec(
            &mut r,
            "try:\n    while True:\n        pass\nexcept BaseException:\n    print('caught')",
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(out.stdout, "");
        assert!(out.error.unwrap().contains("TimeoutError"));
        exec_ok(&mut r, "print(sum(range(1000)))", "499500\n").await;
        assert!(
            exec(&mut r, "while True: pass")
                .await
                .error
                .unwrap()
                .contains("TimeoutError")
        );
        exec_ok(&mut r, "print('again')", "again\n").await;
    }

    pub async fn output_before_a_timeout_is_kept(f: Factory) {
        let mut r = repl_with(&f, quick(300)).await;
        let out = exec(&mut r, "print('before')\nwhile True:\n    pass").await;
        assert_eq!(out.stdout, "before\n");
        assert!(out.error.unwrap().contains("TimeoutError"));
    }

    pub async fn time_waiting_on_the_host_does_not_count(f: Factory) {
        let host = TestHost::new(|_| {
            std::thread::sleep(Duration::from_millis(60));
            HostReply::Text("slow".into())
        });
        let mut r = repl_with(&f, quick(150)).await;
        let out = r
            .execute("print([llm_query(str(i)) for i in range(4)])", host)
            .await
            .unwrap();
        assert_eq!(
            (out.error, out.stdout.as_str()),
            (None, "['slow', 'slow', 'slow', 'slow']\n")
        );
    }

    pub async fn injected_values_arrive_as_python_values_and_read_back(f: Factory) {
        let s = |t: &str| ReplValue::Str(t.into());
        let cases: Vec<(ReplValue, &str)> = vec![
            (ReplValue::None, "NoneType None"),
            (ReplValue::Bool(true), "bool True"),
            (ReplValue::Int(-5), "int -5"),
            (ReplValue::Float(1.5), "float 1.5"),
            (s("it's"), "str \"it's\""),
            (ReplValue::Bytes(b"a\x00".to_vec()), "bytes b'a\\x00'"),
            (
                ReplValue::List(vec![ReplValue::Int(1), s("x")]),
                "list [1, 'x']",
            ),
            (ReplValue::Tuple(vec![ReplValue::Int(1)]), "tuple (1,)"),
            (
                ReplValue::Dict(vec![(s("k"), ReplValue::List(vec![ReplValue::None]))]),
                "dict {'k': [None]}",
            ),
        ];
        let mut r = repl(&f).await;
        for (value, expected) in cases {
            r.set_variable("v", value.clone()).await.unwrap();
            exec_ok(
                &mut r,
                "print(type(v).__name__, repr(v))",
                &format!("{expected}\n"),
            )
            .await;
            assert_eq!(r.get_variable("v").await.unwrap(), Some(value));
        }
        r.set_variable("context", s("first")).await.unwrap();
        r.set_variable("context", s("second")).await.unwrap();
        exec_ok(&mut r, "print(context)", "second\n").await;
    }

    pub async fn values_read_back_are_plain_data_or_other(f: Factory) {
        let mut r = repl(&f).await;
        exec_ok(
            &mut r,
            "a = {'n': 42, 'items': [1, 2.5, None, True], 't': ('x', b'y')}\nb = {1, 2}\nc = 2 ** 70\nimport re\nclass P:\n    pass\np = P()",
            "",
        )
        .await;
        let a = r.get_variable("a").await.unwrap().unwrap();
        assert_eq!(
            a.repr(),
            "{'n': 42, 'items': [1, 2.5, None, True], 't': ('x', b'y')}"
        );
        let other = |type_name: &str, repr: &str| {
            Some(ReplValue::Other {
                type_name: type_name.into(),
                repr: repr.into(),
            })
        };
        assert_eq!(r.get_variable("b").await.unwrap(), other("set", "{1, 2}"));
        assert_eq!(
            r.get_variable("c").await.unwrap(),
            other("int", "1180591620717411303424")
        );
        let Some(ReplValue::Other { type_name, .. }) = r.get_variable("re").await.unwrap() else {
            panic!("re")
        };
        assert_eq!(type_name, "module");
        let Some(ReplValue::Other { type_name, .. }) = r.get_variable("p").await.unwrap() else {
            panic!("p")
        };
        assert_eq!(type_name, "P");
        assert_eq!(r.get_variable("nothing_here").await.unwrap(), None);
    }

    pub async fn reserved_and_invalid_names_are_refused(f: Factory) {
        let mut r = repl(&f).await;
        let others = ["answer", "__rlm_vars", "1x", "a b", "class", ""];
        for name in rlm_core::HOST_FUNCTIONS.iter().chain(&others) {
            let err = r.set_variable(name, ReplValue::Int(1)).await.unwrap_err();
            assert!(
                matches!(err, ReplError::InvalidName { .. }),
                "{name}: {err:?}"
            );
        }
        assert!(matches!(
            r.get_variable("no way").await,
            Err(ReplError::InvalidName { .. })
        ));
        let err = r
            .set_variable(
                "x",
                ReplValue::Other {
                    type_name: "set".into(),
                    repr: "{1}".into(),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ReplError::Conversion { .. }));
        exec_ok(&mut r, "print(answer)", "{'content': '', 'ready': False}\n").await;
    }

    pub async fn variables_lists_user_state_only(f: Factory) {
        let mut r = repl(&f).await;
        r.set_variable("context", "abc".into()).await.unwrap();
        exec_ok(&mut r, "import re\nn = 3\n_hidden = 1\ndef f():\n    local = 1\n    return local\nsum = 0\nlen([1])", "").await;
        assert_eq!(
            r.variables().await.unwrap(),
            [
                var("answer", "dict"),
                var("context", "str"),
                var("f", "function"),
                var("n", "int"),
                var("sum", "int")
            ]
        );
    }

    pub async fn executions_report_duration_and_host_calls(f: Factory) {
        let mut r = repl(&f).await;
        let out = exec(
            &mut r,
            "a = llm_query('x')\nb = llm_query_batched(['y', 'z'])\nc = rlm_query('w')",
        )
        .await;
        assert_eq!(out.host_calls, 3);
        assert!(out.duration > Duration::ZERO);
        assert_eq!(exec(&mut r, "pass").await.host_calls, 0);
    }

    pub async fn a_ten_megabyte_context_works_across_executions(f: Factory) {
        let line = "2024-01-01 INFO request served in 12ms\n";
        let big: String = line.repeat(10 * 1024 * 1024 / line.len());
        let len = big.chars().count();
        let lines = big.lines().count();
        let mut r = repl(&f).await;
        r.set_variable("context", ReplValue::Str(big))
            .await
            .unwrap();
        for i in 0..5 {
            exec_ok(
                &mut r,
                &format!("n{i} = len(context)\nprint(n{i}, context[:4])"),
                &format!("{len} 2024\n"),
            )
            .await;
        }
        exec_ok(
            &mut r,
            "print(context.count('INFO'), 'ERROR' in context)",
            &format!("{lines} False\n"),
        )
        .await;
        let vars = r.variables().await.unwrap();
        assert!(vars.contains(&var("context", "str")));
    }

    /// Several files or a directory: `context` is a dict from relative path to text, in the
    /// order given (sorted by the loader), with non-ASCII keys and texts and a large document.
    pub async fn a_dict_of_documents_is_the_context(f: Factory) {
        let s = |text: &str| ReplValue::Str(text.into());
        let big = "line of a log\n".repeat(200_000);
        let docs = vec![
            (s("README.md"), s("# héllo\n")),
            (s("logs/big.log"), s(&big)),
            (s("src/main.rs"), s("fn main() {}\n")),
            (s("src/ünï.rs"), s("// ünïcode\n")),
        ];
        let mut r = repl(&f).await;
        r.set_variable("context", ReplValue::Dict(docs))
            .await
            .unwrap();
        exec_ok(
            &mut r,
            "print(type(context).__name__, list(context))",
            "dict ['README.md', 'logs/big.log', 'src/main.rs', 'src/ünï.rs']\n",
        )
        .await;
        let total = 8 + big.len() + 13 + 11;
        exec_ok(
            &mut r,
            "print(context['README.md'].strip(), len(context['logs/big.log']), context['src/ünï.rs'][3:10])\n\
             print(sum(len(t) for t in context.values()), [p for p in context if p.startswith('src/')])",
            &format!(
                "# héllo {} ünïcode\n{total} ['src/main.rs', 'src/ünï.rs']\n",
                big.len()
            ),
        )
        .await;
        let vars = r.variables().await.unwrap();
        assert!(vars.contains(&var("context", "dict")));
    }

    pub async fn a_session_moves_between_tasks(f: Factory) {
        let mut r = repl(&f).await;
        exec_ok(&mut r, "n = 1", "").await;
        let mut r = tokio::spawn(async move {
            exec_ok(&mut r, "n += 1", "").await;
            r
        })
        .await
        .unwrap();
        exec_ok(&mut r, "print(n)", "2\n").await;
    }
}

/// Generates one `#[tokio::test]` per case for a backend.
macro_rules! backend_tests {
    ($factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let factory: crate::Factory = std::sync::Arc::new($factory);
                crate::cases::$case(factory).await;
            }
        )*
    };
}

/// Every case of the suite, applied to one backend.
macro_rules! backend {
    ($name:ident => $factory:expr) => {
        mod $name {
            backend_tests!(
                $factory;
                names_itself,
                state_persists,
                sessions_are_independent,
                fresh_sessions_draw_different_random_numbers,
                a_runtime_error_is_a_traceback_and_keeps_partial_state,
                a_syntax_error_is_reported_and_the_session_survives,
                an_error_in_an_earlier_function_shows_its_frame,
                unknown_names_raise_name_error,
                output_is_captured_per_execution,
                output_past_the_cap_is_dropped_and_the_code_goes_on,
                sub_calls_reach_the_host_with_their_arguments,
                sub_calls_work_in_functions_loops_comprehensions_and_by_reference,
                bad_sub_call_arguments_raise_type_error,
                an_empty_batch_needs_no_host_call,
                error_replies_are_strings,
                batched_calls_resolve_in_order,
                the_host_call_cap_raises_runtime_error,
                thousands_of_sub_calls_fit_the_default_cap,
                final_stops_the_block_with_str_of_its_value,
                a_finish_stands_even_inside_except_base_exception,
                the_session_stays_usable_after_a_finish,
                final_var_finishes_with_a_variable_or_a_value,
                final_var_of_a_missing_name_does_not_finish_and_says_why,
                show_vars_sees_the_live_state,
                the_answer_dict_finishes_after_the_block_and_is_reset,
                rebinding_runtime_names_lasts_only_until_the_block_ends,
                an_endless_loop_hits_the_time_limit_and_the_next_execution_works,
                output_before_a_timeout_is_kept,
                time_waiting_on_the_host_does_not_count,
                injected_values_arrive_as_python_values_and_read_back,
                values_read_back_are_plain_data_or_other,
                reserved_and_invalid_names_are_refused,
                variables_lists_user_state_only,
                executions_report_duration_and_host_calls,
                a_ten_megabyte_context_works_across_executions,
                a_dict_of_documents_is_the_context,
                a_session_moves_between_tasks,
            );
        }
    };
}

// One line per backend.
backend!(monty => rlm_repl_monty::MontyReplFactory::new());
backend!(python => rlm_repl_python::PythonReplFactory::new());
