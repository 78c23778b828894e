//! The scaffold: the Python the runtime keeps inside every session, and the synchronous
//! operations on an idle interpreter (feeding it, probing its variables, reading `answer`).
//!
//! - `llm_query`, `llm_query_batched`, `rlm_query`, `rlm_query_batched` and the custom tools
//!   (`ReplConfig::tools`) are bound to host function objects: calling one suspends the
//!   interpreter and the host answers.
//! - `FINAL`, `FINAL_VAR` and `SHOW_VARS` are small Python functions (so `str(value)` is Python's
//!   own, `__str__` included) that call private host hooks (`__rlm_final`, `__rlm_final_var`,
//!   `__rlm_show_vars`).
//! - `__rlm_vars(want=None)` is generated from the identifiers seen in fed code: it returns the
//!   `(name, type name)` of every one that is bound right now, plus the value of `want` if bound.
//!   Being Python, it sees the live state even in the middle of a block, which a host-side probe
//!   cannot do while the interpreter is suspended. Between blocks the host lists the variables
//!   from the heap instead ([`list_variables`]).
//! - `answer` starts as `{"content": "", "ready": False}`; `__rlm_answer()` reports it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use monty::MontyRepl as Interpreter;
use monty_types::{ExcType, MontyException, MontyObject, ObjectRef, PrintWriter};
use rlm_core::VariableInfo;
use rlm_core::names::SUB_CALLS;

use crate::names::{self, ANSWER};

/// Hook called by `FINAL(value)` with `str(value)`.
pub(crate) const HOOK_FINAL: &str = "__rlm_final";
/// Hook called by `FINAL_VAR(x)`: `(name or None, str(value) or None, variables or None)`.
pub(crate) const HOOK_FINAL_VAR: &str = "__rlm_final_var";
/// Hook called by `SHOW_VARS()` with the probed variables.
pub(crate) const HOOK_SHOW_VARS: &str = "__rlm_show_vars";

/// Whether `name` is one of the private host hooks.
pub(crate) fn is_hook(name: &str) -> bool {
    [HOOK_FINAL, HOOK_FINAL_VAR, HOOK_SHOW_VARS].contains(&name)
}

/// The fixed part of the scaffold.
const PRELUDE: &str = r#"
def FINAL(value):
    __rlm_final(str(value))

def FINAL_VAR(name):
    if type(name) is not str:
        return __rlm_final_var(None, str(name), None)
    name = name.strip().strip("\"'")
    found = __rlm_vars(name)
    if found[1] is None:
        return __rlm_final_var(name, None, found[0])
    return __rlm_final_var(name, str(found[1][0]), None)

def SHOW_VARS():
    return __rlm_show_vars(__rlm_vars()[0])

def __rlm_answer():
    if type(answer) is not dict:
        return 0
    if answer.get("ready"):
        return str(answer.get("content", ""))
    return 1
"#;

/// The initial `answer` dict.
pub(crate) fn initial_answer() -> MontyObject {
    MontyObject::dict([
        (MontyObject::string("content"), MontyObject::string("")),
        (MontyObject::string("ready"), MontyObject::bool(false)),
    ])
}

/// Generates `__rlm_vars` for the given candidate names.
pub(crate) fn probe_source(candidates: &BTreeSet<String>) -> String {
    let mut src =
        String::from("def __rlm_vars(__rlm_want=None):\n    __rlm_v = []\n    __rlm_hit = None\n");
    for name in candidates {
        // A builtin name counts only once user code has rebound it to something else
        // (`is_builtin_type`). Without raising: an exception per builtin per listing was most of a listing's cost.
        let (guard, indent) = if names::is_builtin(name) {
            (
                "        if __rlm_t != 'builtin_function_or_method' and __rlm_t != 'type':\n",
                "    ",
            )
        } else {
            ("", "")
        };
        let _ = write!(
            src,
            "    try:\n        __rlm_t = type({name}).__name__\n{guard}{indent}        __rlm_v.append(('{name}', __rlm_t))\n{indent}        if __rlm_want == '{name}':\n{indent}            __rlm_hit = ({name},)\n    except NameError:\n        pass\n"
        );
    }
    src.push_str("    return (__rlm_v, __rlm_hit)\n");
    src
}

/// Runs `code` to completion on an idle interpreter with no output. Like every feed it gets a
/// fresh time budget (`max_feed_duration`).
pub(crate) fn feed(
    interp: &mut Interpreter,
    code: &str,
    inputs: Vec<(String, MontyObject)>,
) -> Result<MontyObject, MontyException> {
    interp.feed_run(code, inputs, PrintWriter::Disabled)
}

