//! The workspace as `cargo metadata --format-version 1 --no-deps` describes it: members, their
//! declared dependencies and their publishing fields, parsed with `serde_json`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::cmd;

/// One workspace member.
#[derive(Debug, Clone, Default)]
pub struct Package {
    pub name: String,
    pub manifest_path: PathBuf,
    /// `false` for `publish = false` (metadata: `"publish": []`).
    pub publishable: bool,
    pub description: Option<String>,
    pub license: Option<String>,
    pub license_file: Option<String>,
    pub repository: Option<String>,
    pub readme: Option<String>,
    pub keywords: Vec<String>,
    pub has_lib: bool,
    /// The library target's crate name (`rlm` for `recursive-lm`), when there is one.
    pub lib_name: Option<String>,
    pub dependencies: Vec<Dependency>,
}

/// One declared dependency of a member.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// The package name (not the `rename`d one).
    pub name: String,
    /// The name it is imported under when the manifest renames it (`foo = { package = "bar" }`).
    pub rename: Option<String>,
    pub kind: DepKind,
    /// The version requirement (`*` when a path dependency gives none).
    pub req: String,
    /// Set for path dependencies.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepKind {
    Normal,
    Build,
    Dev,
}

impl DepKind {
    /// Normal and build dependencies end up in the published crate; dev ones are stripped.
    pub fn ships(self) -> bool {
        matches!(self, DepKind::Normal | DepKind::Build)
    }
}

/// The workspace members, in `cargo metadata` order.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub members: Vec<Package>,
}

impl Workspace {
    pub fn member(&self, name: &str) -> Option<&Package> {
        self.members.iter().find(|p| p.name == name)
    }

    /// Whether `dep` is a path dependency on another member.
    pub fn is_member_dep(&self, dep: &Dependency) -> bool {
        dep.path.is_some() && self.member(&dep.name).is_some()
    }
}

/// Runs `cargo metadata` and parses it.
pub fn load() -> Result<Workspace> {
    let json = cmd::read(cmd::cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    parse(&json)
}

pub fn parse(json: &str) -> Result<Workspace> {
    let value: Value = serde_json::from_str(json).context("cargo metadata printed invalid JSON")?;
    let members: Vec<&str> = value["workspace_members"]
        .as_array()
        .context("cargo metadata has no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = value["packages"]
        .as_array()
        .context("cargo metadata has no packages")?;
    let mut out = Workspace::default();
    for package in packages {
        let id = str_field(package, "id").unwrap_or_default();
        if members.contains(&id.as_str()) {
            out.members.push(parse_package(package)?);
        }
    }
    Ok(out)
}

fn parse_package(p: &Value) -> Result<Package> {
    let name = str_field(p, "name").context("a package has no name")?;
    let publishable = match &p["publish"] {
        Value::Array(registries) => !registries.is_empty(),
        _ => true,
    };
    let lib_target = p["targets"].as_array().and_then(|targets| {
        targets.iter().find(|t| {
            t["kind"].as_array().is_some_and(|kinds| {
                kinds
                    .iter()
                    .any(|k| matches!(k.as_str(), Some("lib" | "rlib" | "proc-macro")))
            })
        })
    });
    let has_lib = lib_target.is_some();
    let lib_name = lib_target.and_then(|t| str_field(t, "name"));
    let mut dependencies = Vec::new();
    for d in p["dependencies"].as_array().into_iter().flatten() {
        let dep_name =
            str_field(d, "name").with_context(|| format!("a dependency of {name} has no name"))?;
        let kind = match d["kind"].as_str() {
            Some("dev") => DepKind::Dev,
            Some("build") => DepKind::Build,
            _ => DepKind::Normal,
        };
        dependencies.push(Dependency {
            name: dep_name,
            rename: str_field(d, "rename"),
            kind,
            req: str_field(d, "req").unwrap_or_else(|| "*".to_owned()),
            path: str_field(d, "path").map(PathBuf::from),
        });
    }
    Ok(Package {
        manifest_path: str_field(p, "manifest_path")
            .map(PathBuf::from)
            .unwrap_or_default(),
        publishable,
        description: str_field(p, "description"),
        license: str_field(p, "license"),
        license_file: str_field(p, "license_file"),
        repository: str_field(p, "repository"),
        readme: str_field(p, "readme"),
        keywords: p["keywords"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        has_lib,
        lib_name,
        dependencies,
        name,
    })
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_members_publish_and_dependency_kinds() {
        let json = r#"{
          "workspace_members": ["path+file:///w/crates/a#0.1.0", "path+file:///w/xtask#0.0.0"],
          "packages": [
            {"name": "a", "id": "path+file:///w/crates/a#0.1.0", "version": "0.1.0",
             "manifest_path": "/w/crates/a/Cargo.toml", "publish": null,
             "description": "A", "license": "MIT", "license_file": null,
             "targets": [{"kind": ["lib"], "name": "a_lib"}],
             "dependencies": [
               {"name": "serde", "req": "^1", "kind": null, "rename": "serde1"},
               {"name": "cc", "req": "^1", "kind": "build"},
               {"name": "xtask", "req": "*", "kind": "dev", "path": "/w/xtask"}
             ]},
            {"name": "xtask", "id": "path+file:///w/xtask#0.0.0", "version": "0.0.0",
             "manifest_path": "/w/xtask/Cargo.toml", "publish": [],
             "targets": [{"kind": ["bin"]}], "dependencies": []},
            {"name": "serde", "id": "registry+https://x#serde@1.0.0", "version": "1.0.0",
             "targets": [], "dependencies": []}
          ]
        }"#;
        let ws = parse(json).unwrap();
        let names: Vec<_> = ws.members.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "xtask"]);
        let a = ws.member("a").unwrap();
        assert!(a.publishable && a.has_lib);
        assert_eq!(a.lib_name.as_deref(), Some("a_lib"));
        assert_eq!(a.dependencies[0].rename.as_deref(), Some("serde1"));
        assert_eq!(a.dependencies[1].rename, None);
        assert_eq!(a.description.as_deref(), Some("A"));
        let kinds: Vec<_> = a.dependencies.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, [DepKind::Normal, DepKind::Build, DepKind::Dev]);
        assert!(ws.is_member_dep(&a.dependencies[2]));
        assert!(!ws.is_member_dep(&a.dependencies[0]));
        let x = ws.member("xtask").unwrap();
        assert!(!x.publishable && !x.has_lib);
    }
}
