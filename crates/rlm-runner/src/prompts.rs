//! The prompts the loop sends. The texts live in `src/prompts/*.md`; golden tests in
//! `tests/prompts.rs` pin what the model sees.

use rlm_core::{ReplValue, ToolKind, Tools};

const SYSTEM: &str = include_str!("prompts/system.md");
const FIRST_TURN: &str = include_str!("prompts/first_turn.md");
const NO_CODE: &str = include_str!("prompts/no_code.md");
const UNTERMINATED: &str = include_str!("prompts/unterminated.md");
const LAST_CHANCE: &str = include_str!("prompts/last_chance.md");

/// The built-in system prompt template. Placeholders: `{{sub_call_chars}}`,
/// `{{recursion_note}}`, `{{sandbox_capabilities}}`. The custom tools follow it ([`with_tools`]).
pub const DEFAULT_SYSTEM_PROMPT: &str = SYSTEM;

/// What the root model is told about the context: its type and size, never its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextInfo {
    /// Python type name (`str`, `list`, `dict`).
    pub type_name: String,
    /// Total characters.
    pub total_chars: usize,
    /// For a list, the character length of each item.
    pub item_lengths: Option<Vec<usize>>,
    /// For a dict of texts (files and folders), the documents' count and sizes.
    pub documents: Option<DocumentStats>,
}

/// The sizes of a dict of documents (name to text), told to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentStats {
    /// How many documents.
    pub count: usize,
    /// The largest document's key.
    pub largest_name: String,
    /// Its length in characters.
    pub largest_chars: usize,
}

impl DocumentStats {
    /// The stats of a non-empty dict whose keys and values are all strings, with the total
    /// characters of its values.
    fn of(pairs: &[(ReplValue, ReplValue)]) -> Option<(Self, usize)> {
        let mut stats = Self {
            count: 0,
            largest_name: String::new(),
            largest_chars: 0,
        };
        let mut total = 0;
        for (key, value) in pairs {
            let (ReplValue::Str(name), ReplValue::Str(text)) = (key, value) else {
                return None;
            };
            let chars = text.chars().count();
            total += chars;
            if stats.count == 0 || chars > stats.largest_chars {
                stats.largest_name.clone_from(name);
                stats.largest_chars = chars;
            }
            stats.count += 1;
        }
        (stats.count > 0).then_some((stats, total))
    }
}

impl ContextInfo {
    /// Measures a context value.
    pub fn of(value: &ReplValue) -> Self {
        match value {
            ReplValue::List(items) | ReplValue::Tuple(items) => {
                let lengths: Vec<usize> = items.iter().map(ReplValue::char_len).collect();
                Self {
                    type_name: value.type_name().to_string(),
                    total_chars: lengths.iter().sum(),
                    item_lengths: Some(lengths),
                    documents: None,
                }
            }
            ReplValue::Dict(pairs) => match DocumentStats::of(pairs) {
                Some((stats, total_chars)) => Self {
                    type_name: "dict".into(),
                    total_chars,
                    item_lengths: None,
                    documents: Some(stats),
                },
                None => Self {
                    type_name: "dict".into(),
                    total_chars: pairs.iter().map(|(_, v)| v.char_len()).sum(),
                    item_lengths: None,
                    documents: None,
                },
            },
            other => Self {
                type_name: other.type_name().to_string(),
                total_chars: other.char_len(),
                item_lengths: None,
                documents: None,
            },
        }
    }

    /// The sentence(s) describing the context.
    pub fn describe(&self) -> String {
        if let Some(docs) = &self.documents {
            return format!(
                "Your context is a dict of {} documents (key: name or relative path, value: its text), \
                 {} total characters; the largest, {:?}, has {} characters. \
                 List the names with `list(context)` and read a document with `context[name]`.",
                group_thousands(docs.count),
                group_thousands(self.total_chars),
                docs.largest_name,
                group_thousands(docs.largest_chars)
            );
        }
        let mut s = format!(
            "Your context is a {} of {} total characters.",
            self.type_name, self.total_chars
        );
        if let Some(lengths) = &self.item_lengths {
            let shown: Vec<String> = lengths.iter().take(100).map(|n| n.to_string()).collect();
            let more = lengths.len().saturating_sub(100);
            s.push_str(&format!(
                " It has {} items, of character lengths [{}]",
                lengths.len(),
                shown.join(", ")
            ));
            if more > 0 {
                s.push_str(&format!(" ... [{more} others]"));
            }
            s.push('.');
        }
        s
    }
}

/// What the prompts need to know about the run.
#[derive(Debug, Clone)]
pub struct PromptSettings<'a> {
    /// Depth of the run (0 = root).
    pub depth: u32,
    /// `BackendLimits::max_depth`.
    pub max_depth: u32,
    /// `RunLimits::max_iterations`.
    pub max_iterations: u32,
    /// How many characters one sub-call prompt can hold (told to the model).
    pub sub_call_chars: usize,
    /// The sandbox's own description of its Python.
    pub sandbox_capabilities: &'a str,
}

