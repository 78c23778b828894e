//! The RLM loop end to end, in process: a scripted model, the real Monty REPL, the real runner.
//! Ports the intent of OpenEnv's `TestLocalRLMRunner` and the official library's sub-call and
//! batching tests, plus the finish rules of `docs/design.md` §2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rlm_core::{CompletionRequest, LanguageModel, ReplValue, RunEvent, RunOutcomeKind};
use rlm_core::{Sampling, SubcallCallbacks};
use rlm_limits::BackendLimits;
use rlm_repl_monty::MontyReplFactory;
use rlm_runner::{Models, RunError, RunResult, Runner, RunnerConfig};
use rlm_testkit::ScriptedModel;
use rlm_tests::{Call, classify, repl};

type Script = dyn Fn(Call) -> String + Send + Sync;

fn model(script: impl Fn(Call) -> String + Send + Sync + 'static) -> Arc<ScriptedModel> {
    let script: Arc<Script> = Arc::new(script);
    Arc::new(ScriptedModel::from_fn(
        "test-model",
        move |req: &CompletionRequest| script(classify(req)),
    ))
}

fn runner(model: Arc<ScriptedModel>, config: RunnerConfig) -> Runner {
    let m: Arc<dyn LanguageModel> = model;
    Runner::new(Models::new(m), Arc::new(MontyReplFactory::new()), config).unwrap()
}

fn config(backend: BackendLimits) -> RunnerConfig {
    RunnerConfig {
        backend,
        ..RunnerConfig::default()
    }
}

async fn run(
    script: impl Fn(Call) -> String + Send + Sync + 'static,
    config: RunnerConfig,
    context: &str,
) -> RunResult {
    runner(model(script), config)
        .run(ReplValue::from(context), "the question")
        .await
}

fn turn(call: &Call) -> usize {
    match call {
        Call::Turn { turn, .. } => *turn,
        Call::Plain { .. } => usize::MAX,
    }
}

#[tokio::test]
async fn final_in_code_finishes() {
    let r = run(
        |_| repl("x = 6 * 7\nFINAL(x)"),
        RunnerConfig::default(),
        "ctx",
    )
    .await;
    assert_eq!(r.answer(), "42");
    assert_eq!(r.kind(), RunOutcomeKind::Finished);
    assert_eq!(r.iterations, 1);
}

#[tokio::test]
async fn needle_search_over_context() {
    let context = format!(
        "{}NEEDLE=7731{}",
        "hay ".repeat(50_000),
        " hay".repeat(50_000)
    );
    let r = run(
        |c| match turn(&c) {
            0 => repl("print(len(context))\nprint(context[:20])"),
            _ => repl("import re\nm = re.search(r'NEEDLE=(\\d+)', context)\nFINAL(m.group(1))"),
        },
        RunnerConfig::default(),
        &context,
    )
    .await;
    assert_eq!(
        (r.answer(), r.kind(), r.iterations),
        ("7731", RunOutcomeKind::Finished, 2)
    );
    // The model saw the observation of turn 1 (the length), never the whole context.
    let observation = &r.messages[3].content;
    assert!(
        observation.contains(&context.len().to_string()),
        "{observation}"
    );
    assert!(r.messages.iter().all(|m| m.content.len() < 50_000));
}

#[tokio::test]
async fn final_var_answer_dict_and_text_level_final() {
    let r = run(
        |_| repl("result = {'n': 42}\nFINAL_VAR('result')"),
        RunnerConfig::default(),
        "c",
    )
    .await;
    assert_eq!(r.answer(), "{'n': 42}");
    let r = run(
        |_| repl("answer['content'] = 'from dict'\nanswer['ready'] = True"),
        RunnerConfig::default(),
        "c",
    )
    .await;
    assert_eq!(r.answer(), "from dict");
    let r = run(
        |_| "I am sure now.\nFINAL(f(x) and (g(y)))\nmore (text)".to_string(),
        RunnerConfig::default(),
        "c",
    )
    .await;
    assert_eq!(
        (r.answer(), r.kind()),
        ("f(x) and (g(y))", RunOutcomeKind::Finished)
    );
    // Text-level FINAL_VAR is resolved against the REPL.
    let r = run(
        |c| match turn(&c) {
            0 => repl("total = 5 + 5"),
            _ => "FINAL_VAR(total)".to_string(),
        },
        RunnerConfig::default(),
        "c",
    )
    .await;
    assert_eq!(r.answer(), "10");
}