/// (Re)installs the whole scaffold: host function objects (sub-calls and custom tools), the
/// prelude and the probe.
pub(crate) fn install(
    interp: &mut Interpreter,
    probe: &str,
    tools: &[String],
) -> Result<(), MontyException> {
    install_with(interp, probe, tools, Vec::new())
}

/// A new session's scaffold: [`install`] and the initial `answer`, in one feed.
pub(crate) fn start(
    interp: &mut Interpreter,
    probe: &str,
    tools: &[String],
) -> Result<(), MontyException> {
    install_with(
        interp,
        probe,
        tools,
        vec![(ANSWER.to_string(), initial_answer())],
    )
}

fn install_with(
    interp: &mut Interpreter,
    probe: &str,
    tools: &[String],
    mut inputs: Vec<(String, MontyObject)>,
) -> Result<(), MontyException> {
    let functions = SUB_CALLS
        .iter()
        .map(|name| name.to_string())
        .chain(tools.iter().cloned())
        .map(|name| {
            let function = MontyObject::function(name.clone(), None);
            (name, function)
        });
    inputs.extend(functions);
    let code = format!("{PRELUDE}\n{probe}");
    feed(interp, &code, inputs).map(drop)
}

/// Installs a regenerated probe, if there is one.
pub(crate) fn refresh_probe(interp: &mut Interpreter, probe: Option<&str>) {
    if let Some(probe) = probe
        && let Err(e) = feed(interp, probe, Vec::new())
    {
        tracing::warn!(error = %e.summary(), "could not refresh the variable probe");
    }
}

/// Rebinds `names` to `None`, dropping their values (Monty has no `del`).
pub(crate) fn release(interp: &mut Interpreter, names: &[String]) {
    let nones = names
        .iter()
        .map(|name| (name.clone(), MontyObject::none()))
        .collect();
    // The feed may report the memory check that the old values fail as they are dropped; they
    // are gone either way.
    let _ = feed(interp, "pass", nones);
}

/// Binds `answer` to the initial dict.
pub(crate) fn reset_answer(interp: &mut Interpreter) -> Result<(), MontyException> {
    feed(interp, "pass", vec![(ANSWER.to_string(), initial_answer())]).map(drop)
}

/// What `answer` holds after an execution.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AnswerState {
    /// A dict that is not ready.
    Pending,
    /// Ready, with `str(answer["content"])`.
    Ready(String),
    /// Not a dict any more (or unreadable): it must be reset.
    Broken,
}

/// Calls a scaffold function with no arguments: a direct call, with no snippet to parse and
/// compile (this runs after every block). Like a feed it gets a fresh time budget.
fn call(interp: &mut Interpreter, function: &str) -> Result<MontyObject, MontyException> {
    interp.call_function(function, Vec::<MontyObject>::new(), PrintWriter::Disabled)
}

/// Reads `answer`: from the heap when it is a plain dict whose `ready` is plainly false (the
/// usual case after a block, read without running code), else through `__rlm_answer()`.
pub(crate) fn read_answer(interp: &mut Interpreter) -> AnswerState {
    if interp.global_dict_truthy(ANSWER, "ready") == Some(false) {
        return AnswerState::Pending;
    }
    match call(interp, "__rlm_answer") {
        Ok(value) if value.as_ref().as_int() == Some(1) => AnswerState::Pending,
        Ok(value) => match value.as_ref().as_str() {
            Some(content) => AnswerState::Ready(content.to_owned()),
            None => AnswerState::Broken,
        },
        Err(_) => AnswerState::Broken,
    }
}

/// Lists the user variables of an idle interpreter from its bound globals, without running
/// code (Monty's `global_type_names`, a vendored patch): no probe to compile, no `NameError`
/// per unbound name. Sorted by name, filtered as the probe's listing is (see [`is_visible`]);
/// the custom tools are runtime names, never variables.
pub(crate) fn list_variables(interp: &Interpreter, tools: &[String]) -> Vec<VariableInfo> {
    let mut listed: Vec<VariableInfo> = interp
        .global_type_names()
        .into_iter()
        .filter(|(name, type_name)| {
            is_visible(name, type_name)
                && !tools.iter().any(|tool| tool == name)
                && !(names::is_builtin(name) && is_builtin_type(type_name))
        })
        .map(|(name, type_name)| VariableInfo {
            name: name.to_owned(),
            type_name,
        })
        .collect();
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    listed
}

