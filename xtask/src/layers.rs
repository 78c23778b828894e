//! The layer check: the architecture invariants of docs/design.md §3, checked against
//! `cargo metadata` (as rust-analyzer checks its own).
//!
//! The rules are data: [`ROLES`] gives every workspace crate a role and each role a rank,
//! [`FORBIDDEN`] and [`ONLY_THROUGH`] add the edges the ranks alone would allow, and
//! [`EXTERNAL_BANS`] lists outside packages a crate must not pull in, even transitively.
//! [`violations`] is a pure function over an in-memory [`Graph`]; [`run`] builds that graph.
//!
//! Workspace edges come from the declared dependencies (`cargo metadata --no-deps`, so
//! optional dependencies count whatever the features). The external closure of a banned crate
//! comes from `cargo tree -p CRATE -e normal --all-features --target all`: that is cargo's
//! resolved graph for that crate alone. The workspace-wide `resolve` of `cargo metadata` unifies
//! features across all members, so once the CLI turns on tokio's runtime every crate would
//! appear to have it, and the check would fail for the wrong reason.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Result, bail};

use crate::cmd;
use crate::metadata::{self, DepKind};

/// What a workspace crate is, which fixes its rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Core,
    Limits,
    /// `rlm-http`: the one HTTP transport under the providers.
    Http,
    Provider,
    ReplBackend,
    Runner,
    /// `rlm-trajectory`: records runs, above the runner and below the facade.
    Trajectory,
    /// `rlm-otlp`: exports the runtime's spans over OTLP, beside the trajectory and under the
    /// facade.
    Telemetry,
    Facade,
    /// `rlm-server`: the OpenEnv environment server, above the facade and under the CLI.
    Server,
    Cli,
    /// `rlm-python`: the Python package's native module, a binding beside the CLI.
    Binding,
    /// Unpublished helpers (`rlm-testkit`, `rlm-tests`, `rlm-bench`, `xtask`): not ranked, may
    /// depend on anything, and are never a normal dependency of a publishable crate.
    Helper,
}

impl Role {
    /// Normal and build dependencies go to strictly lower ranks only.
    fn rank(self) -> Option<u8> {
        match self {
            Role::Core => Some(0),
            Role::Limits => Some(1),
            Role::Http => Some(2),
            Role::Provider | Role::ReplBackend => Some(3),
            Role::Runner => Some(4),
            Role::Trajectory | Role::Telemetry => Some(5),
            Role::Facade => Some(6),
            Role::Server => Some(7),
            Role::Cli | Role::Binding => Some(8),
            Role::Helper => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Core => "core",
            Role::Limits => "limits",
            Role::Http => "HTTP transport",
            Role::Provider => "provider",
            Role::ReplBackend => "REPL backend",
            Role::Runner => "runner",
            Role::Trajectory => "trajectory",
            Role::Telemetry => "telemetry",
            Role::Facade => "facade",
            Role::Server => "server",
            Role::Cli => "CLI",
            Role::Binding => "Python binding",
            Role::Helper => "unpublished helper",
        })
    }
}

