//! `Context` from files, folders and JSON: keys, order, ignore rules, globs, binary and
//! non-UTF-8 files, symbolic link loops, and typed errors naming the path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rlm::{Context, ContextError, DirOptions, ReplValue};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rlm-ctx-{name}-{}-{}",
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
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The keys and texts of a dict context.
fn docs(context: &Context) -> Vec<(String, String)> {
    let ReplValue::Dict(pairs) = context.value() else {
        panic!("not a dict: {:?}", context.value().type_name())
    };
    pairs
        .iter()
        .map(|(k, v)| match (k, v) {
            (ReplValue::Str(k), ReplValue::Str(v)) => (k.clone(), v.clone()),
            other => panic!("not text: {other:?}"),
        })
        .collect()
}

fn keys(context: &Context) -> Vec<String> {
    docs(context).into_iter().map(|(k, _)| k).collect()
}

/// A small project: sources, docs, an ignored build dir and log, a hidden file, a binary file
/// and a Latin-1 file.
fn project() -> TempDir {
    let t = TempDir::new("project");
    t.write(".gitignore", b"build/\n*.log\n");
    t.write("src/main.rs", b"fn main() {}\n");
    t.write("src/lib/util.rs", b"pub fn util() {}\n");
    t.write("README.md", b"# readme\n");
    t.write("docs/guide.md", b"guide\n");
    t.write("build/out.txt", b"built\n");
    t.write("debug.log", b"log line\n");
    t.write(".env", b"SECRET=1\n");
    t.write("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR");
    t.write("latin1.txt", b"caf\xe9\n");
    t
}

#[test]
fn one_file_is_a_string_and_several_are_a_sorted_dict() {
    let t = TempDir::new("files");
    let b = t.write("b.txt", b"bee");
    let a = t.write("sub/a.txt", b"ay");
    let one = Context::from_files([&b]).unwrap();
    assert_eq!(one.value(), &ReplValue::Str("bee".into()));

    let base = t.path().display().to_string();
    let many = Context::from_files([&b, &a, &b]).unwrap();
    assert_eq!(
        docs(&many),
        vec![
            (format!("{base}/b.txt"), "bee".to_string()),
            (format!("{base}/sub/a.txt"), "ay".to_string()),
        ],
        "keys as given, sorted, a repeated path once"
    );
}

