//! The names the runtime defines inside the REPL, and Python's rules for the names the host may
//! bind or read. Both REPL backends, the CPython driver script (which gets these lists from the
//! host when it starts) and the CLI's highlighter use these, so they refuse and reserve the same
//! names (`docs/design.md` §2.8 and §7.7).
//!
//! - Invalid: anything that is not a Python identifier, and the hard [`KEYWORDS`].
//! - Reserved (refused by `set_variable`): the [`HOST_FUNCTIONS`], the [`ANSWER`] dict and every
//!   name starting with [`PRIVATE_PREFIX`] (a backend's private helpers).
//!
//! ```
//! use rlm_core::names;
//!
//! assert!(names::check_settable("chunks").is_ok());
//! assert!(names::check_settable("FINAL").is_err()); // reserved
//! assert!(names::check_readable("answer").is_ok()); // reserved, but readable
//! assert!(names::check_readable("class").is_err()); // a keyword
//! assert!(names::is_sub_call("rlm_query_batched"));
//! ```

use crate::ReplError;

/// Every function the runtime defines inside the REPL: the [`SUB_CALLS`] first, then the finish
/// functions `FINAL`, `FINAL_VAR` and `SHOW_VARS`. User code cannot rebind them for good: a
/// backend restores them before each execution.
pub const HOST_FUNCTIONS: &[&str] = &[
    "llm_query",
    "llm_query_batched",
    "rlm_query",
    "rlm_query_batched",
    "FINAL",
    "FINAL_VAR",
    "SHOW_VARS",
];

/// The sub-call functions, answered by the [`crate::ReplHost`]: the first four
/// [`HOST_FUNCTIONS`], one per [`crate::HostCall`] variant (its `function` tag).
pub const SUB_CALLS: &[&str] = HOST_FUNCTIONS.split_at(4).0;

/// The name of the answer dict the runtime keeps in every session
/// (`{"content": "", "ready": False}`).
pub const ANSWER: &str = "answer";

/// Prefix of a backend's private helpers in the session (`__rlm_vars`, `__rlm_final`, ...).
pub const PRIVATE_PREFIX: &str = "__rlm";

/// Python's hard keywords: never identifiers. (The soft keywords `match`, `case`, `type` and `_`
/// are valid names.)
pub const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// CPython's public builtins. A custom tool may not take one of these names, and the Monty
/// backend's variable probe lists a candidate with one of them only once user code has rebound
/// it to something that is not a builtin function or type.
pub const BUILTINS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BaseExceptionGroup",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "Ellipsis",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "NotADirectoryError",
    "NotImplemented",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

/// Whether `name` is one of CPython's builtins.
pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// Whether `name` is a valid Python identifier (and not a keyword).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && !KEYWORDS.contains(&name)
}

/// Whether `name` is a host function (`llm_query`, `FINAL`, ...).
pub fn is_host_function(name: &str) -> bool {
    HOST_FUNCTIONS.contains(&name)
}

/// Whether `name` is a sub-call function (`llm_query`, `rlm_query` and their batched forms).
pub fn is_sub_call(name: &str) -> bool {
    SUB_CALLS.contains(&name)
}

/// Whether `name` belongs to the runtime: a host function, `answer`, or a private helper.
pub fn is_reserved(name: &str) -> bool {
    is_host_function(name) || name == ANSWER || name.starts_with(PRIVATE_PREFIX)
}

fn invalid(name: &str, reason: &str) -> ReplError {
    ReplError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

/// Checks a name the host wants to bind with [`crate::Repl::set_variable`].
///
/// # Errors
/// [`ReplError::InvalidName`] when `name` is not an identifier or is reserved.
pub fn check_settable(name: &str) -> Result<(), ReplError> {
    if !is_identifier(name) {
        Err(invalid(name, "not a valid Python identifier"))
    } else if is_reserved(name) {
        Err(invalid(name, "reserved by the runtime"))
    } else {
        Ok(())
    }
}

/// Checks a name the host wants to read with [`crate::Repl::get_variable`] (reserved names may
/// be read).
///
/// # Errors
/// [`ReplError::InvalidName`] when `name` is not an identifier.
pub fn check_readable(name: &str) -> Result<(), ReplError> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(invalid(name, "not a valid Python identifier"))
    }
}

/// The variables that carry a run's inputs: `context` and `history`, and their numbered forms
/// (`context_0`, `history_1`, ...) that sessions keep.
pub const INPUT_VARIABLES: &[&str] = &["context", "history"];

/// Whether `name` is an input variable ([`INPUT_VARIABLES`], or one of them followed by `_` and
/// digits).
pub fn is_input_variable(name: &str) -> bool {
    INPUT_VARIABLES.iter().any(|base| {
        name == *base
            || name
                .strip_prefix(base)
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|digits| {
                    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                })
    })
}