/// How a crate name is matched in [`ROLES`].
#[derive(Debug, Clone, Copy)]
pub enum Name {
    Exact(&'static str),
    Prefix(&'static str),
}

/// Crate names to roles; the first match wins. A workspace crate matching none is a violation:
/// add it here. A listed crate that is not in the workspace is no error (the rules can name a
/// crate before it exists).
pub const ROLES: &[(Name, Role)] = &[
    (Name::Exact("rlm-core"), Role::Core),
    (Name::Exact("rlm-limits"), Role::Limits),
    (Name::Exact("rlm-http"), Role::Http),
    (Name::Prefix("rlm-openai"), Role::Provider),
    (Name::Prefix("rlm-anthropic"), Role::Provider),
    (Name::Prefix("rlm-gemini"), Role::Provider),
    (Name::Prefix("rlm-repl-"), Role::ReplBackend),
    (Name::Exact("rlm-runner"), Role::Runner),
    (Name::Exact("rlm-trajectory"), Role::Trajectory),
    (Name::Exact("rlm-otlp"), Role::Telemetry),
    (Name::Exact("recursive-lm"), Role::Facade),
    (Name::Exact("rlm-server"), Role::Server),
    (Name::Exact("rlm-cli"), Role::Cli),
    (Name::Exact("rlm-python"), Role::Binding),
    (Name::Exact("rlm-testkit"), Role::Helper),
    (Name::Exact("rlm-tests"), Role::Helper),
    (Name::Exact("rlm-bench"), Role::Helper),
    (Name::Exact("xtask"), Role::Helper),
];

const SIBLINGS: &str = "providers and REPL backends must not depend on each other";

/// Edges between roles that the ranks would allow (or explain less well) but the design forbids.
pub const FORBIDDEN: &[(Role, Role, &str)] = &[
    (Role::Provider, Role::Provider, SIBLINGS),
    (Role::Provider, Role::ReplBackend, SIBLINGS),
    (Role::ReplBackend, Role::Provider, SIBLINGS),
    (Role::ReplBackend, Role::ReplBackend, SIBLINGS),
    (
        Role::Runner,
        Role::Provider,
        "rlm-runner is generic over the core traits and depends on no provider",
    ),
    (
        Role::Runner,
        Role::ReplBackend,
        "rlm-runner is generic over the core traits and depends on no REPL backend",
    ),
    (
        Role::Runner,
        Role::Http,
        "rlm-runner reaches models through the LanguageModel trait, never the HTTP transport",
    ),
    (
        Role::ReplBackend,
        Role::Http,
        "REPL backends make no HTTP calls; rlm-http serves the providers",
    ),
    (
        Role::Provider,
        Role::Runner,
        "providers are codecs under the runner and must not depend on it",
    ),
    (
        Role::Provider,
        Role::Trajectory,
        "providers are codecs under the runner and must not depend on rlm-trajectory",
    ),
];

/// Roles whose normal dependencies on workspace crates are limited to the listed roles.
pub const ONLY_THROUGH: &[(Role, &[Role], &str)] = &[
    (
        Role::Cli,
        &[Role::Facade, Role::Server],
        "rlm-cli depends on the workspace only through the facade (and rlm-server for `rlm serve`)",
    ),
    (
        Role::Server,
        &[Role::Facade],
        "rlm-server depends on the workspace only through the facade",
    ),
    (
        Role::Binding,
        &[Role::Facade],
        "rlm-python depends on the workspace only through the facade",
    ),
    (
        Role::Http,
        &[Role::Core, Role::Limits],
        "rlm-http depends on rlm-core and rlm-limits only",
    ),
    (
        Role::Trajectory,
        &[Role::Core, Role::Limits, Role::Runner],
        "rlm-trajectory depends on rlm-core, rlm-limits and rlm-runner only",
    ),
    (
        Role::Telemetry,
        &[Role::Core, Role::Limits],
        "rlm-otlp depends on rlm-limits (the span names) and rlm-core only",
    ),
];

/// An outside package a crate must not have in its normal dependency closure; with `features`
/// non-empty, only when one of those features is on.
#[derive(Debug, Clone, Copy)]
pub struct ExternalBan {
    pub krate: &'static str,
    pub package: &'static str,
    pub features: &'static [&'static str],
    pub reason: &'static str,
}

const CORE_IS_PURE: &str = "rlm-core holds no HTTP client and no async runtime";
const RUNNER_IS_GENERIC: &str = "rlm-runner reaches providers and REPLs only through the traits";
const LIMITS_HAS_NO_HTTP: &str = "rlm-limits holds no HTTP client: the transport is rlm-http";

pub const EXTERNAL_BANS: &[ExternalBan] = &[
    ExternalBan {
        krate: "rlm-core",
        package: "reqwest",
        features: &[],
        reason: CORE_IS_PURE,
    },
    ExternalBan {
        krate: "rlm-core",
        package: "hyper",
        features: &[],
        reason: CORE_IS_PURE,
    },
    ExternalBan {
        krate: "rlm-core",
        package: "tokio",
        features: &["rt", "rt-multi-thread"],
        reason: CORE_IS_PURE,
    },
    ExternalBan {
        krate: "rlm-limits",
        package: "reqwest",
        features: &[],
        reason: LIMITS_HAS_NO_HTTP,
    },
    ExternalBan {
        krate: "rlm-limits",
        package: "hyper",
        features: &[],
        reason: LIMITS_HAS_NO_HTTP,
    },
    ExternalBan {
        krate: "rlm-runner",
        package: "reqwest",
        features: &[],
        reason: RUNNER_IS_GENERIC,
    },
    ExternalBan {
        krate: "rlm-runner",
        package: "hyper",
        features: &[],
        reason: RUNNER_IS_GENERIC,
    },
    ExternalBan {
        krate: "rlm-runner",
        package: "monty",
        features: &[],
        reason: RUNNER_IS_GENERIC,
    },
];

/// The input of the check.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub crates: Vec<Node>,
    /// Crate name to the packages of its resolved normal dependency closure (only needed for
    /// the crates named in [`EXTERNAL_BANS`]).
    pub resolved: BTreeMap<String, Vec<Resolved>>,
}

/// A workspace crate and its dependencies on other workspace crates.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub publishable: bool,
    pub deps: Vec<(String, DepKind)>,
}

/// A package in a resolved closure, with its enabled features.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub name: String,
    pub features: Vec<String>,
}

pub fn role_of(name: &str) -> Option<Role> {
    ROLES.iter().find_map(|(pattern, role)| {
        let hit = match pattern {
            Name::Exact(exact) => name == *exact,
            Name::Prefix(prefix) => name.starts_with(prefix),
        };
        hit.then_some(*role)
    })
}