#[tokio::test]
async fn missing_final_var_does_not_finish() {
    let r = run(
        |c| match &c {
            Call::Turn { turn: 0, .. } => repl("a = 1\nFINAL_VAR('nope')"),
            Call::Turn { last_user, .. } => {
                assert!(
                    last_user.contains("Variable 'nope' not found"),
                    "{last_user}"
                );
                repl("FINAL('recovered')")
            }
            _ => unreachable!(),
        },
        RunnerConfig::default(),
        "c",
    )
    .await;
    assert_eq!((r.answer(), r.iterations), ("recovered", 2));
}

#[tokio::test]
async fn reply_without_code_gets_a_nudge_and_costs_an_iteration() {
    let r = run(
        |c| match &c {
            Call::Turn { turn: 0, .. } => "Let me think about it.".to_string(),
            Call::Turn { last_user, .. } => {
                assert!(
                    last_user.contains("no ```repl``` code block"),
                    "{last_user}"
                );
                repl("FINAL('ok')")
            }
            _ => unreachable!(),
        },
        RunnerConfig::default(),
        "c",
    )
    .await;
    assert_eq!((r.answer(), r.iterations), ("ok", 2));
}

#[tokio::test]
async fn syntax_error_and_runtime_error_reach_the_model() {
    let r = run(
        |c| match &c {
            Call::Turn { turn: 0, .. } => repl("def f(:\n  pass"),
            Call::Turn {
                turn: 1, last_user, ..
            } => {
                assert!(last_user.contains("SyntaxError"), "{last_user}");
                repl("print('before')\n1 / 0")
            }
            Call::Turn { last_user, .. } => {
                assert!(
                    last_user.contains("before") && last_user.contains("ZeroDivisionError"),
                    "{last_user}"
                );
                assert!(last_user.contains("Traceback"), "{last_user}");
                repl("FINAL('done')")
            }
            _ => unreachable!(),
        },
        RunnerConfig::default(),
        "c",
    )
    .await;
    assert_eq!((r.answer(), r.iterations), ("done", 3));
}

#[tokio::test]
async fn infinite_loop_is_stopped_by_the_execution_timeout() {
    let mut cfg = RunnerConfig::default();
    cfg.repl.execution_timeout = Duration::from_millis(200);
    let r = run(
        |c| match &c {
            Call::Turn { turn: 0, .. } => repl(
                "try:\n    while True:\n        pass\nexcept BaseException:\n    print('caught')",
            ),
            Call::Turn { last_user, .. } => {
                assert!(last_user.contains("TimeoutError"), "{last_user}");
                let output = last_user.split("REPL output:").nth(1).unwrap_or("");
                assert!(
                    !output.contains("caught"),
                    "the time limit cannot be caught: {last_user}"
                );
                repl("FINAL('survived')")
            }
            _ => unreachable!(),
        },
        cfg,
        "c",
    )
    .await;
    assert_eq!(r.answer(), "survived");
}

#[tokio::test]
async fn blocks_run_in_order_and_the_first_finishing_block_ends_the_turn() {
    let r = run(
        |_| {
            format!(
                "{}\n{}\n{}",
                repl("a = 10"),
                repl("b = a + 20\nFINAL(b)"),
                repl("FINAL('never')")
            )
        },
        RunnerConfig::default(),
        "c",
    )
    .await;
    assert_eq!(r.answer(), "30");
}

#[tokio::test]
async fn default_answer_when_iterations_run_out() {
    let mut cfg = RunnerConfig::default();
    cfg.run.max_iterations = 2;
    let r = run(
        |c| match &c {
            Call::Turn { last_user, .. } if last_user.contains("run out of REPL iterations") => {
                "fallback-answer".to_string()
            }
            _ => repl("print('working')"),
        },
        cfg,
        "c",
    )
    .await;
    assert_eq!(
        (r.answer(), r.kind(), r.iterations),
        ("fallback-answer", RunOutcomeKind::IterationLimit, 2)
    );
}

#[tokio::test]
async fn last_chance_final_var_is_resolved() {
    let mut cfg = RunnerConfig::default();
    cfg.run.max_iterations = 1;
    let r = run(
        |c| match &c {
            Call::Turn { turn: 0, .. } => repl("best = 'partial result'"),
            _ => "FINAL_VAR(best)".to_string(),
        },
        cfg,
        "c",
    )
    .await;
    assert_eq!(
        (r.answer(), r.kind()),
        ("partial result", RunOutcomeKind::IterationLimit)
    );
}

