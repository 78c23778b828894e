//! Unit tests of the layer rules, on in-memory graphs.

use super::*;

const N: DepKind = DepKind::Normal;
const B: DepKind = DepKind::Build;
const D: DepKind = DepKind::Dev;

type Spec<'a> = &'a [(&'a str, &'a [(&'a str, DepKind)])];

/// Unpublished crates are the helpers of the real workspace.
fn graph(spec: Spec<'_>) -> Graph {
    let crates = spec
        .iter()
        .map(|(name, deps)| Node {
            name: (*name).to_owned(),
            publishable: !matches!(*name, "rlm-testkit" | "rlm-tests" | "rlm-bench" | "xtask"),
            deps: deps.iter().map(|(d, k)| ((*d).to_owned(), *k)).collect(),
        })
        .collect();
    Graph {
        crates,
        resolved: BTreeMap::new(),
    }
}

fn check(graph: &Graph, expected: &[&str]) {
    assert_eq!(violations(graph), expected);
}

/// The intended workspace, with dev-dependencies that point anywhere.
const GOOD: Spec<'static> = &[
    ("rlm-core", &[("rlm-testkit", D)]),
    ("rlm-limits", &[("rlm-core", N)]),
    ("rlm-http", &[("rlm-core", N), ("rlm-limits", N)]),
    (
        "rlm-openai",
        &[
            ("rlm-core", N),
            ("rlm-limits", N),
            ("rlm-http", N),
            ("rlm-testkit", D),
        ],
    ),
    ("rlm-repl-monty", &[("rlm-core", N), ("rlm-limits", B)]),
    (
        "rlm-runner",
        &[("rlm-core", N), ("rlm-limits", N), ("rlm-openai", D)],
    ),
    (
        "rlm-trajectory",
        &[
            ("rlm-core", N),
            ("rlm-limits", N),
            ("rlm-runner", N),
            ("rlm-testkit", D),
            ("recursive-lm", D),
        ],
    ),
    (
        "recursive-lm",
        &[
            ("rlm-runner", N),
            ("rlm-trajectory", N),
            ("rlm-openai", N),
            ("rlm-repl-monty", N),
        ],
    ),
    ("rlm-cli", &[("recursive-lm", N), ("rlm-testkit", D)]),
    ("rlm-testkit", &[("rlm-core", N), ("recursive-lm", N)]),
    ("rlm-tests", &[("rlm-cli", N), ("rlm-testkit", N)]),
    ("rlm-bench", &[("rlm-testkit", N)]),
    ("xtask", &[]),
];

#[test]
fn the_intended_workspace_passes() {
    check(&graph(GOOD), &[]);
}

#[test]
fn crates_named_in_the_rules_may_be_absent() {
    // Today's workspace before `rlm-http` and `rlm-trajectory` exist.
    let without: Vec<_> = GOOD
        .iter()
        .filter(|(name, _)| !matches!(*name, "rlm-http" | "rlm-trajectory"))
        .map(|(name, deps)| {
            let deps: Vec<_> = deps
                .iter()
                .filter(|(d, _)| !matches!(*d, "rlm-http" | "rlm-trajectory"))
                .copied()
                .collect();
            (*name, deps)
        })
        .collect();
    let spec: Vec<(&str, &[(&str, DepKind)])> =
        without.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    let mut g = graph(&spec);
    // A ban on a crate that is absent is skipped too.
    g.resolved
        .insert("rlm-limits".into(), resolved(&[("tokio", &["sync"])]));
    check(&g, &[]);
    assert_eq!(role_of("rlm-http"), Some(Role::Http));
    assert_eq!(role_of("rlm-trajectory"), Some(Role::Trajectory));
    assert_eq!(role_of("rlm-otlp"), Some(Role::Telemetry));
    assert_eq!(role_of("rlm-bench"), Some(Role::Helper));
}

#[test]
fn the_new_crates_and_the_old_shortcuts() {
    check(
        &graph(&[
            ("rlm-runner", &[("rlm-http", N)]),
            ("rlm-repl-python", &[("rlm-http", N)]),
            ("rlm-http", &[("rlm-openai", N), ("rlm-core", N)]),
            ("rlm-openai", &[("rlm-runner", N), ("rlm-trajectory", N)]),
            ("rlm-core", &[]),
            ("rlm-trajectory", &[("rlm-gemini", N), ("recursive-lm", N)]),
            ("rlm-gemini", &[]),
            ("recursive-lm", &[]),
        ]),
        &[
            "layer violation: rlm-runner depends on rlm-http (rlm-runner reaches models through \
             the LanguageModel trait, never the HTTP transport)",
            "layer violation: rlm-repl-python depends on rlm-http (REPL backends make no HTTP \
             calls; rlm-http serves the providers)",
            "layer violation: rlm-http depends on rlm-openai (rlm-http depends on rlm-core and \
             rlm-limits only)",
            "layer violation: rlm-openai depends on rlm-runner (providers are codecs under the \
             runner and must not depend on it)",
            "layer violation: rlm-openai depends on rlm-trajectory (providers are codecs under \
             the runner and must not depend on rlm-trajectory)",
            "layer violation: rlm-trajectory depends on rlm-gemini (rlm-trajectory depends on \
             rlm-core, rlm-limits and rlm-runner only)",
            "layer violation: rlm-trajectory depends on recursive-lm (rlm-trajectory depends on \
             rlm-core, rlm-limits and rlm-runner only)",
        ],
    );
    // The CLI reaches the new crates only through the facade.
    check(
        &graph(&[
            (
                "rlm-cli",
                &[("recursive-lm", N), ("rlm-trajectory", N), ("rlm-http", N)],
            ),
            ("recursive-lm", &[("rlm-trajectory", N)]),
            ("rlm-trajectory", &[]),
            ("rlm-http", &[]),
        ]),
        &[
            "layer violation: rlm-cli depends on rlm-trajectory (rlm-cli depends on the \
             workspace only through the facade (and rlm-server for `rlm serve`))",
            "layer violation: rlm-cli depends on rlm-http (rlm-cli depends on the workspace only \
             through the facade (and rlm-server for `rlm serve`))",
        ],
    );
    // The bench is a helper: unpublished, never a dependency of a published crate.
    check(
        &graph(&[("recursive-lm", &[("rlm-bench", N)]), ("rlm-bench", &[])]),
        &[
            "layer violation: recursive-lm depends on rlm-bench (rlm-bench is unpublished and \
             must not be a normal dependency of a publishable crate)",
        ],
    );
}

#[test]
fn edges_that_point_the_wrong_way() {
    check(
        &graph(&[("rlm-core", &[("rlm-limits", N)]), ("rlm-limits", &[])]),
        &[
            "layer violation: rlm-core depends on rlm-limits (rlm-limits (limits, layer 1) is \
           not below rlm-core (core, layer 0))",
        ],
    );
    check(
        &graph(&[("rlm-limits", &[("rlm-runner", B)]), ("rlm-runner", &[])]),
        &[
            "layer violation: rlm-limits depends on rlm-runner (rlm-runner (runner, layer 4) \
           is not below rlm-limits (limits, layer 1))",
        ],
    );
}

#[test]
fn siblings_runner_and_cli_rules() {
    check(
        &graph(&[
            ("rlm-openai", &[("rlm-repl-monty", N)]),
            ("rlm-repl-monty", &[]),
            ("rlm-gemini-live", &[("rlm-anthropic", N)]),
            ("rlm-anthropic", &[]),
        ]),
        &[
            "layer violation: rlm-openai depends on rlm-repl-monty (providers and REPL \
             backends must not depend on each other)",
            "layer violation: rlm-gemini-live depends on rlm-anthropic (providers and REPL \
             backends must not depend on each other)",
        ],
    );
    check(
        &graph(&[
            ("rlm-runner", &[("rlm-openai", N), ("rlm-repl-python", N)]),
            ("rlm-openai", &[]),
            ("rlm-repl-python", &[]),
        ]),
        &[
            "layer violation: rlm-runner depends on rlm-openai (rlm-runner is generic over \
             the core traits and depends on no provider)",
            "layer violation: rlm-runner depends on rlm-repl-python (rlm-runner is generic \
             over the core traits and depends on no REPL backend)",
        ],
    );
    check(
        &graph(&[
            ("rlm-cli", &[("recursive-lm", N), ("rlm-core", N)]),
            ("recursive-lm", &[]),
            ("rlm-core", &[]),
        ]),
        &[
            "layer violation: rlm-cli depends on rlm-core (rlm-cli depends on the workspace \
           only through the facade (and rlm-server for `rlm serve`))",
        ],
    );
}

#[test]
fn helpers_stay_out_of_published_crates() {
    check(
        &graph(&[
            ("rlm-runner", &[("rlm-testkit", N)]),
            ("rlm-testkit", &[("rlm-runner", N)]),
        ]),
        &[
            "layer violation: rlm-runner depends on rlm-testkit (rlm-testkit is unpublished \
           and must not be a normal dependency of a publishable crate)",
        ],
    );
    // Any `publish = false` crate counts, whatever its name.
    let mut g = graph(&[("rlm-core", &[]), ("rlm-limits", &[("rlm-core", N)])]);
    g.crates[0].publishable = false;
    check(
        &g,
        &[
            "layer violation: rlm-limits depends on rlm-core (rlm-core is unpublished and \
           must not be a normal dependency of a publishable crate)",
        ],
    );
}

#[test]
fn unknown_crates_must_be_given_a_layer() {
    check(
        &graph(&[("rlm-cache", &[("rlm-core", N)]), ("rlm-core", &[])]),
        &["layer violation: rlm-cache has no layer (add it to ROLES in xtask/src/layers.rs)"],
    );
}

fn resolved(list: &[(&str, &[&str])]) -> Vec<Resolved> {
    list.iter()
        .map(|(name, features)| Resolved {
            name: (*name).to_owned(),
            features: features.iter().map(|f| (*f).to_owned()).collect(),
        })
        .collect()
}

#[test]
fn external_bans_look_at_the_resolved_closure_and_features() {
    let mut g = graph(&[("rlm-core", &[]), ("rlm-runner", &[("rlm-core", N)])]);
    g.resolved.insert(
        "rlm-core".into(),
        resolved(&[("serde", &["std"]), ("tokio", &["sync", "macros"])]),
    );
    g.resolved
        .insert("rlm-runner".into(), resolved(&[("tokio", &["rt", "time"])]));
    check(&g, &[]);

    g.resolved.insert(
        "rlm-core".into(),
        resolved(&[("tokio", &["rt-multi-thread", "rt"]), ("hyper", &[])]),
    );
    g.resolved
        .insert("rlm-runner".into(), resolved(&[("monty", &["default"])]));
    g.crates
        .push(graph(&[("rlm-limits", &[])]).crates.remove(0));
    g.resolved.insert(
        "rlm-limits".into(),
        resolved(&[("reqwest", &["rustls-tls"])]),
    );
    check(
        &g,
        &[
            "layer violation: rlm-core depends on hyper (rlm-core holds no HTTP client and \
             no async runtime)",
            "layer violation: rlm-core depends on tokio with feature rt, rt-multi-thread \
             (rlm-core holds no HTTP client and no async runtime)",
            "layer violation: rlm-runner depends on monty (rlm-runner reaches providers and \
             REPLs only through the traits)",
            "layer violation: rlm-limits depends on reqwest (rlm-limits holds no HTTP client: \
             the transport is rlm-http)",
        ],
    );
}

#[test]
fn parses_cargo_tree_lines() {
    let text = "rlm-core v0.1.0 (/w/crates/rlm-core)|mock\n\
                tokio v1.48.0|bytes,default,rt\n\
                tokio v1.48.0|bytes,default,rt (*)\n\
                serde v1.0.0|\n";
    let got: Vec<_> = parse_tree(text)
        .into_iter()
        .map(|r| (r.name, r.features.join(",")))
        .collect();
    let want: Vec<_> = [
        ("rlm-core", "mock"),
        ("tokio", "bytes,default,rt"),
        ("serde", ""),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(got, want);
}