/// Every violation of the rules in `graph`, one line each.
pub fn violations(graph: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for node in &graph.crates {
        let role = role_of(&node.name);
        if role.is_none() {
            out.push(format!(
                "layer violation: {} has no layer (add it to ROLES in xtask/src/layers.rs)",
                node.name
            ));
        }
        for (dep, kind) in &node.deps {
            if !kind.ships() {
                continue;
            }
            let Some(target) = graph.crates.iter().find(|n| &n.name == dep) else {
                continue;
            };
            if let Some(reason) = edge_violation(node, role, target) {
                out.push(format!(
                    "layer violation: {} depends on {} ({reason})",
                    node.name, target.name
                ));
            }
        }
        let closure = graph.resolved.get(&node.name);
        for ban in EXTERNAL_BANS.iter().filter(|b| b.krate == node.name) {
            for package in closure.into_iter().flatten() {
                if package.name != ban.package {
                    continue;
                }
                let on: Vec<&str> = ban
                    .features
                    .iter()
                    .copied()
                    .filter(|f| package.features.iter().any(|g| g == f))
                    .collect();
                if ban.features.is_empty() {
                    out.push(format!(
                        "layer violation: {} depends on {} ({})",
                        node.name, ban.package, ban.reason
                    ));
                } else if !on.is_empty() {
                    out.push(format!(
                        "layer violation: {} depends on {} with feature {} ({})",
                        node.name,
                        ban.package,
                        on.join(", "),
                        ban.reason
                    ));
                }
            }
        }
    }
    out
}

/// Why the normal or build dependency `from -> to` is not allowed, if it is not.
fn edge_violation(from: &Node, from_role: Option<Role>, to: &Node) -> Option<String> {
    let to_role = role_of(&to.name);
    if from.publishable && (!to.publishable || to_role == Some(Role::Helper)) {
        return Some(format!(
            "{} is unpublished and must not be a normal dependency of a publishable crate",
            to.name
        ));
    }
    let (from_role, to_role) = (from_role?, to_role?);
    if from_role == Role::Helper {
        return None;
    }
    for (role, allowed, reason) in ONLY_THROUGH {
        if *role == from_role && !allowed.contains(&to_role) {
            return Some((*reason).to_owned());
        }
    }
    for (a, b, reason) in FORBIDDEN {
        if (*a, *b) == (from_role, to_role) {
            return Some((*reason).to_owned());
        }
    }
    let (from_rank, to_rank) = (from_role.rank()?, to_role.rank()?);
    (to_rank >= from_rank).then(|| {
        format!(
            "{} ({to_role}, layer {to_rank}) is not below {} ({from_role}, layer {from_rank})",
            to.name, from.name
        )
    })
}

/// `cargo xtask layers` (also the last step of `cargo xtask lint`).
pub fn run() -> Result<()> {
    let ws = metadata::load()?;
    let mut graph = Graph::default();
    for p in &ws.members {
        graph.crates.push(Node {
            name: p.name.clone(),
            publishable: p.publishable,
            deps: p
                .dependencies
                .iter()
                .filter(|d| ws.is_member_dep(d))
                .map(|d| (d.name.clone(), d.kind))
                .collect(),
        });
    }
    for ban in EXTERNAL_BANS {
        if ws.member(ban.krate).is_some() && !graph.resolved.contains_key(ban.krate) {
            graph
                .resolved
                .insert(ban.krate.to_owned(), resolved_closure(ban.krate)?);
        }
    }
    let found = violations(&graph);
    for line in &found {
        eprintln!("{line}");
    }
    if !found.is_empty() {
        bail!("{} layer violation(s)", found.len());
    }
    eprintln!("layers: ok ({} crates)", graph.crates.len());
    Ok(())
}

/// The packages and features of `krate`'s normal dependency closure, as cargo resolves them
/// when building `krate` alone with all its features, for every target platform.
fn resolved_closure(krate: &str) -> Result<Vec<Resolved>> {
    let text = cmd::read(cmd::cargo().args([
        "tree",
        "--quiet",
        "--package",
        krate,
        "--edges",
        "normal",
        "--all-features",
        "--target",
        "all",
        "--prefix",
        "none",
        "--format",
        "{p}|{f}",
    ]))?;
    Ok(parse_tree(&text))
}

/// Parses `cargo tree --prefix none --format '{p}|{f}'` lines such as
/// `tokio v1.48.0|bytes,default,rt (*)`.
fn parse_tree(text: &str) -> Vec<Resolved> {
    let mut out: Vec<Resolved> = Vec::new();
    for line in text.lines() {
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        let Some(name) = package.split_whitespace().next() else {
            continue;
        };
        let features = features.trim_end_matches("(*)").trim();
        if out
            .iter()
            .any(|r| r.name == name && r.features.join(",") == features)
        {
            continue;
        }
        out.push(Resolved {
            name: name.to_owned(),
            features: features
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests;