#[tokio::test]
async fn llm_query_batched_fans_out_in_order() {
    let r = run(
        |c| match c {
            Call::Plain { prompt } => format!("echo:{prompt}"),
            Call::Turn { .. } => repl(
                "prompts = [f'p{i}' for i in range(300)]\nres = llm_query_batched(prompts)\nok = all(r == f'echo:p{i}' for i, r in enumerate(res))\nFINAL(f'{len(res)} {ok}')",
            ),
        },
        RunnerConfig::default(),
        "c",
    )
    .await;
    assert_eq!(r.answer(), "300 True");
    assert_eq!(r.total_usage().calls, 301);
}

#[tokio::test]
async fn batch_workers_bound_concurrency() {
    let m = Arc::new(
        ScriptedModel::from_fn("m", |req: &CompletionRequest| match classify(req) {
            Call::Plain { .. } => "x".to_string(),
            Call::Turn { .. } => repl("r = llm_query_batched(['a'] * 40)\nFINAL(len(r))"),
        })
        .with_latency(Duration::from_millis(5)),
    );
    let r = runner(
        m.clone(),
        config(BackendLimits {
            max_batch_workers: 3,
            ..BackendLimits::default()
        }),
    )
    .run(ReplValue::from("c"), "q")
    .await;
    assert_eq!(r.answer(), "40");
    assert!(m.peak_concurrency() <= 3, "peak {}", m.peak_concurrency());
    assert!(
        m.peak_concurrency() >= 2,
        "batched calls should overlap, peak {}",
        m.peak_concurrency()
    );
}

#[tokio::test]
async fn failed_sub_call_is_an_error_string_in_its_slot() {
    let r = run(
        |c| match c {
            Call::Plain { prompt } if prompt == "bad" => "".to_string(),
            Call::Plain { prompt } => prompt.to_uppercase(),
            Call::Turn { .. } => {
                repl("r = llm_query_batched(['a', 'bad', 'c'])\nFINAL(str([x[:6] for x in r]))")
            }
        },
        RunnerConfig::default(),
        "c",
    )
    .await;
    // The scripted model answers "" normally; make a real failure instead with an error step.
    assert!(r.answer().starts_with("['A', "), "{}", r.answer());
    let m = Arc::new(ScriptedModel::from_fn(
        "m",
        |req: &CompletionRequest| match classify(req) {
            Call::Plain { prompt } if prompt == "bad" => Err(rlm_core::LlmError::Http {
                status: 500,
                body: "boom".into(),
                retry_after: None,
            }),
            Call::Plain { prompt } => Ok(prompt.to_uppercase()),
            Call::Turn { .. } => Ok(repl(
                "r = llm_query_batched(['a', 'bad', 'c'])\ns = llm_query('bad')\nFINAL(repr(r) + ' | ' + s)",
            )),
        },
    ));
    let r = runner(m, RunnerConfig::default())
        .run(ReplValue::from("c"), "q")
        .await;
    assert_eq!(r.kind(), RunOutcomeKind::Finished);
    assert!(r.answer().starts_with("['A', 'Error: "), "{}", r.answer());
    assert!(r.answer().contains("'C']"), "{}", r.answer());
    assert!(r.answer().contains(" | Error: "), "{}", r.answer());
}

fn depth2(backend: BackendLimits) -> RunnerConfig {
    config(BackendLimits {
        max_depth: 2,
        ..backend
    })
}

