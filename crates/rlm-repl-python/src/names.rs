//! Names the host may bind or read: Python identifiers that are not reserved by the runtime.
//!
//! The rules are the Monty backend's, so both backends refuse the same names: keywords and
//! non-identifiers are invalid; the host functions, `answer` and the private `__rlm*` prefix are
//! reserved for `set_variable`.

use rlm_core::{HOST_FUNCTIONS, ReplError};

/// The name of the answer dict the runtime keeps in every session.
pub(crate) const ANSWER: &str = "answer";

/// Python's hard keywords: never identifiers.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Whether `name` is a valid Python identifier (and not a keyword).
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && !KEYWORDS.contains(&name)
}

/// Whether `name` belongs to the runtime: a host function, `answer`, or a private helper.
pub(crate) fn is_reserved(name: &str) -> bool {
    HOST_FUNCTIONS.contains(&name) || name == ANSWER || name.starts_with("__rlm")
}

fn invalid(name: &str, reason: &str) -> ReplError {
    ReplError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

/// Checks a name the host wants to bind with `set_variable`.
pub(crate) fn check_settable(name: &str) -> Result<(), ReplError> {
    if !is_identifier(name) {
        Err(invalid(name, "not a valid Python identifier"))
    } else if is_reserved(name) {
        Err(invalid(name, "reserved by the runtime"))
    } else {
        Ok(())
    }
}

/// Checks a name the host wants to read with `get_variable`.
pub(crate) fn check_readable(name: &str) -> Result<(), ReplError> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(invalid(name, "not a valid Python identifier"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_validated_like_python() {
        for ok in ["x", "_x", "x1", "données", "match", "_"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1x", "a b", "class", "None", "a-b", "x.y"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn reserved_names_are_refused() {
        assert!(check_settable("context").is_ok());
        for name in ["llm_query", "FINAL", "answer", "__rlm_vars", "1x", "def"] {
            assert!(
                matches!(check_settable(name), Err(ReplError::InvalidName { .. })),
                "{name}"
            );
        }
        assert!(check_readable("answer").is_ok());
        assert!(check_readable("no way").is_err());
    }
}
