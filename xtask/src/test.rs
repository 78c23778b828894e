//! `cargo xtask test`: every test of the workspace, doc tests included, with all features.
//!
//! With cargo-nextest installed: `cargo nextest run` (with `--profile ci` when `CI` is set, see
//! `.config/nextest.toml`), then `cargo test --doc`, since nextest does not run doc tests.
//! Without it: `cargo test`, which runs both. Then each feature of the facade builds and tests
//! on its own (`cargo test -p recursive-lm --no-default-features --features F --lib --tests`,
//! sharing the target directory), so a feature that only compiles next to another is caught.
//! Every step runs even when an earlier one fails, and the task fails when any does.
//!
//! First it makes the Python test venv (`scripts/python-env.sh`, pinned packages from PyPI,
//! reused while `scripts/python-requirements.txt` is unchanged) and hands its interpreter to
//! the tests in `RLM_TEST_PYTHON`; tests that need Python fail without it. Last, when the
//! selection includes the Python package (`rlm-python`), its wheel is built into that venv and
//! its pytest suite runs ([`crate::python`]).

use anyhow::{Result, bail};

use crate::cmd;
use crate::metadata::{self, Workspace};

/// The facade, whose features must each build and test alone.
const FACADE: &str = "recursive-lm";
/// Facade features tested alone, with the workspace member each needs (`None`: always there).
const FACADE_FEATURES: &[(&str, Option<&str>)] = &[
    ("openai", None),
    ("anthropic", None),
    ("gemini", None),
    ("monty", None),
    ("python", Some("rlm-repl-python")),
    ("otlp", Some("rlm-otlp")),
];

/// The arguments split into package selection (given to every step) and the rest (given to
/// the test runner only: nextest's flags are not `cargo test --doc`'s).
#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    packages: Vec<String>,
    excluded: Vec<String>,
    rest: Vec<String>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Args> {
        let mut out = Args::default();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let arg = arg.as_str();
            if arg == "--" {
                out.rest.push(arg.to_owned());
                out.rest.extend(iter.by_ref().cloned());
            } else if arg == "--workspace" {
                // The default.
            } else if let Some(list) = selection(arg, &mut out) {
                match iter.next() {
                    Some(value) => list.push(value.clone()),
                    None => bail!("`{arg}` needs a package name"),
                }
            } else if let Some(value) = arg.strip_prefix("--package=") {
                out.packages.push(value.to_owned());
            } else if let Some(value) = arg.strip_prefix("--exclude=") {
                out.excluded.push(value.to_owned());
            } else if let Some(value) = arg.strip_prefix("-p").filter(|v| !v.is_empty()) {
                out.packages.push(value.to_owned());
            } else {
                out.rest.push(arg.to_owned());
            }
        }
        if !out.packages.is_empty() && !out.excluded.is_empty() {
            bail!("`--exclude` goes with the whole workspace, not with `-p`");
        }
        Ok(out)
    }

    /// Cargo's package selection flags: `--workspace` unless packages were named.
    fn scope(&self) -> Vec<String> {
        if self.packages.is_empty() {
            let mut scope = vec!["--workspace".to_owned()];
            for name in &self.excluded {
                scope.extend(["--exclude".to_owned(), name.clone()]);
            }
            scope
        } else {
            self.packages
                .iter()
                .flat_map(|name| ["--package".to_owned(), name.clone()])
                .collect()
        }
    }

    /// Whether the selection includes the facade (the whole workspace, or `-p recursive-lm`).
    fn has_facade(&self) -> bool {
        self.selects(FACADE)
    }

    /// Whether the selection includes `name` (the whole workspace, or `-p name`).
    fn selects(&self, name: &str) -> bool {
        if self.packages.is_empty() {
            !self.excluded.iter().any(|n| n == name)
        } else {
            self.packages.iter().any(|n| n == name)
        }
    }

    /// Whether the selection has a library, hence possibly doc tests. (`cargo test --doc`
    /// fails on a selection without one.) Unknown names, such as `name@version` specs, are
    /// assumed to have one and left to cargo.
    fn has_doc_tests(&self, ws: &Workspace) -> bool {
        if self.packages.is_empty() {
            ws.members
                .iter()
                .any(|p| p.has_lib && !self.excluded.contains(&p.name))
        } else {
            self.packages
                .iter()
                .any(|name| ws.member(name).is_none_or(|p| p.has_lib))
        }
    }
}