#[test]
fn a_missing_file_is_a_typed_error_naming_it() {
    let t = TempDir::new("missing");
    let ok = t.write("ok.txt", b"fine");
    let missing = t.path().join("nope.txt");
    let err = Context::from_files([&ok, &missing]).unwrap_err();
    match &err {
        ContextError::Read { path, source } => {
            assert_eq!(path, &missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("nope.txt"), "{err}");
    assert!(matches!(
        Context::from_files(Vec::<PathBuf>::new()),
        Err(ContextError::NoFiles)
    ));
}

#[test]
fn a_directory_respects_gitignore_and_hidden_files_and_skips_binary_files() {
    let t = project();
    let loaded = Context::load_dir(t.path(), &DirOptions::default()).unwrap();
    assert_eq!(
        keys(&loaded.context),
        vec![
            "README.md",
            "docs/guide.md",
            "latin1.txt",
            "src/lib/util.rs",
            "src/main.rs"
        ],
        "relative, /-separated, sorted; .gitignore'd, hidden and binary files left out"
    );
    let texts = docs(&loaded.context);
    assert_eq!(texts[4].1, "fn main() {}\n");
    assert_eq!(texts[2].1, "caf\u{fffd}\n", "invalid UTF-8 replaced");
    assert_eq!(loaded.report.documents, 5);
    assert_eq!(loaded.report.skipped_binary, vec!["logo.png".to_string()]);
    assert_eq!(loaded.report.lossy, vec!["latin1.txt".to_string()]);
    let text_bytes: usize = texts.iter().map(|(_, v)| v.len()).sum();
    assert_eq!(loaded.report.bytes, text_bytes as u64);
}

#[test]
fn no_ignore_reads_ignored_and_hidden_files() {
    let t = project();
    let options = DirOptions {
        ignore: false,
        ..DirOptions::default()
    };
    let context = Context::from_dir(t.path(), &options).unwrap();
    let keys = keys(&context);
    for key in [
        ".env",
        ".gitignore",
        "build/out.txt",
        "debug.log",
        "src/main.rs",
    ] {
        assert!(keys.contains(&key.to_string()), "{key} in {keys:?}");
    }
    assert!(
        !keys.contains(&"logo.png".to_string()),
        "binary still skipped"
    );
}

#[test]
fn include_and_exclude_globs_filter_by_relative_path() {
    let t = project();
    let check = |include: &[&str], exclude: &[&str], expected: &[&str]| {
        let options = DirOptions {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            ignore: true,
        };
        let context = Context::from_dir(t.path(), &options).unwrap();
        assert_eq!(
            keys(&context),
            expected,
            "include {include:?} exclude {exclude:?}"
        );
    };
    check(&["*.rs"], &[], &["src/lib/util.rs", "src/main.rs"]);
    check(&["src/*.rs"], &[], &["src/main.rs"]);
    check(&["src/**"], &["lib"], &["src/main.rs"]);
    check(
        &["*.md", "*.rs"],
        &["docs/**"],
        &["README.md", "src/lib/util.rs", "src/main.rs"],
    );
    check(&[], &["src", "*.txt"], &["README.md", "docs/guide.md"]);

    let bad = DirOptions {
        include: vec!["a[".into()],
        ..DirOptions::default()
    };
    let err = Context::from_dir(t.path(), &bad).unwrap_err();
    assert!(
        matches!(&err, ContextError::Glob { glob, .. } if glob == "a["),
        "{err:?}"
    );
    let none = DirOptions {
        include: vec!["*.nothing".into()],
        ..DirOptions::default()
    };
    let err = Context::from_dir(t.path(), &none).unwrap_err();
    assert!(matches!(&err, ContextError::NoDocuments { .. }), "{err:?}");
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_followed_but_never_a_loop() {
    let t = TempDir::new("links");
    t.write("real/a.txt", b"a");
    let outside = TempDir::new("outside");
    outside.write("o.txt", b"outside");
    std::os::unix::fs::symlink(t.path().join("real"), t.path().join("real/loop")).unwrap();
    std::os::unix::fs::symlink(outside.path(), t.path().join("linked")).unwrap();
    std::os::unix::fs::symlink(t.path().join("gone"), t.path().join("broken")).unwrap();
    let loaded = Context::load_dir(t.path(), &DirOptions::default()).unwrap();
    assert_eq!(keys(&loaded.context), vec!["linked/o.txt", "real/a.txt"]);
    assert_eq!(loaded.report.skipped_links.len(), 2, "{:?}", loaded.report);
    assert!(
        loaded
            .report
            .skipped_links
            .iter()
            .any(|l| l.contains("loop")),
        "{:?}",
        loaded.report
    );
}

#[test]
fn a_file_is_not_a_directory() {
    let t = TempDir::new("notdir");
    let f = t.write("f.txt", b"x");
    let err = Context::from_dir(&f, &DirOptions::default()).unwrap_err();
    assert!(matches!(&err, ContextError::NotADirectory { path } if path == &f));
    let err = Context::from_dir(t.path().join("absent"), &DirOptions::default()).unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
}

#[test]
fn json_contexts() {
    let t = TempDir::new("json");
    let f = t.write(
        "data.json",
        br#"{"users": [{"name": "ada", "age": 36}], "n": 2}"#,
    );
    let context = Context::from_json_file(&f).unwrap();
    assert_eq!(context.value().type_name(), "dict");
    assert_eq!(
        context.value().repr(),
        "{'n': 2, 'users': [{'age': 36, 'name': 'ada'}]}",
        "serde_json's maps are sorted by key"
    );
    assert_eq!(
        Context::from_json("[1, 2]").unwrap().value().repr(),
        "[1, 2]"
    );
    let bad = t.write("bad.json", b"{nope");
    let err = Context::from_json_file(&bad).unwrap_err();
    assert!(
        matches!(&err, ContextError::Json { path, .. } if path == &bad),
        "{err:?}"
    );
    assert!(err.to_string().contains("line 1"), "{err}");
}