/// Fills the system prompt template (the built-in one or a user's).
pub fn system_prompt(template: &str, s: &PromptSettings<'_>) -> String {
    let recursion = if s.max_depth == 0 {
        "Sub-calls are disabled in this run: all four query functions return an `Error:` string."
            .to_string()
    } else if s.depth + 1 < s.max_depth {
        "Use them for sub-tasks that need their own exploration of a large input.".to_string()
    } else {
        "At this depth they behave exactly like `llm_query` and `llm_query_batched`.".to_string()
    };
    template
        .replace("{{sub_call_chars}}", &group_thousands(s.sub_call_chars))
        .replace("{{recursion_note}}", &recursion)
        .replace("{{sandbox_capabilities}}", s.sandbox_capabilities.trim())
        .trim_end()
        .to_string()
}

/// The system prompt's list of custom tools and data values, or `None` when there are none.
pub fn tools_section(tools: &Tools) -> Option<String> {
    if tools.is_empty() {
        return None;
    }
    let mut s = String::from("Custom tools and data are also in the REPL:");
    for entry in tools.entries() {
        s.push_str("\n- ");
        s.push_str(&entry.prompt_line());
    }
    if tools
        .entries()
        .iter()
        .any(|e| matches!(e.kind, ToolKind::Function(_)))
    {
        s.push_str("\n\nCall a tool like a function, with positional or keyword arguments that are plain data (str, int, float, bool, None, and lists and dicts of them, dict keys str); it returns plain data. A tool that fails raises an exception (such as RuntimeError or ValueError) with its message, which try/except can catch. The time a tool takes counts against the block's time limit.");
    }
    Some(s)
}

/// Adds the custom tools to a filled system prompt: as a paragraph at its `{{custom_tools}}`
/// placeholder when it has one (a user's template may place them; removed when there are no
/// tools), else as the last paragraph (the built-in prompt).
pub fn with_tools(prompt: String, tools: &Tools) -> String {
    let section = tools_section(tools);
    if prompt.contains("{{custom_tools}}") {
        let paragraph = section.map(|s| format!("\n\n{s}")).unwrap_or_default();
        return prompt.replace("{{custom_tools}}", &paragraph);
    }
    match section {
        Some(section) => format!("{prompt}\n\n{section}"),
        None => prompt,
    }
}

/// The first user message: the context's shape, the query, and the iteration-0 safeguard.
pub fn first_user_message(context: &ContextInfo, query: &str, max_iterations: u32) -> String {
    format!(
        "{}\n\nQuery: {}\n\n{}\n\n{}",
        context.describe(),
        query.trim(),
        FIRST_TURN.trim(),
        turn_marker(1, max_iterations)
    )
}

/// `Turn i/N.`
pub fn turn_marker(iteration: u32, max_iterations: u32) -> String {
    format!("Turn {iteration}/{max_iterations}.")
}

/// The nudge after a reply with no code and no finish.
pub fn no_code_nudge() -> &'static str {
    NO_CODE.trim()
}

/// The note after a reply whose code fence was never closed.
pub fn unterminated_note() -> &'static str {
    UNTERMINATED.trim()
}

/// The request for a final answer when iterations run out.
pub fn last_chance() -> &'static str {
    LAST_CHANCE.trim()
}

fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_info_describes_shapes() {
        let s = ContextInfo::of(&ReplValue::Str("héllo".into()));
        assert_eq!(s.describe(), "Your context is a str of 5 total characters.");
        let list = ContextInfo::of(&ReplValue::List(vec!["ab".into(), "c".into()]));
        assert_eq!(
            list.describe(),
            "Your context is a list of 3 total characters. It has 2 items, of character lengths [2, 1]."
        );
        let many = ContextInfo::of(&ReplValue::List(
            (0..105).map(|_| ReplValue::from("x")).collect(),
        ));
        assert!(many.describe().ends_with("... [5 others]."));
        let docs = ContextInfo::of(&ReplValue::Dict(vec![
            ("a.txt".into(), "x".repeat(1500).into()),
            ("src/b.rs".into(), "y".repeat(2500).into()),
        ]));
        assert_eq!(
            docs.describe(),
            "Your context is a dict of 2 documents (key: name or relative path, value: its text), \
             4,000 total characters; the largest, \"src/b.rs\", has 2,500 characters. \
             List the names with `list(context)` and read a document with `context[name]`."
        );
        // A dict with a non-text value is data, not documents.
        let data = ContextInfo::of(&ReplValue::Dict(vec![("n".into(), ReplValue::Int(3))]));
        assert_eq!(data.documents, None);
        assert_eq!(
            data.describe(),
            "Your context is a dict of 1 total characters."
        );
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(999), "999");
    }
}
