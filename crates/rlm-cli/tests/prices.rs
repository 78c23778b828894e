//! Known costs as a process against the fake server: the built-in price table, `--price`
//! overriding it, cost per model in `--json` and `rlm view`, and `--max-cost` refusing to start
//! when a model of the run has no known price.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Output;

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use rlm_tests::{Call, classify_http, repl};

fn context_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("rlm-cli-prices-{}.txt", std::process::id()));
    std::fs::write(&path, "alpha beta").unwrap();
    path
}

/// Root turns: one sub-call, then finish; every call reports 1,000 prompt tokens (400
/// cached) and 100 completion tokens, and no cost.
async fn server() -> FakeServer {
    FakeServer::start(Script::from_fn(
        |req: &RecordedRequest| match classify_http(req) {
            Call::Turn { .. } => Reply::text(repl("FINAL(llm_query('hi'))"))
                .usage(1000, 100)
                .cached_tokens(400),
            Call::Plain { .. } => Reply::text("sub answer")
                .usage(1000, 100)
                .cached_tokens(400),
        },
    ))
    .await
}

async fn rlm(srv: &FakeServer, flags: &[&str]) -> Output {
    let url = srv.base_url();
    let file = context_file();
    let mut args = vec![
        "run",
        "--quiet",
        "--context-file",
        file.to_str().unwrap(),
        "--query",
        "q",
        "--base-url",
        url.as_str(),
    ];
    args.extend_from_slice(flags);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"))
        .args(&args)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .env("OPENAI_API_KEY", "sk-test")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(o)))
}

/// The cost of one call of the fake server at these prices (USD per million tokens).
fn one_call(input: f64, cached: f64, output: f64) -> f64 {
    (600.0 * input + 400.0 * cached + 100.0 * output) / 1e6
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[tokio::test]
async fn max_cost_with_an_unpriced_model_refuses_to_start() {
    let srv = server().await;
    let out = rlm(&srv, &["--model", "fake-model", "--max-cost", "0.000001"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: --max-cost needs a price for every model")
            && err.contains("fake-model")
            && err.contains("--price MODEL=INPUT,CACHED_INPUT,OUTPUT"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // A priced root with an unpriced sub model: the message names only the sub model.
    let out = rlm(
        &srv,
        &[
            "--model",
            "gpt-4o-mini",
            "--sub-model",
            "my-local-model",
            "--max-cost",
            "1",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("have none: my-local-model;"),
        "{}",
        stderr(&out)
    );
    assert_eq!(srv.stats().requests, 0, "no request before refusing");

    // With a price given, the same run starts.
    let out = rlm(
        &srv,
        &[
            "--model",
            "fake-model",
            "--max-cost",
            "1",
            "--price",
            "fake-model=1,0.5,2",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn builtin_prices_give_the_cost_per_model_in_json() {
    let srv = server().await;
    let out = rlm(
        &srv,
        &[
            "--json",
            "--model",
            "gpt-4o",
            "--sub-model",
            "gpt-4o-mini",
            "--max-cost",
            "1",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["answer"], "sub answer");
    let root = v["usage"]["gpt-4o"]["cost"].as_f64().unwrap();
    let sub = v["usage"]["gpt-4o-mini"]["cost"].as_f64().unwrap();
    assert!(close(root, one_call(2.5, 1.25, 10.0)), "{root}");
    assert!(close(sub, one_call(0.15, 0.075, 0.6)), "{sub}");
    let total = v["total_usage"]["cost"].as_f64().unwrap();
    assert!(close(total, root + sub), "{total}");

    // A user price overrides the built-in one; models without a price report no cost.
    let out = rlm(
        &srv,
        &[
            "--json",
            "--model",
            "gpt-4o",
            "--sub-model",
            "unpriced-sub",
            "--price",
            "gpt-4o=100,50,1000",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let root = v["usage"]["gpt-4o"]["cost"].as_f64().unwrap();
    assert!(close(root, one_call(100.0, 50.0, 1000.0)), "{root}");
    assert!(v["usage"]["unpriced-sub"].get("cost").is_none(), "{v}");
}

#[tokio::test]
async fn rlm_view_shows_the_cost_per_model() {
    let srv = server().await;
    let trace = std::env::temp_dir().join(format!("rlm-cli-prices-{}.jsonl", std::process::id()));
    let out = rlm(
        &srv,
        &[
            "--model",
            "claude-sonnet-4-5",
            "--sub-model",
            "gpt-5-mini",
            "--trace",
            trace.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let view = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"))
        .args(["view", trace.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(view.status.success(), "{}", stderr(&view));
    let text = String::from_utf8_lossy(&view.stdout);
    let sonnet = one_call(3.0, 0.3, 15.0);
    let mini = one_call(0.25, 0.025, 2.0);
    assert!(text.contains("usage by model:"), "{text}");
    assert!(
        text.contains(&format!(
            "  claude-sonnet-4-5: 1 calls · 1,100 tok · ${sonnet:.4}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("  gpt-5-mini: 1 calls · 1,100 tok · ${mini:.4}")),
        "{text}"
    );
    let view = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"))
        .args(["view", "--json", trace.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&view.stdout).unwrap();
    let by_model = &v["summary"]["usage_by_model"];
    assert!(close(
        by_model["claude-sonnet-4-5"]["cost"].as_f64().unwrap(),
        sonnet
    ));
    assert!(close(
        by_model["gpt-5-mini"]["cost"].as_f64().unwrap(),
        mini
    ));
    std::fs::remove_file(&trace).unwrap();
}
