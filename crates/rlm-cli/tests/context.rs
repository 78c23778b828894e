//! The context input flags as a process against the fake server: several `--context-file`s,
//! `--context-dir` with `--include`/`--exclude`/`--no-ignore`, `--context-json`, and what the
//! model's code and first prompt see, in both sandboxes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use rlm_tests::{Call, classify_http, repl};

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rlm-cli-ctx-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A project tree: sources, an ignored build dir and log, a hidden file, a binary file and a
/// Latin-1 file.
fn project() -> TempDir {
    let t = TempDir::new("project");
    t.write(".gitignore", b"build/\n*.log\n");
    t.write(
        "src/main.rs",
        b"fn main() { println!(\"the code is 77\"); }\n",
    );
    t.write("src/util.rs", b"pub fn util() {}\n");
    t.write("README.md", b"# readme\n");
    t.write("build/out.txt", b"built\n");
    t.write("debug.log", b"log line\n");
    t.write(".env", b"SECRET=1\n");
    t.write("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR");
    t.write("latin1.txt", b"caf\xe9\n");
    t
}

/// A server whose root model answers with `code` and whose sub-model echoes.
async fn server(code: &'static str) -> FakeServer {
    FakeServer::start(Script::from_fn(
        move |req: &RecordedRequest| match classify_http(req) {
            Call::Turn { .. } => Reply::text(repl(code)),
            Call::Plain { prompt } => Reply::text(format!("seen:{prompt}")),
        },
    ))
    .await
}