/// `--package` and `--exclude` (and `-p`), whose value is the next argument.
fn selection<'a>(arg: &str, args: &'a mut Args) -> Option<&'a mut Vec<String>> {
    match arg {
        "-p" | "--package" => Some(&mut args.packages),
        "--exclude" => Some(&mut args.excluded),
        _ => None,
    }
}

/// The facade features to test alone: all of [`FACADE_FEATURES`] whose member exists.
fn facade_features(ws: &Workspace) -> Vec<&'static str> {
    FACADE_FEATURES
        .iter()
        .filter(|(_, member)| member.is_none_or(|m| ws.member(m).is_some()))
        .map(|(feature, _)| *feature)
        .collect()
}

/// Runs the facade's tests once per feature, that feature alone; returns the failed features.
fn test_features_alone(ws: &Workspace) -> Vec<String> {
    let mut failed = Vec::new();
    for feature in facade_features(ws) {
        let mut test = cmd::cargo();
        test.args(["test", "--package", FACADE, "--no-default-features"])
            .args(["--features", feature, "--lib", "--tests", "--no-fail-fast"]);
        if let Err(err) = cmd::run(&mut test) {
            eprintln!("error: {err:#}");
            failed.push(format!("feature `{feature}` alone"));
        }
    }
    failed
}

pub fn run(raw: &[String]) -> Result<()> {
    let args = Args::parse(raw)?;
    let ws = metadata::load()?;
    let scope = args.scope();
    let mut failures: Vec<String> = Vec::new();
    let python = python_env(&mut failures);
    let python_only =
        !args.packages.is_empty() && args.packages.iter().all(|p| p == crate::python::PACKAGE);

    if python_only {
        eprintln!(
            "{} has no Rust tests: only its pytest suite runs",
            crate::python::PACKAGE
        );
    } else if !cmd::succeeds(cmd::cargo().args(["nextest", "--version"])) {
        eprintln!("cargo-nextest is not installed: using cargo test");
        let mut test = cmd::cargo();
        with_python(&mut test, python.as_deref());
        test.arg("test")
            .args(&scope)
            .args(["--all-features", "--no-fail-fast"])
            .args(&args.rest);
        if let Err(err) = cmd::run(&mut test) {
            eprintln!("error: {err:#}");
            failures.push("tests".into());
        }
    } else {
        run_nextest(&args, &ws, &scope, python.as_deref(), &mut failures);
    }

    if args.has_facade() {
        failures.extend(test_features_alone(&ws));
    }

    if args.selects(crate::python::PACKAGE) && ws.member(crate::python::PACKAGE).is_some() {
        match python.as_deref() {
            Some(python) => {
                if let Err(err) = crate::python::test(python) {
                    eprintln!("error: {err:#}");
                    failures.push("the Python package's tests".into());
                }
            }
            None => failures.push("the Python package's tests (no venv)".into()),
        }
    }

    if !failures.is_empty() {
        bail!("{} failed", failures.join(" and "));
    }
    Ok(())
}

/// The test venv's python (`scripts/python-env.sh`), or a recorded failure.
fn python_env(failures: &mut Vec<String>) -> Option<String> {
    let mut script = std::process::Command::new("bash");
    script.arg("scripts/python-env.sh");
    match cmd::read(&mut script) {
        Ok(path) => Some(path.trim().to_owned()),
        Err(err) => {
            eprintln!("error: {err:#}");
            failures.push("the Python test venv".into());
            None
        }
    }
}

/// Passes the venv's python to the tests (`RLM_TEST_PYTHON`).
fn with_python(cmd: &mut std::process::Command, python: Option<&str>) {
    if let Some(python) = python {
        cmd.env("RLM_TEST_PYTHON", python);
    }
}

