//! Releasing: `cargo xtask bump` (in `release/bump.rs`) and `cargo xtask publish [--dry-run]`.
//!
//! `publish` first checks what crates.io requires or shows of every publishable member
//! (description, license, repository, an existing readme, keywords, versioned internal
//! dependencies, no unpublished normal dependency), prints the members in dependency order,
//! then runs one `cargo publish` over all of them (cargo ≥ 1.90 publishes several packages at
//! once and, for `--dry-run`, verifies each against the others through a local overlay
//! registry). The real publish refuses to run on a dirty git tree.

mod bump;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use anyhow::{Result, bail};

use crate::cmd;
use crate::metadata::{self, Workspace};

pub fn bump(args: &[String]) -> Result<()> {
    bump::run(args)
}

pub fn publish(args: &[String]) -> Result<()> {
    let dry_run = match args {
        [] => false,
        [flag] if flag == "--dry-run" => true,
        _ => bail!("usage: cargo xtask publish [--dry-run]"),
    };
    let ws = metadata::load()?;
    let problems = metadata_problems(&ws);
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("  {problem}");
        }
        bail!(
            "{} problem(s) in the publishable crates' metadata (see above)",
            problems.len()
        );
    }
    let order = publish_order(&ws)?;
    if order.is_empty() {
        bail!("the workspace has no publishable crate");
    }
    eprintln!("publish order: {}", order.join(", "));

    if !dry_run {
        let status = cmd::read(Command::new("git").args(["status", "--porcelain"]))?;
        if !status.trim().is_empty() {
            bail!("the git tree is not clean; commit or stash first:\n{status}");
        }
    }
    let mut publish = cmd::cargo();
    publish.arg("publish");
    for name in &order {
        publish.args(["--package", name]);
    }
    if dry_run {
        publish.args(["--dry-run", "--allow-dirty"]);
    }
    cmd::run(&mut publish)
}

/// What would make crates.io reject a publishable member, or show it badly.
fn metadata_problems(ws: &Workspace) -> Vec<String> {
    let mut out = Vec::new();
    for p in ws.members.iter().filter(|p| p.publishable) {
        let name = &p.name;
        let blank = |field: &Option<String>| field.as_deref().is_none_or(|v| v.trim().is_empty());
        if blank(&p.description) {
            out.push(format!("{name}: no `description` (crates.io requires one)"));
        }
        if blank(&p.license) && blank(&p.license_file) {
            out.push(format!(
                "{name}: no `license` or `license-file` (crates.io requires one)"
            ));
        }
        if blank(&p.repository) {
            out.push(format!("{name}: no `repository`"));
        }
        match p.readme.as_deref() {
            None => out.push(format!(
                "{name}: no `readme` (its crates.io page would be empty)"
            )),
            Some(readme) => {
                let dir = p.manifest_path.parent().unwrap_or(&p.manifest_path);
                if !dir.join(readme).is_file() {
                    out.push(format!(
                        "{name}: `readme = \"{readme}\"` does not exist (cargo package fails)"
                    ));
                }
            }
        }
        if p.keywords.len() > 5 {
            out.push(format!(
                "{name}: {} keywords, crates.io takes at most 5",
                p.keywords.len()
            ));
        }
        for keyword in &p.keywords {
            let valid = keyword.len() <= 20
                && keyword.starts_with(|c: char| c.is_ascii_alphabetic())
                && keyword
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_+".contains(c));
            if !valid {
                out.push(format!("{name}: keyword `{keyword}` is not valid on crates.io (at most 20 ASCII letters, digits, `-`, `_`, `+`, starting with a letter)"));
            }
        }
        for dep in p.dependencies.iter().filter(|d| d.kind.ships()) {
            let Some(target) = ws.member(&dep.name).filter(|_| ws.is_member_dep(dep)) else {
                continue;
            };
            if !target.publishable {
                out.push(format!(
                    "{name}: depends on the unpublished {} (only a dev-dependency may)",
                    dep.name
                ));
            } else if dep.req == "*" {
                out.push(format!(
                    "{name}: the path dependency on {} has no version (give it one in \
                     [workspace.dependencies])",
                    dep.name
                ));
            }
        }
    }
    out
}

