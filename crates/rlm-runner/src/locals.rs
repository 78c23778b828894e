//! The user variables at the end of an iteration, for the trajectory (the `locals` of the
//! official `rlms` export): each as its `repr`, cut per value and in total, so that a huge
//! variable costs the record little. Taken only when a subscriber records content.

use std::collections::BTreeMap;

use rlm_core::{Repl, ReplValue};

/// The longest `repr` kept for one variable, in characters (longer ones end with `...`); the
/// OpenEnv server's `locals_snapshot` cuts at the same length.
pub const LOCALS_VALUE_CHARS: usize = 500;
/// The most characters (names and values) one snapshot holds; the variables past it are
/// summed up under [`LOCALS_MORE_KEY`].
pub const LOCALS_TOTAL_CHARS: usize = 16 * 1024;
/// The key (not a Python name) that says how many variables the total cap left out.
pub const LOCALS_MORE_KEY: &str = "<more>";

/// The variables of `repl` but `context`, in name order; `None` when the REPL cannot list them.
pub(crate) async fn snapshot(repl: &mut dyn Repl) -> Option<BTreeMap<String, String>> {
    let mut names: Vec<String> = repl
        .variables()
        .await
        .ok()?
        .into_iter()
        .map(|v| v.name)
        .filter(|name| name != "context")
        .collect();
    names.sort();
    let mut out = BTreeMap::new();
    let mut used = 0;
    for (i, name) in names.iter().enumerate() {
        if used >= LOCALS_TOTAL_CHARS {
            out.insert(
                LOCALS_MORE_KEY.to_string(),
                format!(
                    "{} more variable(s) not shown: a snapshot holds at most {LOCALS_TOTAL_CHARS} characters",
                    names.len() - i
                ),
            );
            break;
        }
        let repr = match repl.get_variable(name).await {
            Ok(Some(value)) => cut_repr(&value),
            Ok(None) => continue,
            Err(_) => "<unrepresentable>".to_string(),
        };
        used += name.chars().count() + repr.chars().count();
        out.insert(name.clone(), repr);
    }
    Some(out)
}

/// `repr(value)` cut to [`LOCALS_VALUE_CHARS`]; a long string is cut before its `repr` is
/// built.
pub(crate) fn cut_repr(value: &ReplValue) -> String {
    let repr = match value {
        ReplValue::Str(text) if text.len() > LOCALS_VALUE_CHARS => {
            ReplValue::Str(text.chars().take(LOCALS_VALUE_CHARS + 1).collect()).repr()
        }
        other => other.repr(),
    };
    match repr.char_indices().nth(LOCALS_VALUE_CHARS) {
        Some((cut, _)) => format!("{}...", &repr[..cut]),
        None => repr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_are_cut_per_value() {
        assert_eq!(cut_repr(&ReplValue::Int(3)), "3");
        assert_eq!(cut_repr(&ReplValue::Str("a".into())), "'a'");
        let long = cut_repr(&ReplValue::Str("x".repeat(10_000)));
        assert_eq!(long.chars().count(), LOCALS_VALUE_CHARS + 3);
        assert!(long.starts_with("'xxx") && long.ends_with("..."));
        let list = cut_repr(&ReplValue::List(vec![ReplValue::Int(1); 1000]));
        assert!(list.starts_with("[1, 1") && list.ends_with("..."));
    }
}