/// The root asks children; each child answers from its own context.
fn child_script(root_code: &'static str) -> impl Fn(Call) -> String + Send + Sync + 'static {
    move |c| match c {
        Call::Turn { query, .. } if query == "the question" => repl(root_code),
        Call::Turn { query, .. } => {
            // A child RLM: its context is its prompt.
            assert!(query.starts_with("child:"), "{query}");
            repl("FINAL(context.split(':')[1])")
        }
        Call::Plain { prompt } => format!("plain:{prompt}"),
    }
}

#[tokio::test]
async fn rlm_query_spawns_a_child_with_its_own_repl() {
    let r = run(
        child_script("x = 'root-only'\nFINAL(rlm_query('child:42'))"),
        depth2(BackendLimits::default()),
        "c",
    )
    .await;
    assert_eq!(r.answer(), "42");
    assert_eq!(r.child_traces.len(), 1);
    let t = &r.child_traces[0];
    assert_eq!(
        (
            t.depth,
            t.prompt_preview.as_str(),
            t.result_preview.as_deref(),
            t.error.as_deref()
        ),
        (1, "child:42", Some("42"), None)
    );
}

#[tokio::test]
async fn rlm_query_at_max_depth_is_a_plain_call() {
    let r = run(
        child_script("FINAL(rlm_query('child:42'))"),
        RunnerConfig::default(),
        "c",
    )
    .await;
    assert_eq!(r.answer(), "plain:child:42");
    assert!(r.child_traces.is_empty());
}

#[tokio::test]
async fn max_depth_zero_disables_sub_calls() {
    let r = run(
        child_script("FINAL(llm_query('x') + ' / ' + rlm_query('child:1'))"),
        config(BackendLimits {
            max_depth: 0,
            ..BackendLimits::default()
        }),
        "c",
    )
    .await;
    assert!(
        r.answer().starts_with("Error: sub-calls are disabled"),
        "{}",
        r.answer()
    );
    assert!(
        r.answer().contains(" / Error: sub-calls are disabled"),
        "{}",
        r.answer()
    );
}

#[tokio::test]
async fn rlm_query_batched_runs_children_concurrently_in_order() {
    let r = run(
        child_script("r = rlm_query_batched(['child:A', 'child:B', 'child:C'])\nFINAL(''.join(r))"),
        depth2(BackendLimits::default()),
        "c",
    )
    .await;
    assert_eq!(r.answer(), "ABC");
    assert_eq!(r.child_traces.len(), 3);
}

#[tokio::test]
async fn max_children_total_is_tree_global() {
    let r = run(
        child_script("a = rlm_query('child:A')\nb = rlm_query('child:B')\nFINAL(a + '|' + b)"),
        depth2(BackendLimits {
            max_children_total: Some(1),
            ..BackendLimits::default()
        }),
        "c",
    )
    .await;
    assert_eq!(
        r.answer(),
        "A|Error: max_children_total exceeded: 1 children"
    );
}

#[tokio::test]
async fn max_children_per_batch_never_shortens_the_list() {
    let r = run(
        child_script("r = rlm_query_batched(['child:A', 'child:B', 'child:C'])\nFINAL(str(len(r)) + ''.join(r[:2]) + '|' + r[2])"),
        depth2(BackendLimits { max_children_per_batch: Some(2), ..BackendLimits::default() }),
        "c",
    )
    .await;
    assert_eq!(
        r.answer(),
        "3AB|Error: max_children_per_batch (2) exceeded; this prompt was not run"
    );
}

#[tokio::test]
async fn result_truncation_limit_applies_to_every_sub_call() {
    let r = run(
        |c| match c {
            Call::Plain { .. } => "abcdefghij".to_string(),
            Call::Turn { query, .. } if query == "the question" => {
                repl("FINAL(llm_query('x') + '|' + rlm_query('child:0123456789'))")
            }
            Call::Turn { .. } => repl("FINAL(context)"),
        },
        depth2(BackendLimits {
            result_truncation_limit: Some(5),
            ..BackendLimits::default()
        }),
        "c",
    )
    .await;
    assert_eq!(r.answer(), "abcde|child");
}

#[tokio::test]
async fn per_child_timeout_cancels_the_child() {
    let m = Arc::new(
        ScriptedModel::from_fn("m", |req: &CompletionRequest| match classify(req) {
            Call::Turn { query, .. } if query == "the question" => {
                repl("FINAL(rlm_query('child:slow'))")
            }
            _ => repl("FINAL('too late')"),
        })
        .with_latency(Duration::from_millis(300)),
    );
    let r = runner(
        m,
        depth2(BackendLimits {
            per_child_timeout: Some(Duration::from_millis(100)),
            ..BackendLimits::default()
        }),
    )
    .run(ReplValue::from("c"), "the question")
    .await;
    assert!(
        r.answer().starts_with("Error: child timeout after"),
        "{}",
        r.answer()
    );
    assert!(
        r.child_traces[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("child timeout")
    );
}

#[tokio::test]
async fn subcall_callbacks_fire_for_children() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (start_log, done_log) = (log.clone(), log.clone());
    let mut r = runner(
        model(child_script("FINAL(rlm_query('child:42'))")),
        depth2(BackendLimits::default()),
    );
    r.subscribe(Arc::new(
        SubcallCallbacks::new()
            .on_start(move |d, m, p| start_log.lock().unwrap().push(format!("start {d} {m} {p}")))
            .on_complete(move |d, m, _, e| {
                done_log.lock().unwrap().push(format!("done {d} {m} {e:?}"))
            }),
    ));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    r.subscribe(Arc::new(move |e: &RunEvent| {
        sink.lock().unwrap().push(e.clone())
    }));
    let result = r.run(ReplValue::from("c"), "the question").await;
    assert_eq!(result.answer(), "42");
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            "start 1 default child:42".to_string(),
            "done 1 default None".to_string()
        ]
    );
    let events = events.lock().unwrap();
    let finished: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::RunFinished { depth, .. } => Some(*depth),
            _ => None,
        })
        .collect();
    assert_eq!(finished, vec![1, 0], "child finishes before the root");
    let own_calls: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::RunFinished { usage, .. } => Some(usage.calls),
            _ => None,
        })
        .collect();
    assert_eq!(own_calls, vec![1, 1], "each run books its own turn");
}