/// The publishable members, each after the members it depends on (normal and build
/// dependencies), ties in name order.
fn publish_order(ws: &Workspace) -> Result<Vec<String>> {
    let mut waiting: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for p in ws.members.iter().filter(|p| p.publishable) {
        let deps = p
            .dependencies
            .iter()
            .filter(|d| d.kind.ships() && ws.is_member_dep(d) && d.name != p.name)
            .filter(|d| ws.member(&d.name).is_some_and(|m| m.publishable))
            .map(|d| d.name.as_str())
            .collect();
        waiting.insert(p.name.as_str(), deps);
    }
    let mut order = Vec::new();
    while !waiting.is_empty() {
        let ready: Vec<&str> = waiting
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(name, _)| *name)
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = waiting.keys().copied().collect();
            bail!("dependency cycle among {}", stuck.join(", "));
        }
        for name in ready {
            waiting.remove(name);
            for deps in waiting.values_mut() {
                deps.remove(name);
            }
            order.push(name.to_owned());
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{DepKind, Dependency, Package};
    use std::path::PathBuf;

    fn package(name: &str, deps: &[(&str, DepKind, &str)]) -> Package {
        Package {
            name: name.to_owned(),
            // The xtask's own manifest directory has a Cargo.toml to stand in for a readme.
            manifest_path: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
            publishable: true,
            description: Some("d".to_owned()),
            license: Some("MIT".to_owned()),
            license_file: None,
            repository: Some("https://example.com".to_owned()),
            readme: Some("Cargo.toml".to_owned()),
            keywords: vec!["llm".to_owned()],
            has_lib: true,
            lib_name: Some(name.replace('-', "_")),
            dependencies: deps
                .iter()
                .map(|(dep, kind, req)| Dependency {
                    name: (*dep).to_owned(),
                    rename: None,
                    kind: *kind,
                    req: (*req).to_owned(),
                    path: Some(PathBuf::from("/elsewhere")),
                })
                .collect(),
        }
    }

    #[test]
    fn orders_by_dependencies_then_name() {
        let ws = Workspace {
            members: vec![
                package("recursive-lm", &[("rlm-runner", DepKind::Normal, "^0.1")]),
                package("rlm-runner", &[("rlm-core", DepKind::Normal, "^0.1")]),
                package("rlm-limits", &[("rlm-core", DepKind::Build, "^0.1")]),
                package("rlm-core", &[("recursive-lm", DepKind::Dev, "*")]),
            ],
        };
        assert_eq!(
            publish_order(&ws).unwrap(),
            ["rlm-core", "rlm-limits", "rlm-runner", "recursive-lm"]
        );
        let cycle = Workspace {
            members: vec![
                package("a", &[("b", DepKind::Normal, "^0.1")]),
                package("b", &[("a", DepKind::Normal, "^0.1")]),
            ],
        };
        assert!(publish_order(&cycle).is_err());
    }

    #[test]
    fn reports_missing_metadata() {
        let mut bare = package(
            "bare",
            &[
                ("helper", DepKind::Normal, "*"),
                ("good", DepKind::Normal, "*"),
                ("helper", DepKind::Dev, "*"),
            ],
        );
        bare.description = None;
        bare.license = Some(" ".to_owned());
        bare.repository = None;
        bare.readme = Some("README.md".to_owned());
        bare.keywords = ["a", "b", "c", "d", "e", "language-models-are-fun"]
            .map(str::to_owned)
            .to_vec();
        let mut helper = package("helper", &[]);
        helper.publishable = false;
        helper.description = None;
        let ws = Workspace {
            members: vec![bare, package("good", &[]), helper],
        };
        assert_eq!(
            metadata_problems(&ws),
            [
                "bare: no `description` (crates.io requires one)",
                "bare: no `license` or `license-file` (crates.io requires one)",
                "bare: no `repository`",
                "bare: `readme = \"README.md\"` does not exist (cargo package fails)",
                "bare: 6 keywords, crates.io takes at most 5",
                "bare: keyword `language-models-are-fun` is not valid on crates.io (at most 20 \
                 ASCII letters, digits, `-`, `_`, `+`, starting with a letter)",
                "bare: depends on the unpublished helper (only a dev-dependency may)",
                "bare: the path dependency on good has no version (give it one in \
                 [workspace.dependencies])",
            ]
        );
    }
}