async fn rlm(srv: &FakeServer, cwd: &Path, flags: &[&str]) -> Output {
    let url = srv.base_url();
    let mut args = vec![
        "run",
        "--query",
        "Which files?",
        "--model",
        "fake-model",
        "--base-url",
        url.as_str(),
    ];
    args.extend_from_slice(flags);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"))
        .args(&args)
        .current_dir(cwd)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .env("OPENAI_API_KEY", "sk-test")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `rlm run --quiet --context-dir T flags...`.
async fn in_dir(srv: &FakeServer, t: &TempDir, flags: &[&str]) -> Output {
    let mut all = vec!["--quiet", "--context-dir", t.str()];
    all.extend_from_slice(flags);
    rlm(srv, t.path(), &all).await
}

/// The first user message the root model got.
fn first_prompt(srv: &FakeServer) -> String {
    let body: serde_json::Value = serde_json::from_slice(&srv.requests()[0].body).unwrap();
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn repeated_context_files_are_a_dict_from_path_to_text() {
    let t = TempDir::new("files");
    t.write("notes/b.txt", b"bravo text");
    t.write("a.txt", b"alpha");
    let srv = server(
        "FINAL(type(context).__name__ + ' ' + repr(list(context)) + ' ' + context['notes/b.txt'])",
    )
    .await;
    let out = rlm(
        &srv,
        t.path(),
        &["--quiet", "-c", "./notes/b.txt", "--context-file", "a.txt"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "dict ['a.txt', 'notes/b.txt'] bravo text\n",
        "sorted keys, as given without ./"
    );
    let prompt = first_prompt(&srv);
    assert!(
        prompt.contains("a dict of 2 documents")
            && prompt.contains("15 total characters")
            && prompt.contains("the largest, \"notes/b.txt\", has 10 characters"),
        "{prompt}"
    );
    // One file stays a plain string.
    let srv = server("FINAL(type(context).__name__ + ':' + context)").await;
    let out = rlm(&srv, t.path(), &["--quiet", "-c", "a.txt"]).await;
    assert_eq!(stdout(&out), "str:alpha\n", "{}", stderr(&out));
}

#[tokio::test]
async fn a_context_dir_respects_ignore_rules_and_skips_binary_files() {
    let t = project();
    for sandbox in ["monty", "python"] {
        let srv = server("FINAL(','.join(context) + '|' + context['latin1.txt'].strip())").await;
        let out = rlm(
            &srv,
            t.path(),
            &["--context-dir", t.str(), "--sandbox", sandbox],
        )
        .await;
        assert!(out.status.success(), "{sandbox}: {}", stderr(&out));
        assert_eq!(
            stdout(&out),
            "README.md,latin1.txt,src/main.rs,src/util.rs|caf\u{fffd}\n",
            "{sandbox}"
        );
        let err = stderr(&out);
        assert!(
            err.contains("[rlm] loaded 4 documents")
                && err.contains("skipped 1 binary file: logo.png"),
            "{err}"
        );
        assert!(
            err.contains("[rlm] warning: latin1.txt is not valid UTF-8"),
            "{err}"
        );
        let prompt = first_prompt(&srv);
        assert!(prompt.contains("a dict of 4 documents"), "{prompt}");
        assert!(prompt.contains("the largest, \"src/main.rs\""), "{prompt}");
    }
}

#[tokio::test]
async fn include_exclude_and_no_ignore() {
    let t = project();
    let srv = server("FINAL(','.join(context))").await;
    let out = in_dir(&srv, &t, &["--include", "*.rs"]).await;
    assert_eq!(
        stdout(&out),
        "src/main.rs,src/util.rs\n",
        "{}",
        stderr(&out)
    );
    let out = in_dir(&srv, &t, &["--include", "src/**", "--exclude", "util.rs"]).await;
    assert_eq!(stdout(&out), "src/main.rs\n", "{}", stderr(&out));
    let out = in_dir(&srv, &t, &["--exclude", "src", "--exclude", "*.txt"]).await;
    assert_eq!(stdout(&out), "README.md\n", "{}", stderr(&out));
    let out = in_dir(&srv, &t, &["--no-ignore", "--exclude", "*.rs"]).await;
    assert_eq!(
        stdout(&out),
        ".env,.gitignore,README.md,build/out.txt,debug.log,latin1.txt\n",
        "{}",
        stderr(&out)
    );
    // Nothing left: a clear error naming the directory, before any request.
    let before = srv.requests().len();
    let out = in_dir(&srv, &t, &["--include", "*.nothing"]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("no text files in") && stderr(&out).contains("--no-ignore"),
        "{}",
        stderr(&out)
    );
    let out = in_dir(&srv, &t, &["--include", "a["]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid glob \"a[\""),
        "{}",
        stderr(&out)
    );
    assert_eq!(srv.requests().len(), before);
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_loop_is_not_followed() {
    let t = TempDir::new("loop");
    t.write("a/x.txt", b"x");
    std::os::unix::fs::symlink(t.path().join("a"), t.path().join("a/again")).unwrap();
    let srv = server("FINAL(','.join(context))").await;
    let out = rlm(&srv, t.path(), &["--quiet", "--context-dir", "."]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "a/x.txt\n");
    assert!(
        stderr(&out).contains("[rlm] warning: not followed:") && stderr(&out).contains("loop"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_json_context_is_its_value() {
    let t = TempDir::new("json");
    t.write(
        "users.json",
        br#"{"users": [{"name": "ada", "langs": ["en", "fr"]}]}"#,
    );
    t.write("bad.json", b"{oops");
    for sandbox in ["monty", "python"] {
        let srv =
            server("FINAL(context['users'][0]['name'] + str(len(context['users'][0]['langs'])))")
                .await;
        let out = rlm(
            &srv,
            t.path(),
            &[
                "--quiet",
                "--context-json",
                "users.json",
                "--sandbox",
                sandbox,
            ],
        )
        .await;
        assert!(out.status.success(), "{sandbox}: {}", stderr(&out));
        assert_eq!(stdout(&out), "ada2\n", "{sandbox}");
    }
    let srv = server("FINAL('x')").await;
    let out = rlm(&srv, t.path(), &["--context-json", "bad.json"]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).starts_with("error: bad.json is not valid JSON"),
        "{}",
        stderr(&out)
    );
    assert_eq!(srv.requests().len(), 0);
}

#[tokio::test]
async fn bad_context_flags_are_usage_errors_without_traffic() {
    let t = project();
    let srv = server("FINAL('x')").await;
    // No context at all.
    let out = rlm(&srv, t.path(), &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--context-file FILE")
            && stderr(&out).contains("--context-dir DIR")
            && stderr(&out).contains("--context-json FILE"),
        "{}",
        stderr(&out)
    );
    // Two kinds of source, or a filter without a directory.
    for flags in [
        &["-c", "README.md", "--context-dir", "."][..],
        &["--context-dir", ".", "--context-json", "x.json"],
        &["-c", "README.md", "--include", "*.rs"],
        &["-c", "README.md", "--no-ignore"],
    ] {
        let out = rlm(&srv, t.path(), flags).await;
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", stderr(&out));
    }
    // Standard input with other files.
    let out = rlm(&srv, t.path(), &["-c", "-", "-c", "README.md"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("standard input"), "{}", stderr(&out));
    // A missing directory names it.
    let out = rlm(&srv, t.path(), &["--context-dir", "no-such-dir"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-dir"), "{}", stderr(&out));
    // One of several files missing names it.
    let out = rlm(&srv, t.path(), &["-c", "README.md", "-c", "gone.txt"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read context file gone.txt"),
        "{}",
        stderr(&out)
    );
    assert_eq!(srv.requests().len(), 0);
}