#[tokio::test]
async fn depth_three_tree_nests_traces() {
    let r = run(
        |c| match c {
            Call::Turn { query, .. } if query == "the question" => {
                repl("FINAL('|'.join(rlm_query_batched(['mid:1', 'mid:2'])))")
            }
            Call::Turn { query, .. } if query.starts_with("mid:") => {
                repl("FINAL(rlm_query('leaf:' + context) + '+' + llm_query('x'))")
            }
            Call::Turn { .. } => repl("FINAL(context.upper())"),
            Call::Plain { prompt } => format!("p[{prompt}]"),
        },
        config(BackendLimits {
            max_depth: 3,
            ..BackendLimits::default()
        }),
        "c",
    )
    .await;
    // Depth 0 spawns mid children at depth 1, which spawn leaf children at depth 2 (< 3); the
    // leaves' own llm_query is plain.
    assert_eq!(r.answer(), "LEAF:MID:1+p[x]|LEAF:MID:2+p[x]");
    assert_eq!(r.child_traces.len(), 2);
    for mid in &r.child_traces {
        assert_eq!(mid.depth, 1);
        assert_eq!(mid.children.len(), 1);
        assert_eq!(mid.children[0].depth, 2);
        assert!(mid.children[0].prompt_preview.starts_with("leaf:mid:"));
    }
}

#[tokio::test]
async fn model_argument_selects_a_named_model() {
    let root = model(|c| match c {
        Call::Turn { .. } => repl(
            "FINAL(llm_query('q', model='small') + '|' + llm_query('q', model='test-model') + '|' + llm_query('q', model='other-name'))",
        ),
        Call::Plain { .. } => "root-answered".to_string(),
    });
    let small: Arc<dyn LanguageModel> = Arc::new(ScriptedModel::from_fn(
        "small",
        |_: &CompletionRequest| "small-answered",
    ));
    let root_dyn: Arc<dyn LanguageModel> = root.clone();
    let runner = Runner::new(
        Models::new(root_dyn).with_named("small", small),
        Arc::new(MontyReplFactory::new()),
        RunnerConfig::default(),
    )
    .unwrap();
    let r = runner.run(ReplValue::from("c"), "q").await;
    // A registered name and the root model's own name select their model; an unknown name is
    // an error string, not a request.
    assert_eq!(
        r.answer(),
        "small-answered|root-answered|Error: unknown model 'other-name'; registered models: [small, test-model]"
    );
    let asked: Vec<Option<String>> = root.requests().iter().map(|q| q.model.clone()).collect();
    assert!(
        !asked.contains(&Some("other-name".to_string())),
        "{asked:?}"
    );
    assert!(
        r.usage.contains_key("small") && !r.usage.contains_key("other-name"),
        "{:?}",
        r.usage.keys()
    );
}

