//! Unit tests of the tidy checks, on in-memory texts.

use super::*;
use crate::metadata::Dependency;

fn dep(key: &str, ident: &str, kind: DepKind) -> Dep {
    Dep {
        key: key.to_owned(),
        ident: ident.to_owned(),
        kind,
    }
}

fn texts(src: &[&str], dev: &[&str]) -> CrateTexts {
    CrateTexts {
        src: src.iter().map(|s| (*s).to_owned()).collect(),
        dev: dev.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn what_counts_as_a_reference() {
    let yes = [
        "use serde_json::Value;",
        "    let v = serde_json::json!({});",
        "#[derive(Debug, thiserror::Error)]",
        "use rlm;",
        "pub use rlm as facade;",
        "extern crate rlm;",
        "use rlm::{Rlm, Completion};",
        "/// [`tokio::time::pause`] stops the clock.",
        "//! use rlm::trajectory;",
        "#[tokio::test]",
    ];
    for line in yes {
        let ident = ["serde_json", "thiserror", "rlm", "tokio"]
            .into_iter()
            .find(|i| line.contains(i))
            .unwrap();
        assert!(references(line, ident), "{line}");
    }
    let no = [
        ("// tokio::spawn would work here", "tokio"),
        ("let tokio_handle = 1;", "tokio"),
        ("let x = my_tokio::spawn();", "tokio"),
        ("self::tokio::spawn()", "tokio"),
        ("the tokio runtime", "tokio"),
        ("use serde::Serialize;", "serde_json"),
        ("use rlm_core::Usage;", "rlm"),
    ];
    for (line, ident) in no {
        assert!(!references(line, ident), "{line}");
    }
}

#[test]
fn unused_dependencies_by_kind() {
    let deps = [
        dep("serde_json", "serde_json", DepKind::Normal),
        dep("tokio", "tokio", DepKind::Normal),
        dep("proptest", "proptest", DepKind::Dev),
        dep("mockall", "mockall", DepKind::Dev),
        dep("rlm-testkit", "rlm_testkit", DepKind::Dev),
        dep("cc", "cc", DepKind::Build),
    ];
    let t = texts(
        &[
            "use serde_json::Value;\n#[cfg(test)]\nmod t { use proptest::prelude::*; }",
            "fn main() { cc::Build::new(); }",
        ],
        &["use rlm_testkit::FakeServer;\n// tokio::test"],
    );
    assert_eq!(
        unused_dependencies("rlm-openai", &deps, &t),
        [
            "rlm-openai: dependency `tokio` is never used",
            "rlm-openai: dev-dependency `mockall` is never used",
        ]
    );
    // A normal dependency named only by tests is unused (it should be a dev-dependency).
    let t = texts(&["fn f() {}"], &["use serde_json::json;"]);
    assert_eq!(
        unused_dependencies("rlm-runner", &deps[..1], &t),
        ["rlm-runner: dependency `serde_json` is never used"]
    );
}

#[test]
fn import_names_follow_lib_names_and_renames() {
    let member = |name: &str, lib: &str| Package {
        name: name.to_owned(),
        lib_name: Some(lib.to_owned()),
        has_lib: true,
        ..Package::default()
    };
    let d = |name: &str, rename: Option<&str>, path: bool| Dependency {
        name: name.to_owned(),
        rename: rename.map(str::to_owned),
        kind: DepKind::Normal,
        req: "*".to_owned(),
        path: path.then(|| PathBuf::from("/w")),
    };
    let mut cli = member("rlm-cli", "rlm_cli");
    cli.dependencies = vec![
        d("recursive-lm", None, true),
        d("tracing-subscriber", None, false),
        d("serde", Some("serde-one"), false),
    ];
    let ws = Workspace {
        members: vec![member("recursive-lm", "rlm"), cli.clone()],
    };
    let idents: Vec<(String, String)> = deps_of(&cli, &ws)
        .into_iter()
        .map(|d| (d.key, d.ident))
        .collect();
    let want: Vec<(String, String)> = [
        ("recursive-lm", "rlm"),
        ("tracing-subscriber", "tracing_subscriber"),
        ("serde-one", "serde_one"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(idents, want);
}

#[test]
fn test_modules_do_not_count() {
    let mut text = String::from("//! A module.\n\nfn a() {}\n");
    text.push_str(
        "#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn t() {}\n}\n",
    );
    assert_eq!(counted_lines(&text), 3);
    text.push_str("fn after() {}\n");
    assert_eq!(counted_lines(&text), 4);
    // An attribute inside a function is not a test module.
    assert_eq!(
        counted_lines("fn f() {\n    #[cfg(test)]\n    let x = 1;\n}\n"),
        4
    );
    assert!(is_test_only("//! Tests.\n\n#![cfg(test)]\n"));
    assert!(!is_test_only("#[cfg(test)]\nmod tests;\n"));
}

#[test]
fn test_only_module_files() {
    let text = "mod a;\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\npub(crate) mod fixtures;\n";
    assert_eq!(
        test_only_children(Path::new("/w/src/lib.rs"), text),
        [
            PathBuf::from("/w/src/tests.rs"),
            PathBuf::from("/w/src/tests/mod.rs"),
            PathBuf::from("/w/src/fixtures.rs"),
            PathBuf::from("/w/src/fixtures/mod.rs"),
        ]
    );
    assert_eq!(
        test_only_children(Path::new("/w/src/layers.rs"), "#[cfg(test)]\nmod tests;\n")[0],
        PathBuf::from("/w/src/layers/tests.rs")
    );
    assert!(test_only_children(Path::new("/w/src/a.rs"), "mod tests;\n").is_empty());
}

#[test]
fn long_files_fail_unless_listed() {
    let long = "x\n".repeat(MAX_LINES + 1);
    let short = "x\n".repeat(MAX_LINES);
    let (listed, _) = LONG_FILES[0];
    let file = |p: &str, t: &str, test_only| (p.to_owned(), t.to_owned(), test_only);
    assert_eq!(
        long_files(&[
            file("crates/a/src/big.rs", &long, false),
            file("crates/a/src/fine.rs", &short, false),
            file("crates/a/src/tests.rs", &long, true),
            file(listed, &long, false),
        ]),
        [format!(
            "crates/a/src/big.rs: {} lines (over {MAX_LINES}: split it, or list it in \
             LONG_FILES in xtask/src/tidy.rs with a reason)",
            MAX_LINES + 1
        )]
    );
    // A listed file that shrank must leave the list.
    assert_eq!(
        long_files(&[file(listed, &short, false)]),
        [format!(
            "{listed}: listed in LONG_FILES but not over {MAX_LINES} lines (or gone): remove it \
             from the list"
        )]
    );
}
