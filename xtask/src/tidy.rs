//! Tidy checks (in the style of rust-analyzer's `xtask/src/tidy.rs`), run by `cargo xtask lint`
//! and `cargo xtask tidy`:
//!
//! - **Unused dependencies.** Every `[dependencies]` (and `[build-dependencies]`) entry of a
//!   workspace crate must be referenced in its `src/` or `build.rs`; every `[dev-dependencies]`
//!   entry in `tests/`, `benches/`, `examples/` or `src/`. A reference is the crate's import name
//!   (its lib name, `-` read as `_`, or the `package = ` rename) followed by `::`, or after
//!   `use`/`extern crate`; plain `//` comments do not count. [`UNUSED_DEP_EXCEPTIONS`] lists the
//!   entries that are used some other way, each with its reason.
//! - **File size.** A non-test source file (`.rs` or `.py` under a crate's `src/`) must stay at or
//!   under [`MAX_LINES`] lines, unless [`LONG_FILES`] lists it with a reason. Test code does not
//!   count: files under `tests/`, files that are `#[cfg(test)]`-only (`#[cfg(test)] mod x;` in
//!   their parent, or `#![cfg(test)]`), and a top-level `#[cfg(test)] mod tests { ... }` block.
//!
//! The checks are pure functions over file texts ([`unused_dependencies`], [`counted_lines`],
//! [`test_only_children`]); [`run`] reads the workspace from `cargo metadata` and the disk.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::metadata::{self, DepKind, Package, Workspace};

/// The most lines a non-test source file may have.
pub const MAX_LINES: usize = 600;

/// Source files allowed over [`MAX_LINES`], relative to the workspace root, with the reason.
pub const LONG_FILES: &[(&str, &str)] = &[(
    "crates/rlm-repl-python/src/driver.py",
    "the CPython driver is one protocol file: the sandbox sends a single script to python3, \
     so its framing, host-call stubs and execution loop cannot be split into modules",
)];

/// `(crate, dependency, reason)`: entries used in a way the reference search cannot see.
pub const UNUSED_DEP_EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "rlm-otlp",
    "reqwest",
    "only turns on the workspace's reqwest features (rustls) for the OTLP exporter's blocking \
     client, which opentelemetry-http builds with no TLS: without it an https collector fails \
     when no provider is compiled in",
)];

/// One declared dependency, as the check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    /// The key in the manifest (the package name, or the rename).
    pub key: String,
    /// The name the code imports it under.
    pub ident: String,
    pub kind: DepKind,
}

/// The texts of a crate's Rust files, by where they sit.
#[derive(Debug, Clone, Default)]
pub struct CrateTexts {
    /// `src/**.rs` and `build.rs`.
    pub src: Vec<String>,
    /// `tests/**.rs`, `benches/**.rs`, `examples/**.rs`.
    pub dev: Vec<String>,
}

/// The dependencies of `package` as the code names them: a workspace crate by its lib name, any
/// other by its package name with `-` read as `_`, a renamed one by its rename.
pub fn deps_of(package: &Package, ws: &Workspace) -> Vec<Dep> {
    let mut out: Vec<Dep> = Vec::new();
    for d in &package.dependencies {
        let (key, ident) = match &d.rename {
            Some(rename) => (rename.clone(), rename.replace('-', "_")),
            None => {
                let lib = ws
                    .member(&d.name)
                    .filter(|_| d.path.is_some())
                    .and_then(|m| m.lib_name.clone());
                (
                    d.name.clone(),
                    lib.unwrap_or_else(|| d.name.replace('-', "_")),
                )
            }
        };
        let dep = Dep {
            key,
            ident,
            kind: d.kind,
        };
        if !out.contains(&dep) {
            out.push(dep);
        }
    }
    out
}

/// `krate: dependency `x` is never used` for every declared dependency its code never names.
pub fn unused_dependencies(krate: &str, deps: &[Dep], texts: &CrateTexts) -> Vec<String> {
    let mut out = Vec::new();
    for dep in deps {
        let excepted = UNUSED_DEP_EXCEPTIONS
            .iter()
            .any(|(c, d, _)| *c == krate && *d == dep.key);
        if excepted {
            continue;
        }
        let mut places = texts.src.iter();
        let used = match dep.kind {
            DepKind::Normal | DepKind::Build => places.any(|t| references(t, &dep.ident)),
            DepKind::Dev => places
                .chain(texts.dev.iter())
                .any(|t| references(t, &dep.ident)),
        };
        if !used {
            let what = match dep.kind {
                DepKind::Normal => "dependency",
                DepKind::Build => "build-dependency",
                DepKind::Dev => "dev-dependency",
            };
            out.push(format!("{krate}: {what} `{}` is never used", dep.key));
        }
    }
    out
}

/// Whether Rust source `text` names the crate `ident`: `ident::`, `use ident`, or
/// `extern crate ident`, outside plain `//` comments.
pub fn references(text: &str, ident: &str) -> bool {
    text.lines().any(|line| {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") && !trimmed.starts_with("///") && !trimmed.starts_with("//!") {
            return false;
        }
        line.match_indices(ident).any(|(at, _)| {
            let before = &line[..at];
            let after = &line[at + ident.len()..];
            let starts_word = !before.ends_with(|c: char| c.is_alphanumeric() || c == '_');
            let ends_word = !after.starts_with(|c: char| c.is_alphanumeric() || c == '_');
            if !starts_word || !ends_word {
                return false;
            }
            let path_root = after.starts_with("::") && !before.ends_with("::");
            let imported =
                before.trim_end().ends_with("use") || before.trim_end().ends_with("extern crate");
            path_root || imported
        })
    })
}