#[tokio::test]
async fn unknown_model_name_returns_an_error_listing_the_registered_models() {
    let root = model(|c| match c {
        Call::Turn { query, .. } if query == "q" => repl(
            "a = llm_query('q', model='gpt-typo')\nb = llm_query_batched(['x', 'y'], model='gpt-typo')\nc = rlm_query('task', model='gpt-typo')\nFINAL(a + '|' + b[1] + '|' + c)",
        ),
        Call::Turn { .. } => repl("FINAL('child ran')"),
        Call::Plain { .. } => "root-answered".to_string(),
    });
    let named = |name: &'static str| -> Arc<dyn LanguageModel> {
        Arc::new(ScriptedModel::from_fn(
            name,
            |_: &CompletionRequest| "named",
        ))
    };
    let sub: Arc<dyn LanguageModel> = Arc::new(ScriptedModel::from_fn(
        "sub-model",
        |_: &CompletionRequest| "sub",
    ));
    let root_dyn: Arc<dyn LanguageModel> = root.clone();
    let runner = Runner::new(
        Models::new(root_dyn)
            .with_sub(sub)
            .with_named("gpt-5-mini", named("gpt-5-mini"))
            .with_named("claude", named("claude")),
        Arc::new(MontyReplFactory::new()),
        config(BackendLimits {
            max_depth: 2,
            ..BackendLimits::default()
        }),
    )
    .unwrap();
    let r = runner.run(ReplValue::from("c"), "q").await;
    let error = "Error: unknown model 'gpt-typo'; registered models: [claude, gpt-5-mini, sub-model, test-model]";
    assert_eq!(r.answer(), format!("{error}|{error}|{error}"));
    // Nothing was sent for the unknown name: one root turn, no child, no sub-call.
    assert_eq!(root.requests().len(), 1);
    assert!(r.child_traces.is_empty());
}

#[tokio::test]
async fn without_named_models_an_unknown_name_goes_to_the_endpoint() {
    let root = model(|c| match c {
        Call::Turn { .. } => repl("FINAL(llm_query('q', model='other-name'))"),
        Call::Plain { .. } => "root-answered".to_string(),
    });
    let r = runner(root.clone(), RunnerConfig::default())
        .run(ReplValue::from("c"), "q")
        .await;
    assert_eq!(r.answer(), "root-answered");
    // The name is passed on as the request's model, and usage is booked under it.
    let asked: Vec<Option<String>> = root.requests().iter().map(|q| q.model.clone()).collect();
    assert!(asked.contains(&Some("other-name".to_string())), "{asked:?}");
    assert!(r.usage.contains_key("other-name"), "{:?}", r.usage.keys());
}

#[tokio::test]
async fn sub_temperature_applies_to_plain_sub_calls_only() {
    let root = model(|c| match c {
        Call::Turn { .. } => repl("FINAL(llm_query('q'))"),
        Call::Plain { .. } => "sub".to_string(),
    });
    let cfg = RunnerConfig {
        sampling: Sampling {
            temperature: Some(0.7),
            ..Sampling::default()
        },
        sub_sampling: Sampling {
            temperature: Some(0.1),
            ..Sampling::default()
        },
        ..RunnerConfig::default()
    };
    let r = runner(root.clone(), cfg)
        .run(ReplValue::from("c"), "q")
        .await;
    assert_eq!(r.answer(), "sub");
    let temps: Vec<Option<f32>> = root
        .requests()
        .iter()
        .map(|q| q.sampling.temperature)
        .collect();
    assert_eq!(temps, vec![Some(0.7), Some(0.1)]);

    // Without a sub temperature, sub-calls use the root's.
    let root = model(|c| match c {
        Call::Turn { .. } => repl("FINAL(llm_query('q'))"),
        Call::Plain { .. } => "sub".to_string(),
    });
    let cfg = RunnerConfig {
        sampling: Sampling {
            temperature: Some(0.7),
            ..Sampling::default()
        },
        ..RunnerConfig::default()
    };
    runner(root.clone(), cfg)
        .run(ReplValue::from("c"), "q")
        .await;
    let temps: Vec<Option<f32>> = root
        .requests()
        .iter()
        .map(|q| q.sampling.temperature)
        .collect();
    assert_eq!(temps, vec![Some(0.7), Some(0.7)]);
}

