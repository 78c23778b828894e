//! Custom tools: host functions and data a library user gives the model's code
//! (`docs/design.md`, "Custom tools").
//!
//! A [`Tool`] is an async callable taking JSON-like arguments ([`ToolArgs`]: positional and
//! keyword) and returning a JSON value or a [`ToolError`], which the calling code gets as a
//! Python exception. A data value is a plain variable bound in every session. [`Tools`] holds
//! both, with their descriptions for the system prompt, and checks their names
//! ([`Tools::validate`]: every bad name in one [`ToolNameError`]).
//!
//! ```
//! use rlm_core::{ReplValue, ToolError, Tools, tool_fn};
//! use serde_json::json;
//!
//! let mut tools = Tools::new();
//! tools.add_function("lookup", "Finds a word in the index.", tool_fn(|call| async move {
//!     let word = call.arg(0, "word").and_then(|w| w.as_str()).ok_or_else(|| ToolError::raise("TypeError", "word must be str"))?;
//!     Ok(json!({"word": word, "hits": 3}))
//! }));
//! tools.add_data("LIMITS", "", ReplValue::from_json(json!({"max": 10})));
//! assert!(tools.validate().is_ok());
//!
//! tools.add_data("llm_query", "", ReplValue::None);
//! tools.add_data("2x", "", ReplValue::None);
//! let err = tools.validate().unwrap_err();
//! assert_eq!(err.names.len(), 2);
//! assert_eq!(err.to_string(), "invalid custom tool names: 'llm_query' (reserved by the runtime), '2x' (not a valid Python identifier)");
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ReplValue;
use crate::names::{self, ToolNameProblem};

/// The arguments of one tool call, as the code passed them: `f(1, "a", k=True)` gives
/// `args = [1, "a"]` and `kwargs = {"k": true}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolArgs {
    /// Positional arguments, in order.
    pub args: Vec<Value>,
    /// Keyword arguments (a `serde_json` map: sorted by name).
    pub kwargs: Map<String, Value>,
}

impl ToolArgs {
    /// The argument at `position`, or else the keyword argument `name` (how a Python function
    /// with a parameter `name` at `position` binds it).
    pub fn arg(&self, position: usize, name: &str) -> Option<&Value> {
        self.args.get(position).or_else(|| self.kwargs.get(name))
    }
}

/// A tool's failure: the calling code gets `exception(message)` raised at the call.
///
/// `exception` names a Python builtin exception (`ValueError`, `KeyError`, `TimeoutError`, ...);
/// any other name (a foreign exception class, `SystemExit`) becomes `RuntimeError` with the
/// message prefixed by the name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{exception}: {message}")]
pub struct ToolError {
    /// The Python exception type to raise.
    pub exception: String,
    /// Its message.
    pub message: String,
}

impl ToolError {
    /// A `RuntimeError` with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self::raise("RuntimeError", message)
    }

    /// An error raised as the Python exception `exception`.
    pub fn raise(exception: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            exception: exception.into(),
            message: message.into(),
        }
    }
}

/// A host function the model's code can call by name. Object-safe: tools are kept as
/// `Arc<dyn Tool>`, and a foreign callback (a Python callable) fits behind it.
///
/// A call runs on the async runtime while the calling block waits, and counts against the
/// block's time limit; when the limit passes the call's future is dropped. Blocking work
/// belongs on a blocking pool (`tokio::task::spawn_blocking`).
#[async_trait]
pub trait Tool: Send + Sync {
    /// Answers one call.
    async fn call(&self, args: ToolArgs) -> Result<Value, ToolError>;
}

/// A [`Tool`] made from an async closure (see [`tool_fn`]).
pub struct FnTool<F>(F);

#[async_trait]
impl<F, Fut> Tool for FnTool<F>
where
    F: Fn(ToolArgs) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, ToolError>> + Send,
{
    async fn call(&self, args: ToolArgs) -> Result<Value, ToolError> {
        (self.0)(args).await
    }
}

/// A tool from an async closure: `tool_fn(|call| async move { Ok(json!(call.args.len())) })`.
pub fn tool_fn<F, Fut>(f: F) -> Arc<dyn Tool>
where
    F: Fn(ToolArgs) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ToolError>> + Send + 'static,
{
    Arc::new(FnTool(f))
}