/// `cargo nextest run`, then the doc tests.
fn run_nextest(
    args: &Args,
    ws: &Workspace,
    scope: &[String],
    python: Option<&str>,
    failures: &mut Vec<String>,
) {
    let mut nextest = cmd::cargo();
    with_python(&mut nextest, python);
    nextest
        .args(["nextest", "run"])
        .args(scope)
        .args(["--all-features", "--no-fail-fast"]);
    if std::env::var_os("CI").is_some() {
        nextest.args(["--profile", "ci"]);
    }
    nextest.args(&args.rest);
    if let Err(err) = cmd::run(&mut nextest) {
        eprintln!("error: {err:#}");
        failures.push("tests".into());
    }

    if args.has_doc_tests(ws) {
        let mut doc = cmd::cargo();
        with_python(&mut doc, python);
        doc.arg("test")
            .args(scope)
            .args(["--all-features", "--doc", "--no-fail-fast"]);
        if let Err(err) = cmd::run(&mut doc) {
            eprintln!("error: {err:#}");
            failures.push("doc tests".into());
        }
    } else {
        eprintln!("no library in the selection: no doc tests to run");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Package;

    fn check(args: &[&str], expected_scope: &[&str], expected_rest: &[&str]) {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let parsed = Args::parse(&args).unwrap();
        assert_eq!(parsed.scope(), expected_scope);
        assert_eq!(parsed.rest, expected_rest);
    }

    #[test]
    fn splits_package_selection_from_runner_arguments() {
        check(&[], &["--workspace"], &[]);
        check(
            &["-p", "rlm-core", "--package=xtask", "-prlm-limits", "parse"],
            &[
                "--package",
                "rlm-core",
                "--package",
                "xtask",
                "--package",
                "rlm-limits",
            ],
            &["parse"],
        );
        check(
            &["--workspace", "--exclude", "rlm-cli", "--", "-p", "x"],
            &["--workspace", "--exclude", "rlm-cli"],
            &["--", "-p", "x"],
        );
        check(&["-E", "test(foo)"], &["--workspace"], &["-E", "test(foo)"]);
    }

    #[test]
    fn rejects_incomplete_or_contradictory_selection() {
        assert!(Args::parse(&["-p".to_owned()]).is_err());
        let both = ["-p", "a", "--exclude", "b"].map(str::to_owned);
        assert!(Args::parse(&both).is_err());
    }

    #[test]
    fn facade_features_are_tested_alone_when_the_facade_is_selected() {
        let parse =
            |a: &[&str]| Args::parse(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert!(parse(&[]).unwrap().has_facade());
        assert!(parse(&["-p", "recursive-lm"]).unwrap().has_facade());
        assert!(!parse(&["-p", "rlm-core"]).unwrap().has_facade());
        assert!(!parse(&["--exclude", "recursive-lm"]).unwrap().has_facade());

        let member = |name: &str| Package {
            name: name.to_owned(),
            ..Package::default()
        };
        let without_python = Workspace {
            members: vec![member("recursive-lm")],
        };
        assert_eq!(
            facade_features(&without_python),
            ["openai", "anthropic", "gemini", "monty"]
        );
        let with_python = Workspace {
            members: vec![member("recursive-lm"), member("rlm-repl-python")],
        };
        assert_eq!(
            facade_features(&with_python),
            ["openai", "anthropic", "gemini", "monty", "python"]
        );
        let with_otlp = Workspace {
            members: vec![member("recursive-lm"), member("rlm-otlp")],
        };
        assert_eq!(
            facade_features(&with_otlp),
            ["openai", "anthropic", "gemini", "monty", "otlp"]
        );
    }

    #[test]
    fn doc_tests_need_a_library() {
        let member = |name: &str, has_lib| Package {
            name: name.to_owned(),
            has_lib,
            ..Package::default()
        };
        let ws = Workspace {
            members: vec![member("rlm-core", true), member("xtask", false)],
        };
        let parse =
            |a: &[&str]| Args::parse(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert!(parse(&[]).unwrap().has_doc_tests(&ws));
        assert!(!parse(&["-p", "xtask"]).unwrap().has_doc_tests(&ws));
        assert!(
            !parse(&["--exclude", "rlm-core"])
                .unwrap()
                .has_doc_tests(&ws)
        );
        assert!(
            parse(&["-p", "xtask", "-p", "rlm-core"])
                .unwrap()
                .has_doc_tests(&ws)
        );
        assert!(parse(&["-p", "other@1.0.0"]).unwrap().has_doc_tests(&ws));
    }
}
