//! Golden tests: what the model is sent. `UPDATE_EXPECT=1 cargo test -p rlm-runner --test prompts`
//! rewrites the files in `tests/golden/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use rlm_core::ReplValue;
use rlm_runner::{
    ContextInfo, DEFAULT_SYSTEM_PROMPT, PromptSettings, first_user_message, system_prompt,
};

fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "missing golden file {}: {e}; run with UPDATE_EXPECT=1",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "golden file {} differs; run with UPDATE_EXPECT=1 to accept",
        path.display()
    );
}

fn settings(depth: u32, max_depth: u32) -> PromptSettings<'static> {
    PromptSettings {
        depth,
        max_depth,
        max_iterations: 30,
        sub_call_chars: 100_000,
        sandbox_capabilities: "The REPL runs a subset of Python 3 (test capabilities).",
    }
}

#[test]
fn system_prompt_default_depth_1() {
    check(
        "system_depth1.txt",
        &system_prompt(DEFAULT_SYSTEM_PROMPT, &settings(0, 1)),
    );
}

#[test]
fn system_prompt_with_children() {
    let s = system_prompt(DEFAULT_SYSTEM_PROMPT, &settings(0, 2));
    assert!(s.contains("Use them for sub-tasks that need their own exploration"));
    check("system_depth2.txt", &s);
}

#[test]
fn system_prompt_without_subcalls() {
    let s = system_prompt(DEFAULT_SYSTEM_PROMPT, &settings(0, 0));
    assert!(s.contains("Sub-calls are disabled in this run"));
}

#[test]
fn custom_system_prompt_gets_placeholders() {
    let s = system_prompt(
        "Custom. {{sandbox_capabilities}} / {{recursion_note}}",
        &settings(1, 2),
    );
    assert_eq!(
        s,
        "Custom. The REPL runs a subset of Python 3 (test capabilities). / At this depth they behave exactly like `llm_query` and `llm_query_batched`."
    );
}

#[test]
fn first_user_message_golden() {
    let info = ContextInfo::of(&ReplValue::Str("x".repeat(1234)));
    check(
        "first_user.txt",
        &first_user_message(&info, "  Find the needle.  ", 30),
    );
}

#[test]
fn custom_tools_follow_the_system_prompt() {
    use rlm_core::{Tools, tool_fn};
    use rlm_runner::with_tools;

    let base = system_prompt(DEFAULT_SYSTEM_PROMPT, &settings(0, 1));
    assert_eq!(with_tools(base.clone(), &Tools::new()), base);
    let mut tools = Tools::new();
    tools.add_function(
        "search",
        "Finds documents by keyword; returns a list of ids.",
        tool_fn(|_| async { Ok(serde_json::Value::Null) }),
    );
    tools.add_data(
        "CONFIG",
        "The index settings.",
        serde_json::json!({"k": 1}).into(),
    );
    tools.add_data("NAMES", "", serde_json::json!(["a"]).into());
    let s = with_tools(base.clone(), &tools);
    assert!(s.starts_with(&base));
    check("system_tools.txt", &s[base.len()..]);
    // A user's template places them with `{{custom_tools}}`.
    assert_eq!(
        with_tools("A{{custom_tools}}\n\nB".into(), &Tools::new()),
        "A\n\nB"
    );
    assert!(with_tools("A{{custom_tools}}\n\nB".into(), &tools).starts_with("A\n\nCustom tools"));
}
