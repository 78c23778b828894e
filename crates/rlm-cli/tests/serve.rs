//! `rlm serve` as a process on 127.0.0.1, driven by OpenEnv's own Python client
//! (`openenv-core`'s `GenericEnvClient` and its sync wrapper, from the project's test venv:
//! `rlm_testkit::python_env::python()`), against the testkit's fake model server.
//! The scenarios are in `tests/serve/client.py`; each prints what it saw as JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const KEY: &str = "sk-test-SERVE-SENTINEL-4321";
const HF_TOKEN: &str = "hf_SENTINEL_TOKEN";
const SERVE_TOKEN: &str = "serve-token-SENTINEL-777";

/// The fake model: `echo:<prompt>`; a prompt with `SLOW` waits a minute, `MEDIUM` two seconds.
async fn model() -> FakeServer {
    FakeServer::start(Script::from_fn(|req: &RecordedRequest| {
        let last = req.message_contents().last().cloned().unwrap_or_default();
        let reply = Reply::text(format!("echo:{last}"));
        if last.contains("SLOW") {
            reply.latency(Duration::from_secs(60))
        } else if last.contains("MEDIUM") {
            reply.latency(Duration::from_secs(2))
        } else {
            reply
        }
    }))
    .await
}

struct Served {
    child: Child,
    url: String,
    stderr: Arc<Mutex<String>>,
}

impl Served {
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rlm"));
    cmd.args(args)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RLM_SERVE_TOKEN")
        .env_remove("RUST_LOG")
        .env("OPENAI_API_KEY", KEY)
        .kill_on_drop(true);
    cmd
}

/// Starts `rlm serve --port 0` against `fake` and waits for its address.
async fn serve(fake: &FakeServer, extra: &[&str], envs: &[(&str, &str)]) -> Served {
    let url = fake.base_url();
    let mut args = vec![
        "serve",
        "--port",
        "0",
        "--model",
        "fake-model",
        "--base-url",
        &url,
    ];
    args.extend_from_slice(extra);
    let mut cmd = command(&args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let stderr = Arc::new(Mutex::new(String::new()));
    let address = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("rlm serve exited before listening");
        stderr.lock().unwrap().push_str(&format!("{line}\n"));
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let sink = stderr.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    Served {
        child,
        url: format!("http://{address}"),
        stderr,
    }
}

fn client_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/serve/client.py")
}

fn python_command(url: &str, scenario: &str, arg: Option<&str>) -> Command {
    let python = rlm_testkit::python_env::python().expect("the test venv (scripts/python-env.sh)");
    let mut cmd = Command::new(python);
    cmd.arg(client_script()).arg(url).arg(scenario);
    if let Some(arg) = arg {
        cmd.arg(arg);
    }
    cmd.env_remove("OPENENV_CLIENT_MODE").kill_on_drop(true);
    cmd
}