/// Lines of `text` that count towards [`MAX_LINES`]: all of them but those of top-level
/// `#[cfg(test)] mod name { ... }` blocks.
pub fn counted_lines(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let mut counted = 0;
    let mut i = 0;
    while i < lines.len() {
        let opens_test_module = lines[i].trim_end() == "#[cfg(test)]"
            && lines.get(i + 1).is_some_and(|next| {
                let next = next.trim_end();
                (next.starts_with("mod ") || next.starts_with("pub(crate) mod "))
                    && next.ends_with('{')
            });
        if opens_test_module {
            // Skip to the closing brace at column 0.
            i += 2;
            while i < lines.len() && lines[i] != "}" {
                i += 1;
            }
            i += 1;
            continue;
        }
        counted += 1;
        i += 1;
    }
    counted
}

/// Whether a file's text marks the whole file as test code (`#![cfg(test)]`).
pub fn is_test_only(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "#![cfg(test)]")
}

/// The files of the modules that the Rust file `path` declares as `#[cfg(test)] mod name;`.
pub fn test_only_children(path: &Path, text: &str) -> Vec<PathBuf> {
    let dir = match path.file_name().and_then(|n| n.to_str()) {
        Some("lib.rs" | "main.rs" | "mod.rs") => path.parent().map(Path::to_path_buf),
        _ => match (path.parent(), path.file_stem()) {
            (Some(parent), Some(stem)) => Some(parent.join(stem)),
            _ => None,
        },
    };
    let Some(dir) = dir else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut out = Vec::new();
    for pair in lines.windows(2) {
        if pair[0] != "#[cfg(test)]" {
            continue;
        }
        let decl = pair[1]
            .strip_prefix("pub(crate) ")
            .or_else(|| pair[1].strip_prefix("pub "))
            .unwrap_or(pair[1]);
        if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            out.push(dir.join(format!("{name}.rs")));
            out.push(dir.join(name).join("mod.rs"));
        }
    }
    out
}

/// `path: N lines` for every counted file over [`MAX_LINES`] that [`LONG_FILES`] does not list,
/// and a line for every [`LONG_FILES`] entry that no longer needs to be there. `files` holds
/// `(path relative to the root, text, test-only)`.
pub fn long_files(files: &[(String, String, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text, test_only) in files {
        if *test_only {
            continue;
        }
        let lines = counted_lines(text);
        let listed = LONG_FILES.iter().any(|(p, _)| p == path);
        if lines > MAX_LINES && !listed {
            out.push(format!(
                "{path}: {lines} lines (over {MAX_LINES}: split it, or list it in LONG_FILES in \
                 xtask/src/tidy.rs with a reason)"
            ));
        }
    }
    for (listed, _) in LONG_FILES {
        let still_long = files
            .iter()
            .any(|(p, text, _)| p == listed && counted_lines(text) > MAX_LINES);
        if !still_long {
            out.push(format!(
                "{listed}: listed in LONG_FILES but not over {MAX_LINES} lines (or gone): remove \
                 it from the list"
            ));
        }
    }
    out
}

/// `cargo xtask tidy` (also a step of `cargo xtask lint`).
pub fn run() -> Result<()> {
    let ws = metadata::load()?;
    let root = std::env::current_dir().context("no current directory")?;
    let mut found = Vec::new();
    let mut sources = Vec::new();
    for package in &ws.members {
        let dir = package
            .manifest_path
            .parent()
            .with_context(|| format!("{} has no manifest directory", package.name))?;
        let mut texts = CrateTexts::default();
        for file in files_under(&dir.join("src"), &["rs"])? {
            texts.src.push(read(&file)?);
        }
        let build = dir.join("build.rs");
        if build.is_file() {
            texts.src.push(read(&build)?);
        }
        for sub in ["tests", "benches", "examples"] {
            for file in files_under(&dir.join(sub), &["rs"])? {
                texts.dev.push(read(&file)?);
            }
        }
        found.extend(unused_dependencies(
            &package.name,
            &deps_of(package, &ws),
            &texts,
        ));
        sources.extend(source_files(dir, &root)?);
    }
    found.extend(long_files(&sources));
    for line in &found {
        eprintln!("tidy: {line}");
    }
    if !found.is_empty() {
        bail!("{} tidy violation(s)", found.len());
    }
    eprintln!("tidy: ok ({} crates)", ws.members.len());
    Ok(())
}

/// The `.rs` and `.py` files under `dir/src`, as `(path relative to root, text, test-only)`.
fn source_files(dir: &Path, root: &Path) -> Result<Vec<(String, String, bool)>> {
    let files = files_under(&dir.join("src"), &["rs", "py"])?;
    let mut texts = Vec::new();
    let mut test_only = BTreeSet::new();
    for file in &files {
        let text = read(file)?;
        if file.extension().is_some_and(|e| e == "rs") {
            test_only.extend(test_only_children(file, &text));
        }
        texts.push(text);
    }
    Ok(files
        .iter()
        .zip(texts)
        .map(|(file, text)| {
            let only = test_only.contains(file) || is_test_only(&text);
            let shown = file.strip_prefix(root).unwrap_or(file);
            (shown.to_string_lossy().replace('\\', "/"), text, only)
        })
        .collect())
}

/// Files under `dir` (recursively, sorted) with one of `extensions`; none when `dir` is absent.
fn files_under(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("could not list {}", d.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("could not list {}", d.display()))?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))
}

#[cfg(test)]
mod tests;