/// A builtin name counts as a variable only once user code has rebound it to something other
/// than a builtin (the probe's guard says the same in Python).
fn is_builtin_type(type_name: &str) -> bool {
    type_name == "builtin_function_or_method" || type_name == "type"
}

/// Whether a bound `(name, type name)` is one a user cares about: no private names, no
/// modules, no runtime names (`answer` excepted).
fn is_visible(name: &str, type_name: &str) -> bool {
    name == ANSWER || (!name.starts_with('_') && type_name != "module" && !names::is_reserved(name))
}

/// Keeps the probed `(name, type)` pairs a user cares about (see [`is_visible`]).
pub(crate) fn visible_variables(probed: ObjectRef<'_>) -> Vec<VariableInfo> {
    let Some(items) = probed.items() else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let [name, type_name] = item.items()?.try_into().ok()?;
            let (name, type_name) = (name.as_str()?.to_owned(), type_name.as_str()?.to_owned());
            is_visible(&name, &type_name).then_some(VariableInfo { name, type_name })
        })
        .collect()
}

/// The runtime's work after every block: restore the scaffold if the block touched it, then
/// read `answer`. Returns `str(answer["content"])` when the dict was ready; a ready or broken
/// `answer` is reset to the initial dict so a stale answer never leaks into the next block.
pub(crate) fn after_block(
    interp: &mut Interpreter,
    restore: Option<&str>,
    tools: &[String],
) -> Option<String> {
    if let Some(probe) = restore
        && let Err(e) = install(interp, probe, tools)
    {
        tracing::warn!(error = %e.summary(), "could not restore the runtime scaffold");
    }
    let state = read_answer(interp);
    if state != AnswerState::Pending
        && let Err(e) = reset_answer(interp)
    {
        tracing::warn!(error = %e.summary(), "could not reset the answer dict");
    }
    match state {
        AnswerState::Ready(content) => Some(content),
        AnswerState::Pending | AnswerState::Broken => None,
    }
}

/// What `SHOW_VARS()` returns, in the official library's format.
pub(crate) fn show_vars_text(vars: &[VariableInfo]) -> String {
    if vars.is_empty() {
        return "No variables created yet. Use ```repl``` blocks to create variables.".to_string();
    }
    let entries: Vec<String> = vars
        .iter()
        .map(|v| format!("'{}': '{}'", v.name, v.type_name))
        .collect();
    format!("Available variables: {{{}}}", entries.join(", "))
}

/// What `FINAL_VAR(name)` returns (and prints) when `name` does not exist.
pub(crate) fn missing_var_text(name: &str, vars: &[VariableInfo]) -> String {
    let names: Vec<String> = vars.iter().map(|v| format!("'{}'", v.name)).collect();
    format!(
        "Error: Variable '{name}' not found. Available variables: [{}]. You must create and assign a variable BEFORE calling FINAL_VAR on it.",
        names.join(", ")
    )
}

/// The exception that stops a block at `FINAL`/`FINAL_VAR` (uncatchable; never shown).
pub(crate) fn finish_signal() -> MontyException {
    MontyException::new(
        ExcType::RuntimeError,
        Some("execution finished by FINAL".to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, type_name: &str) -> VariableInfo {
        VariableInfo {
            name: name.into(),
            type_name: type_name.into(),
        }
    }

    #[test]
    fn probe_lists_each_candidate_once() {
        let names: BTreeSet<String> = ["x".to_string(), "sum".to_string()].into();
        let src = probe_source(&names);
        assert_eq!(src.matches("type(x).__name__").count(), 1);
        assert_eq!(
            src.matches("!= 'builtin_function_or_method'").count(),
            1,
            "only the builtin name is guarded"
        );
    }

    #[test]
    fn messages_match_the_official_library() {
        let vars = [var("answer", "dict"), var("x", "int")];
        assert_eq!(
            show_vars_text(&vars),
            "Available variables: {'answer': 'dict', 'x': 'int'}"
        );
        assert_eq!(
            missing_var_text("y", &vars),
            "Error: Variable 'y' not found. Available variables: ['answer', 'x']. You must create and assign a variable BEFORE calling FINAL_VAR on it."
        );
    }

    #[test]
    fn noise_is_hidden() {
        let pair =
            |n: &str, t: &str| MontyObject::tuple([MontyObject::string(n), MontyObject::string(t)]);
        let probed = MontyObject::list([
            pair("_p", "int"),
            pair("re", "module"),
            pair("answer", "dict"),
            pair("f", "function"),
        ]);
        assert_eq!(
            visible_variables(probed.as_ref()),
            [var("answer", "dict"), var("f", "function")]
        );
    }
}