/// Runs a scenario of `client.py`; returns its JSON (the last stdout line).
async fn client(url: &str, scenario: &str, arg: Option<&str>) -> Value {
    let out = python_command(url, scenario, arg).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client.py {scenario} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn no_secrets(text: &str) {
    for secret in [KEY, HF_TOKEN, SERVE_TOKEN] {
        assert!(!text.contains(secret), "{secret} leaked in: {text}");
    }
}

fn stdout_of(step: &Value) -> &str {
    step["observation"]["result"]["stdout"].as_str().unwrap()
}

#[tokio::test]
async fn an_episode_through_openenv_client() {
    let fake = model().await;
    let server = serve(&fake, &[], &[]).await;
    let out = client(&server.url, "episode", None).await;

    let reset = &out["reset"];
    assert_eq!(
        stdout_of(reset),
        "REPL environment initialized.\nContext loaded (11 chars). Use 'context' variable to access it.\nTask: Say the context\nUse answer['content'] to store your answer, and set answer['ready'] = True when done."
    );
    assert_eq!(reset["reward"], Value::Null);
    assert_eq!(reset["done"], false);
    let obs = &reset["observation"];
    assert_eq!(obs["context_preview"], "hello world");
    assert_eq!(obs["context_length"], 11);
    assert_eq!(obs["iteration"], 0);
    assert_eq!(obs["max_iterations"], 30);
    assert_eq!(
        obs["metadata"],
        json!({"task_prompt": "Say the context", "message": "Environment ready."})
    );
    let vars: Vec<&str> = obs["available_variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for name in [
        "answer",
        "context",
        "llm_query",
        "llm_query_batched",
        "llm_batch",
        "rlm_query",
        "rlm_query_batched",
        "FINAL",
        "FINAL_VAR",
        "SHOW_VARS",
    ] {
        assert!(vars.contains(&name), "{name} missing from {vars:?}");
    }

    let count = &out["count"];
    assert_eq!(stdout_of(count).trim(), "11");
    assert_eq!(count["reward"], 0.0);
    assert_eq!(count["observation"]["result"]["success"], true);
    assert_eq!(
        count["observation"]["result"]["locals_snapshot"],
        json!({"n": "11"})
    );
    assert_eq!(count["observation"]["iteration"], 1);
    assert!(
        count["observation"]["available_variables"]
            .as_array()
            .unwrap()
            .contains(&json!("n"))
    );

    assert_eq!(stdout_of(&out["sub"]).trim(), "echo:ping");
    assert_eq!(
        stdout_of(&out["batch"]).trim(),
        "['echo:a', 'echo:b']\n['echo:c']"
    );
    assert_eq!(
        stdout_of(&out["rlm"]).trim(),
        "echo:q\n['echo:x', 'echo:y']"
    );
    assert!(stdout_of(&out["vars"]).contains("'n'"), "{}", out["vars"]);

    let raised = &out["raise"];
    assert_eq!(raised["reward"], -0.05);
    assert_eq!(raised["done"], false);
    assert_eq!(raised["observation"]["result"]["success"], false);
    assert!(
        raised["observation"]["result"]["exception"]
            .as_str()
            .unwrap()
            .contains("ZeroDivisionError")
    );
    assert!(
        raised["observation"]["result"]["stderr"]
            .as_str()
            .unwrap()
            .contains("ZeroDivisionError")
    );

    let done = &out["final"];
    assert_eq!(done["done"], true);
    assert_eq!(done["reward"], 1.0);
    assert_eq!(
        done["observation"]["metadata"]["final_answer"],
        "hello world"
    );

    let state = &out["state"];
    assert_eq!(state["episode_id"], "ep-1");
    assert_eq!(state["step_count"], 7);
    assert_eq!(state["iteration"], 7);
    assert_eq!(state["context"], "hello world");
    assert_eq!(state["task_prompt"], "Say the context");
    assert_eq!(state["final_answer"], "hello world");
    assert!(
        state["namespace_keys"]
            .as_array()
            .unwrap()
            .contains(&json!("r"))
    );
    assert!(state["total_execution_time"].as_f64().unwrap() > 0.0);
    assert!(
        out["after_done"].as_str().unwrap().contains("reset"),
        "{}",
        out["after_done"]
    );

    no_secrets(&out.to_string());
    no_secrets(&server.stderr());
    for request in fake.requests() {
        no_secrets(&request.body_text());
    }
}

#[tokio::test]
async fn every_way_to_finish_and_its_reward() {
    let fake = model().await;
    let server = serve(&fake, &[], &[]).await;
    let out = client(&server.url, "finishes", None).await;
    for (name, done, reward, answer) in [
        ("final_fn", true, 1.0, json!("Paris")),
        ("final_fn_expr", true, 1.0, json!("Paris")),
        ("final_var_fn", true, 1.0, json!("Paris")),
        ("printed_final", true, 1.0, json!("Paris")),
        ("printed_final_var", true, 1.0, json!("Paris")),
        ("answer_dict", true, 1.0, json!("Paris")),
        ("is_final", true, 1.0, json!(" PARIS ")),
        ("wrong", true, 0.0, json!("Lyon")),
        ("no_expected", true, 0.0, json!("Paris")),
        ("printed_missing_var", false, 0.0, Value::Null),
    ] {
        let step = &out[name];
        assert_eq!(step["done"], done, "{name}: {step}");
        assert_eq!(step["reward"], reward, "{name}: {step}");
        assert_eq!(
            step["observation"]["metadata"]["final_answer"], answer,
            "{name}: {step}"
        );
    }
    assert_eq!(stdout_of(&out["is_final"]), "Final answer submitted.");
}

#[tokio::test]
async fn max_iterations_ends_the_episode_with_a_message() {
    let fake = model().await;
    let server = serve(&fake, &[], &[]).await;
    let out = client(&server.url, "max_iterations", None).await;
    assert_eq!(out["first"]["done"], false);
    let last = &out["last"];
    assert_eq!(last["done"], true);
    assert_eq!(last["reward"], -0.1);
    assert_eq!(
        stdout_of(last),
        "still going\nMaximum iterations (2) reached."
    );
    assert_eq!(last["observation"]["metadata"]["total_iterations"], 2);
    assert_eq!(last["observation"]["available_variables"], json!([]));
    assert_eq!(last["observation"]["context_preview"], Value::Null);
    // A partial answer in answer["content"] is scored at the last step.
    let partial = &out["partial"];
    assert_eq!(partial["done"], true);
    assert_eq!(partial["reward"], 1.0);
    assert_eq!(partial["observation"]["metadata"]["final_answer"], "42");
}

#[tokio::test]
async fn malformed_frames_get_error_frames_and_the_session_survives() {
    let fake = model().await;
    let server = serve(&fake, &["--max-message-bytes", "2000"], &[]).await;
    let out = client(&server.url, "errors", None).await;
    let before = out["step_before_reset"].as_str().unwrap();
    assert!(
        before.contains("Call reset() first") && before.contains("EXECUTION_ERROR"),
        "{before}"
    );
    assert!(
        out["state_before_reset"]
            .as_str()
            .unwrap()
            .contains("Call reset() first")
    );
    let codes: Vec<&str> = out["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "error", "{f}");
            f["data"]["code"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        codes,
        [
            "INVALID_JSON",
            "UNKNOWN_TYPE",
            "VALIDATION_ERROR",
            "VALIDATION_ERROR",
            "VALIDATION_ERROR"
        ]
    );
    let too_big = out["frames"][4]["data"]["errors"][0]["msg"]
        .as_str()
        .unwrap();
    assert!(
        too_big.contains("exceeds the server's limit of 2000 bytes"),
        "{too_big}"
    );
    assert!(
        out["bad_action"]
            .as_str()
            .unwrap()
            .contains("VALIDATION_ERROR")
    );
    assert_eq!(stdout_of(&out["survives"]).trim(), "42");
}

#[tokio::test]
async fn http_endpoints_follow_openenv() {
    let fake = model().await;
    let server = serve(&fake, &["--max-message-bytes", "2000"], &[]).await;
    let out = client(&server.url, "http_api", None).await;
    assert_eq!(out["health"], json!([200, {"status": "healthy"}]));
    let schema = &out["schema"][1];
    assert_eq!(out["schema"][0], 200);
    for key in ["code", "is_final", "final_answer"] {
        assert!(schema["action"]["properties"].get(key).is_some(), "{key}");
    }
    assert!(
        schema["observation"]["properties"]
            .get("available_variables")
            .is_some()
    );
    assert!(
        schema["state"]["properties"]
            .get("namespace_keys")
            .is_some()
    );
    assert_eq!(out["metadata"][1]["name"], "repl_env");
    assert_eq!(out["state"][0], 200);
    assert_eq!(out["state"][1]["step_count"], 0);
    assert_eq!(out["reset"][0], 200);
    assert_eq!(out["reset"][1]["observation"]["context_length"], 3);
    assert_eq!(out["step"][0], 200);
    assert_eq!(
        out["step"][1]["observation"]["result"]["stdout"]
            .as_str()
            .unwrap()
            .trim(),
        "42"
    );
    assert_eq!(out["step"][1]["reward"], 0.0);
    assert_eq!(out["bad_step"][0], 422);
    assert_eq!(out["bad_json"][0], 422);
    assert_eq!(out["too_big"][0], 413);
    assert!(
        out["too_big"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("2000 bytes")
    );
    // OpenEnv's own validator of running servers (`openenv validate --url`).
    assert_eq!(out["validate"]["passed"], true, "{}", out["validate"]);
    assert_eq!(out["validate"]["mode"], "simulation");
    no_secrets(&out.to_string());
}

#[tokio::test]
async fn a_client_that_leaves_mid_step_frees_its_session() {
    let fake = model().await;
    let server = serve(&fake, &[], &[]).await;
    let out = client(&server.url, "disconnect", None).await;
    assert_eq!(out["busy_before"], 1, "{out}");
    let metrics = &out["metrics"];
    assert_eq!(metrics["active_sessions"], 0, "{out}");
    assert_eq!(metrics["busy_sessions"], 0, "{out}");
    assert_eq!(metrics["cancelled_steps"], 1, "{out}");
    // The sub-call waits a minute: the session was freed by the departure, not by the call.
    eprintln!(
        "session freed {:.3}s after the client left",
        out["freed_after_s"].as_f64().unwrap()
    );
}

#[tokio::test]
async fn at_max_sessions_a_new_client_gets_a_clear_error() {
    let fake = model().await;
    let server = serve(&fake, &["--max-sessions", "1"], &[]).await;
    let out = client(&server.url, "capacity", None).await;
    let refused = out["refused"].as_str().unwrap();
    assert!(
        refused.contains("CAPACITY_REACHED") && refused.contains("1/1 sessions"),
        "{refused}"
    );
    assert_eq!(out["after_free"]["done"], false);
    assert!(out["metrics"]["sessions_refused"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn tokens_are_required_and_never_echoed() {
    let fake = model().await;
    let server = serve(&fake, &[], &[("RLM_SERVE_TOKEN", SERVE_TOKEN)]).await;
    let out = client(&server.url, "token", Some(SERVE_TOKEN)).await;
    assert!(
        out["no_token_ws"].as_str().unwrap().contains("401"),
        "{}",
        out["no_token_ws"]
    );
    assert_eq!(out["no_token_http"][0], 401);
    assert_eq!(out["wrong_token_http"][0], 401);
    assert_eq!(out["bearer_http"][0], 200);
    assert_eq!(out["health"][0], 200);
    assert_eq!(stdout_of(&out["step"]).trim(), "2");
    let mut text = out.to_string();
    text = text.replace(&format!("rlm:{SERVE_TOKEN}@"), ""); // the client's own URL, if echoed by Python
    no_secrets(&text);
    no_secrets(&server.stderr());

    // Another address needs a token or --insecure.
    let url = fake.base_url();
    let refused = command(&[
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        "--model",
        "m",
        "--base-url",
        &url,
    ])
    .output()
    .await
    .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--insecure"));
}

#[tokio::test]
async fn idle_sessions_are_reaped() {
    let fake = model().await;
    let server = serve(&fake, &["--idle-timeout", "0.5"], &[]).await;
    let out = client(&server.url, "idle", None).await;
    assert_eq!(out["metrics"]["sessions_reaped"], 1, "{out}");
    assert_eq!(out["metrics"]["active_sessions"], 0, "{out}");
    assert!(
        out["step_after_reap"]
            .as_str()
            .unwrap()
            .contains("idle timeout"),
        "{out}"
    );
}

/// Starts the `drain` scenario, waits until its step is running, sends SIGTERM, and returns
/// the client's result and the server's exit code.
async fn drain(grace: &str, prompt: &str) -> (Value, Option<i32>) {
    let fake = model().await;
    let mut server = serve(&fake, &["--drain-grace", grace], &[]).await;
    let mut py = python_command(&server.url, "drain", Some(prompt));
    let mut py = py.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(py.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next_line().await.unwrap().unwrap(),
        r#"{"ready": true}"#
    );
    // The step is sent right after; wait for its sub-call to reach the model.
    while fake.in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = server.child.id().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let line = lines.next_line().await.unwrap().unwrap();
    assert!(py.wait().await.unwrap().success());
    let status = server.child.wait().await.unwrap();
    assert!(server.stderr().contains("draining"));
    (serde_json::from_str(&line).unwrap(), status.code())
}

#[tokio::test]
async fn sigterm_lets_a_running_step_finish_then_exits_zero() {
    let (out, code) = drain("30", "MEDIUM question").await;
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout_of(&out["step"]).trim(),
        "echo:MEDIUM question",
        "{out}"
    );
}

#[tokio::test]
async fn sigterm_cancels_steps_past_the_grace_period_and_exits_zero() {
    let (out, code) = drain("0.5", "SLOW question").await;
    assert_eq!(code, Some(0));
    assert!(
        out["error"].as_str().unwrap().contains("shutting down"),
        "{out}"
    );
}

#[tokio::test]
async fn concurrent_episodes_are_isolated() {
    let fake = model().await;
    let server = serve(&fake, &[], &[]).await;
    let out = client(&server.url, "load", None).await;
    assert_eq!(out["ok"], 16);
}
