//! The README's demo, exactly as README.md writes it: its `rlm run` command line is read from
//! README.md (so the two stay in sync) and run against the demo model of `rlm-demo-server`
//! (`rlm_testkit::demo`) on a free port; the answer must answer the question.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use rlm_testkit::FakeServer;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Splits a shell command line into words (double and single quotes, no escapes inside).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// The demo block of README.md: the demo server's port and the `rlm` arguments (after `--`).
fn readme_demo() -> (String, Vec<String>) {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let server = lines
        .iter()
        .position(|l| l.contains("--bin rlm-demo-server"))
        .expect("README.md starts the demo server");
    let port = shell_words(lines[server])
        .into_iter()
        .skip_while(|w| w != "--")
        .nth(1)
        .expect("a port after --");
    let mut command = String::new();
    for line in &lines[server + 1..] {
        assert!(
            !line.starts_with("```"),
            "no rlm command after the demo server"
        );
        if command.is_empty() && !line.contains("-p rlm-cli") {
            continue;
        }
        command.push_str(line.trim_end().trim_end_matches('\\'));
        command.push(' ');
        if !line.trim_end().ends_with('\\') {
            break;
        }
    }
    let words = shell_words(&command);
    let args = words
        .into_iter()
        .skip_while(|w| w != "--")
        .skip(1)
        .collect();
    (port, args)
}

#[tokio::test]
async fn the_readme_demo_answers_its_question() {
    let (port, mut args) = readme_demo();
    assert_eq!(args.first().map(String::as_str), Some("run"), "{args:?}");
    let query = args[args.iter().position(|a| a == "--query").unwrap() + 1].clone();
    let base = args.iter().position(|a| a == "--base-url").unwrap() + 1;
    assert_eq!(
        args[base],
        format!("http://127.0.0.1:{port}/v1"),
        "the run command talks to the demo server the README starts"
    );
    let server = FakeServer::start(rlm_testkit::demo::script()).await;
    args[base] = server.base_url();

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"))
        .args(&args)
        .current_dir(workspace_root())
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // A real answer: the code map's line of the crate, not the command line that asked.
    assert!(
        !answer.contains(&query),
        "the answer quotes the question: {answer}"
    );
    assert!(!answer.contains("--"), "{answer}");
    assert!(
        answer.starts_with("crates/rlm-testkit") && answer.contains("fake provider server"),
        "{answer}"
    );
}