/// What a name is bound to.
#[derive(Clone)]
pub enum ToolKind {
    /// A function the code calls; the host answers.
    Function(Arc<dyn Tool>),
    /// A plain value bound as a variable in every session.
    Data(ReplValue),
}

/// One registered tool or data value.
#[derive(Clone)]
pub struct ToolEntry {
    /// The name in the REPL.
    pub name: String,
    /// What the system prompt says about it (`None`: a generic line).
    pub description: Option<String>,
    /// The function or the value.
    pub kind: ToolKind,
}

impl ToolEntry {
    /// The line of the system prompt's tool list (without the bullet).
    pub fn prompt_line(&self) -> String {
        match &self.kind {
            ToolKind::Function(_) => format!(
                "`{}(...)`: {}",
                self.name,
                self.description.as_deref().unwrap_or("A custom function.")
            ),
            ToolKind::Data(value) => match &self.description {
                Some(text) => format!("`{}` ({}): {text}", self.name, value.type_name()),
                None => format!("`{}`: A custom {} value.", self.name, value.type_name()),
            },
        }
    }
}

impl fmt::Debug for ToolEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            ToolKind::Function(_) => "function".to_string(),
            ToolKind::Data(value) => format!("data ({})", value.type_name()),
        };
        f.debug_struct("ToolEntry")
            .field("name", &self.name)
            .field("kind", &kind)
            .finish()
    }
}

/// A name refused by [`Tools::validate`], and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadToolName {
    /// The name as registered.
    pub name: String,
    /// Why it is refused.
    pub problem: ToolNameProblem,
}

/// Every refused tool name, in registration order (a duplicate is listed once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid custom tool names: {}", list(names))]
pub struct ToolNameError {
    /// The refused names.
    pub names: Vec<BadToolName>,
}

fn list(names: &[BadToolName]) -> String {
    names
        .iter()
        .map(|bad| format!("'{}' ({})", bad.name, bad.problem))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The custom tools and data values of a run, in registration order. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    entries: Vec<ToolEntry>,
}

