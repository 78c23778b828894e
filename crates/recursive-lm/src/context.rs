//! What a completion runs over.

use rlm_core::ReplValue;

/// The context of a completion: text (the usual case), a list of documents, or JSON data.
/// It is loaded into the REPL as the variable `context`; the model never sees it whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Context(pub(crate) ReplValue);

impl Context {
    /// The value as the REPL will hold it.
    pub fn value(&self) -> &ReplValue {
        &self.0
    }

    /// Consumes the context.
    pub fn into_value(self) -> ReplValue {
        self.0
    }
}

impl From<String> for Context {
    fn from(s: String) -> Self {
        Context(ReplValue::Str(s))
    }
}

impl From<&str> for Context {
    fn from(s: &str) -> Self {
        Context(ReplValue::Str(s.to_string()))
    }
}

impl From<Vec<String>> for Context {
    fn from(items: Vec<String>) -> Self {
        Context(ReplValue::List(
            items.into_iter().map(ReplValue::Str).collect(),
        ))
    }
}

impl From<serde_json::Value> for Context {
    fn from(v: serde_json::Value) -> Self {
        Context(ReplValue::from_json(v))
    }
}

impl From<ReplValue> for Context {
    fn from(v: ReplValue) -> Self {
        Context(v)
    }
}