#[tokio::test]
async fn sub_model_serves_llm_query() {
    let root = model(|c| match c {
        Call::Turn { .. } => repl("FINAL(llm_query('q'))"),
        Call::Plain { .. } => "root".to_string(),
    });
    let sub: Arc<dyn LanguageModel> =
        Arc::new(ScriptedModel::from_fn("sub", |_: &CompletionRequest| "sub"));
    let root_dyn: Arc<dyn LanguageModel> = root;
    let runner = Runner::new(
        Models::new(root_dyn).with_sub(sub),
        Arc::new(MontyReplFactory::new()),
        RunnerConfig::default(),
    )
    .unwrap();
    let r = runner.run(ReplValue::from("c"), "q").await;
    assert_eq!(r.answer(), "sub");
    assert_eq!(r.usage["sub"].calls, 1);
    assert_eq!(r.usage["test-model"].calls, 1);
}

#[tokio::test]
async fn llm_call_budget_ends_the_run_with_a_typed_outcome() {
    let mut cfg = RunnerConfig::default();
    cfg.run.max_llm_calls = Some(5);
    let r = run(
        |c| match c {
            Call::Plain { .. } => "x".to_string(),
            Call::Turn { .. } => repl("answer['content'] = 'partial'\nr = [llm_query(str(i)) for i in range(1000)]\nprint(sum(1 for x in r if x.startswith('Error')))"),
        },
        cfg,
        "c",
    )
    .await;
    assert_eq!(r.kind(), RunOutcomeKind::Budget);
    assert_eq!(r.answer(), "partial");
    assert_eq!(r.budget.calls_started, 5);
    assert!(r.error().unwrap().to_string().contains("max_llm_calls"));
}

#[tokio::test]
async fn consecutive_errors_end_the_run() {
    let mut cfg = RunnerConfig::default();
    cfg.run.max_errors = Some(2);
    let r = run(|_| repl("raise ValueError('again')"), cfg, "c").await;
    assert_eq!((r.kind(), r.iterations), (RunOutcomeKind::ErrorLimit, 2));
}

#[tokio::test]
async fn run_timeout_is_hard() {
    let mut cfg = RunnerConfig::default();
    cfg.run.timeout = Some(Duration::from_millis(300));
    let m = Arc::new(
        ScriptedModel::from_fn("m", |req: &CompletionRequest| match classify(req) {
            Call::Plain { .. } => "x".to_string(),
            Call::Turn { .. } => repl("print(llm_query('slow'))"),
        })
        .with_latency(Duration::from_millis(200)),
    );
    let r = runner(m, cfg).run(ReplValue::from("c"), "q").await;
    assert_eq!(r.kind(), RunOutcomeKind::Timeout);
}

#[tokio::test]
async fn fatal_model_error_stops_the_run() {
    let m = Arc::new(ScriptedModel::from_fn(
        "m",
        |req: &CompletionRequest| match classify(req) {
            Call::Plain { .. } => Err(rlm_core::LlmError::Authentication {
                status: 401,
                body: "bad key".into(),
            }),
            Call::Turn { .. } => Ok(repl("r = llm_query_batched(['a', 'b'])\nprint(r)")),
        },
    ));
    let r = runner(m.clone(), RunnerConfig::default())
        .run(ReplValue::from("c"), "q")
        .await;
    assert_eq!(r.kind(), RunOutcomeKind::Failed);
    assert!(matches!(
        r.error().and_then(RunError::llm_error),
        Some(rlm_core::LlmError::Authentication { status: 401, .. })
    ));
    // One turn, then the first refused sub-call stops every sibling that has not been sent.
    assert!(m.call_count() <= 3, "calls: {}", m.call_count());
    assert_eq!(r.iterations, 1);
}

#[tokio::test]
async fn last_chance_code_is_run_not_read_as_text() {
    let mut cfg = RunnerConfig::default();
    cfg.run.max_iterations = 1;
    let r = run(
        |c| match &c {
            Call::Turn { turn: 0, .. } => repl("x = 'computed'"),
            // The model ignores "no more code": its FINAL inside a fence must not be taken as
            // the literal text `x.upper()`; the block runs and its finish counts.
            _ => repl("FINAL(x.upper())"),
        },
        cfg,
        "c",
    )
    .await;
    assert_eq!(
        (r.answer(), r.kind()),
        ("COMPUTED", RunOutcomeKind::IterationLimit)
    );
}

#[tokio::test]
async fn finishing_in_the_last_iteration_is_finished() {
    let mut cfg = RunnerConfig::default();
    cfg.run.max_iterations = 2;
    let r = run(
        |c| match turn(&c) {
            0 => repl("x = 1"),
            _ => repl("FINAL('just in time')"),
        },
        cfg,
        "c",
    )
    .await;
    assert_eq!(
        (r.answer(), r.kind(), r.iterations),
        ("just in time", RunOutcomeKind::Finished, 2)
    );
}