fn description(text: impl Into<String>) -> Option<String> {
    let text = text.into();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

impl Tools {
    /// No tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a function (an empty description gives a generic line in the prompt).
    pub fn add_function(
        &mut self,
        name: impl Into<String>,
        description_text: impl Into<String>,
        tool: Arc<dyn Tool>,
    ) {
        self.entries.push(ToolEntry {
            name: name.into(),
            description: description(description_text),
            kind: ToolKind::Function(tool),
        });
    }

    /// Registers a data value, bound as a variable in every session.
    pub fn add_data(
        &mut self,
        name: impl Into<String>,
        description_text: impl Into<String>,
        value: ReplValue,
    ) {
        self.entries.push(ToolEntry {
            name: name.into(),
            description: description(description_text),
            kind: ToolKind::Data(value),
        });
    }

    /// Checks every name ([`names::check_tool_name`]) and that none is registered twice.
    ///
    /// # Errors
    /// [`ToolNameError`] listing every bad name.
    pub fn validate(&self) -> Result<(), ToolNameError> {
        let mut seen = BTreeSet::new();
        let mut reported = BTreeSet::new();
        let mut names = Vec::new();
        for entry in &self.entries {
            let name = entry.name.as_str();
            let problem = match names::check_tool_name(name) {
                Err(problem) => Some(problem),
                Ok(()) if !seen.insert(name) => Some(ToolNameProblem::Duplicate),
                Ok(()) => None,
            };
            if let Some(problem) = problem
                && reported.insert(name)
            {
                names.push(BadToolName {
                    name: name.to_string(),
                    problem,
                });
            }
        }
        if names.is_empty() {
            Ok(())
        } else {
            Err(ToolNameError { names })
        }
    }

    /// Every entry, in registration order.
    pub fn entries(&self) -> &[ToolEntry] {
        &self.entries
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The names of the functions (what a REPL session must define).
    pub fn function_names(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| matches!(e.kind, ToolKind::Function(_)))
            .map(|e| e.name.clone())
            .collect()
    }

    /// The function registered under `name`.
    pub fn function(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.entries.iter().find_map(|e| match &e.kind {
            ToolKind::Function(tool) if e.name == name => Some(tool),
            _ => None,
        })
    }

    /// The data values, by name.
    pub fn data(&self) -> impl Iterator<Item = (&str, &ReplValue)> {
        self.entries.iter().filter_map(|e| match &e.kind {
            ToolKind::Data(value) => Some((e.name.as_str(), value)),
            ToolKind::Function(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools(names: &[&str]) -> Tools {
        let mut tools = Tools::new();
        for name in names {
            tools.add_function(*name, "", tool_fn(|_| async { Ok(Value::Null) }));
        }
        tools
    }

    #[test]
    fn every_bad_name_is_reported_once() {
        assert_eq!(tools(&[]).validate(), Ok(()));
        assert_eq!(tools(&["double", "concat", "CONFIG"]).validate(), Ok(()));
        let err = tools(&[
            "llm_query",
            "ok",
            "FINAL_VAR",
            "print",
            "x y",
            "ok",
            "ok",
            "context",
        ])
        .validate()
        .unwrap_err();
        let got: Vec<(&str, ToolNameProblem)> = err
            .names
            .iter()
            .map(|b| (b.name.as_str(), b.problem))
            .collect();
        assert_eq!(
            got,
            [
                ("llm_query", ToolNameProblem::Runtime),
                ("FINAL_VAR", ToolNameProblem::Runtime),
                ("print", ToolNameProblem::Builtin),
                ("x y", ToolNameProblem::NotAnIdentifier),
                ("ok", ToolNameProblem::Duplicate),
                ("context", ToolNameProblem::Input),
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("'llm_query' (reserved by the runtime)"),
            "{text}"
        );
        assert!(text.contains("'FINAL_VAR'"), "{text}");
    }

    #[test]
    fn every_runtime_name_is_refused() {
        for name in crate::HOST_FUNCTIONS
            .iter()
            .chain(&["answer", "context", "history"])
        {
            let err = tools(&[name]).validate().unwrap_err();
            assert_eq!(err.names[0].name, *name);
            assert!(err.to_string().contains("reserved"), "{err}");
        }
    }

    #[test]
    fn prompt_lines_use_descriptions_or_fallbacks() {
        let mut t = tools(&["plain"]);
        t.add_function(
            "described",
            "  Doubles the input. ",
            tool_fn(|_| async { Ok(Value::Null) }),
        );
        t.add_data("DATA", "", ReplValue::from_json(json!([1, 2])));
        t.add_data("CONFIG", "Settings.", ReplValue::from_json(json!({"k": 1})));
        let lines: Vec<String> = t.entries().iter().map(ToolEntry::prompt_line).collect();
        assert_eq!(
            lines,
            [
                "`plain(...)`: A custom function.",
                "`described(...)`: Doubles the input.",
                "`DATA`: A custom list value.",
                "`CONFIG` (dict): Settings.",
            ]
        );
        assert_eq!(t.function_names(), ["plain", "described"]);
        assert_eq!(
            t.data().map(|(n, _)| n).collect::<Vec<_>>(),
            ["DATA", "CONFIG"]
        );
        assert!(t.function("described").is_some() && t.function("DATA").is_none());
    }

    #[test]
    fn closures_are_tools() {
        let tool = tool_fn(|call: ToolArgs| async move {
            match call.arg(0, "x").and_then(Value::as_i64) {
                Some(x) => Ok(json!(x * 2)),
                None => Err(ToolError::raise("TypeError", "x must be int")),
            }
        });
        let run = |args: ToolArgs| futures::executor::block_on(tool.call(args));
        assert_eq!(
            run(ToolArgs {
                args: vec![json!(21)],
                ..ToolArgs::default()
            }),
            Ok(json!(42))
        );
        let mut kwargs = Map::new();
        kwargs.insert("x".into(), json!(5));
        assert_eq!(
            run(ToolArgs {
                args: vec![],
                kwargs
            }),
            Ok(json!(10))
        );
        assert_eq!(
            run(ToolArgs::default()).unwrap_err().to_string(),
            "TypeError: x must be int"
        );
    }
}