/// Why a custom tool may not take a name (see [`check_tool_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolNameProblem {
    /// Not a Python identifier (a keyword, a digit first, a space, ...).
    NotAnIdentifier,
    /// A name the runtime defines: a host function (`llm_query`, `FINAL`, ...), `answer`, or a
    /// private `__rlm` helper.
    Runtime,
    /// An input variable: `context`, `history`, `context_0`, ...
    Input,
    /// A Python builtin (`print`, `len`, `str`, ...) or a dunder name (`__name__`).
    Builtin,
    /// Registered more than once.
    Duplicate,
}

impl std::fmt::Display for ToolNameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ToolNameProblem::NotAnIdentifier => "not a valid Python identifier",
            ToolNameProblem::Runtime => "reserved by the runtime",
            ToolNameProblem::Input => "reserved for the run's inputs",
            ToolNameProblem::Builtin => "a Python builtin",
            ToolNameProblem::Duplicate => "registered more than once",
        })
    }
}

/// Checks a name for a custom tool or data value: it must be a Python identifier that is not a
/// runtime name, an input variable, a builtin or a dunder.
///
/// # Errors
/// The first [`ToolNameProblem`] found.
pub fn check_tool_name(name: &str) -> Result<(), ToolNameProblem> {
    let dunder = name.len() > 4 && name.starts_with("__") && name.ends_with("__");
    if !is_identifier(name) {
        Err(ToolNameProblem::NotAnIdentifier)
    } else if is_reserved(name) {
        Err(ToolNameProblem::Runtime)
    } else if is_input_variable(name) {
        Err(ToolNameProblem::Input)
    } else if is_builtin(name) || dunder {
        Err(ToolNameProblem::Builtin)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostCall;

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

    #[test]
    fn sub_calls_are_the_host_call_tags() {
        let p = || "p".to_string();
        let calls = [
            HostCall::LlmQuery {
                prompt: p(),
                model: None,
            },
            HostCall::LlmQueryBatched {
                prompts: vec![p()],
                model: None,
            },
            HostCall::RlmQuery {
                prompt: p(),
                model: None,
            },
            HostCall::RlmQueryBatched {
                prompts: vec![p()],
                model: None,
            },
        ];
        let tags: Vec<String> = calls
            .iter()
            .map(|c| {
                serde_json::to_value(c).unwrap()["function"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(tags, SUB_CALLS);
        assert_eq!(
            &HOST_FUNCTIONS[SUB_CALLS.len()..],
            ["FINAL", "FINAL_VAR", "SHOW_VARS"]
        );
        for name in HOST_FUNCTIONS {
            assert!(is_identifier(name) && is_reserved(name), "{name}");
        }
        assert!(is_identifier(ANSWER) && is_reserved(ANSWER));
    }

    #[test]
    fn tool_names_are_checked() {
        for ok in [
            "search",
            "CONFIG",
            "json",
            "context_x",
            "history2",
            "_helper",
        ] {
            assert_eq!(check_tool_name(ok), Ok(()), "{ok}");
        }
        let check = |name: &str, problem: ToolNameProblem| {
            assert_eq!(check_tool_name(name), Err(problem), "{name}");
        };
        check("1x", ToolNameProblem::NotAnIdentifier);
        check("class", ToolNameProblem::NotAnIdentifier);
        check("", ToolNameProblem::NotAnIdentifier);
        for name in HOST_FUNCTIONS.iter().chain(&[ANSWER, "__rlm_x"]) {
            check(name, ToolNameProblem::Runtime);
        }
        for name in ["context", "history", "context_0", "history_12"] {
            check(name, ToolNameProblem::Input);
        }
        for name in ["print", "len", "str", "ValueError", "__name__"] {
            check(name, ToolNameProblem::Builtin);
        }
    }

    proptest::proptest! {
        #[test]
        fn settable_names_are_readable_identifiers_of_the_user(name in "\\PC{0,12}") {
            if check_settable(&name).is_ok() {
                proptest::prop_assert!(check_readable(&name).is_ok());
                proptest::prop_assert!(is_identifier(&name) && !is_reserved(&name));
            }
            proptest::prop_assert_eq!(check_readable(&name).is_ok(), is_identifier(&name));
        }

        #[test]
        fn private_names_are_always_reserved(suffix in "[A-Za-z0-9_]{0,12}") {
            let name = format!("{PRIVATE_PREFIX}{suffix}");
            proptest::prop_assert!(is_reserved(&name));
            proptest::prop_assert!(check_settable(&name).is_err());
        }
    }
}