#[tokio::test]
async fn roles_alternate_up_to_the_last_chance_call() {
    let m = model(|c| match &c {
        Call::Turn { last_user, .. } if last_user.contains("run out of REPL iterations") => {
            assert!(!last_user.contains("Turn 3/2"), "{last_user}");
            "FINAL(done)".to_string()
        }
        _ => repl("print('working')"),
    });
    let mut cfg = RunnerConfig::default();
    cfg.run.max_iterations = 2;
    let r = runner(m.clone(), cfg).run(ReplValue::from("c"), "q").await;
    assert_eq!(
        (r.answer(), r.kind()),
        ("done", RunOutcomeKind::IterationLimit)
    );
    for request in m.requests() {
        let roles: Vec<rlm_core::Role> = request.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles[0], rlm_core::Role::System);
        for pair in roles[1..].windows(2) {
            assert_ne!(pair[0], pair[1], "roles must alternate: {roles:?}");
        }
        assert_eq!(*roles.last().unwrap(), rlm_core::Role::User);
    }
}

#[tokio::test]
async fn run_timeout_stops_a_busy_loop() {
    let mut cfg = RunnerConfig::default();
    cfg.run.timeout = Some(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let r = run(|_| repl("while True:\n    pass"), cfg, "c").await;
    assert_eq!(r.kind(), RunOutcomeKind::Timeout);
    // The block's own limit (60 s by default) is capped by the run's time left.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn run_until_cancels_the_tree_and_reports_usage_so_far() {
    let m = Arc::new(
        ScriptedModel::from_fn("m", |req: &CompletionRequest| match classify(req) {
            Call::Plain { .. } => "x".to_string(),
            Call::Turn { .. } => {
                repl("r = llm_query_batched(['a'] * 4)\nprint(llm_query('slow one'))")
            }
        })
        .with_latency(Duration::from_millis(200)),
    );
    let runner = runner(m, RunnerConfig::default());
    // Root turn 0-200 ms, batch 200-400 ms, last call from 400 ms: stop in the middle of it.
    let r = runner
        .run_until(
            ReplValue::from("c"),
            "q",
            tokio::time::sleep(Duration::from_millis(500)),
        )
        .await;
    assert_eq!(r.kind(), RunOutcomeKind::Cancelled);
    // The root turn and the batch of four completed before the stop; the last call did not.
    assert_eq!(r.total_usage().calls, 5, "{:?}", r.usage);
}

#[tokio::test]
async fn a_long_child_prompt_stays_out_of_the_childs_window() {
    let long = format!("child:{}", "x".repeat(5_000));
    let long_code = format!("FINAL(rlm_query('{long}'))");
    let m = model(move |c| match c {
        Call::Turn { query, .. } if query == "the question" => repl(&long_code),
        Call::Turn { query, .. } => {
            // The child reads its task from `context`; the 5,000-character prompt is not its query.
            assert!(
                query.starts_with("The task and its material are in `context`"),
                "{}",
                &query[..60.min(query.len())]
            );
            repl("FINAL(str(len(context)))")
        }
        Call::Plain { .. } => String::new(),
    });
    let r = runner(m.clone(), depth2(BackendLimits::default()))
        .run(ReplValue::from("c"), "the question")
        .await;
    assert_eq!(r.answer(), "5006");
    let child_request = m
        .requests()
        .into_iter()
        .find(|q| !q.messages[1].content.contains("the question"))
        .unwrap();
    assert!(!child_request.messages[1].content.contains(&"x".repeat(100)));
}

#[tokio::test]
async fn a_printed_final_finishes_only_with_seed_compat() {
    let script = |c: Call| match turn(&c) {
        0 => repl("x = 6 * 7\nprint(f'FINAL({x})')"),
        _ => repl("FINAL('native')"),
    };
    let native = run(script, RunnerConfig::default(), "ctx").await;
    assert_eq!(native.answer(), "native");
    assert_eq!(native.iterations, 2);

    let mut compat = RunnerConfig::default();
    compat.seed_compat.printed_final = true;
    let seed = run(script, compat, "ctx").await;
    assert_eq!(seed.answer(), "42");
    assert_eq!(seed.kind(), RunOutcomeKind::Finished);
    assert_eq!(seed.iterations, 1);
}
