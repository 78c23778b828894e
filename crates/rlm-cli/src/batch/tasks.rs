//! The task file of `rlm batch`: JSON Lines, one task per line (`docs/cli.md`, `## rlm batch`).
//!
//! A line holds `id` (a string or an integer), `query`, at most one context source (`context`,
//! inline text or any JSON value; `context_file`, a path or a list of paths; `context_dir`,
//! with optional `include`/`exclude` glob lists; `context_json`, a JSON file), an optional
//! `expected` answer (a string, a number, or a list of accepted answers) and optional per-task
//! limits. Relative paths are read from the task file's folder. A line that cannot be a task is
//! a [`Problem`] with its line number; the other lines still run. Blank lines and lines starting
//! with `#` or `//` are skipped.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

/// The per-task limits a line may set; unset ones come from the flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskLimits {
    /// `max_iterations`: model turns of the task's root run.
    pub max_iterations: Option<u32>,
    /// `max_depth`: recursion depth.
    pub max_depth: Option<u32>,
    /// `timeout`: wall-clock seconds of the task.
    pub timeout: Option<Duration>,
    /// `max_tokens`: tokens of the task's tree.
    pub max_tokens: Option<u64>,
    /// `max_cost`: USD of the task's tree.
    pub max_cost: Option<f64>,
    /// `max_llm_calls`: LLM calls of the task's tree.
    pub max_llm_calls: Option<u64>,
    /// `max_errors`: turns in a row whose code raised.
    pub max_errors: Option<u32>,
}

/// Where a task's context comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ContextSource {
    /// `context`: a string is the text, any other JSON value becomes dicts, lists and numbers.
    Inline(Value),
    /// `context_file`: one file (a string) or several (a dict from path to text).
    Files(Vec<PathBuf>),
    /// `context_dir`, with its `include` and `exclude` globs.
    Dir {
        /// The folder.
        dir: PathBuf,
        /// Globs of files to keep.
        include: Vec<String>,
        /// Globs of files to leave out.
        exclude: Vec<String>,
    },
    /// `context_json`: a JSON file.
    Json(PathBuf),
    /// No context source: the context is the empty string.
    Empty,
}

/// One task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// 1-based line number in the task file.
    pub line: usize,
    /// The id as written (a string or an integer), copied into the result line.
    pub id: Value,
    /// The id as text: what `--resume` matches on.
    pub key: String,
    /// The question.
    pub query: String,
    /// The context.
    pub context: ContextSource,
    /// Accepted answers (empty: not scored).
    pub expected: Vec<String>,
    /// Per-task limits.
    pub limits: TaskLimits,
}

/// A line that is not a task.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, naming the field.
    pub message: String,
}

/// What a task file holds.
#[derive(Debug, Default)]
pub struct TaskFile {
    /// The valid tasks, in file order, each id once.
    pub tasks: Vec<Task>,
    /// The lines that are not tasks.
    pub problems: Vec<Problem>,
    /// Fields no task knows, each once, with the first line using it (ignored: benchmark files
    /// often carry their own metadata).
    pub unknown_fields: Vec<(String, usize)>,
}

/// The fields a task line may hold.
const FIELDS: [&str; 17] = [
    "id",
    "query",
    "context",
    "context_file",
    "context_dir",
    "include",
    "exclude",
    "context_json",
    "expected",
    "max_iterations",
    "max_depth",
    "timeout",
    "max_tokens",
    "max_cost",
    "max_llm_calls",
    "max_errors",
    "meta",
];

/// Parses a task file's text; `base` is the folder relative paths are read from.
pub fn parse(text: &str, base: &Path) -> TaskFile {
    let mut file = TaskFile::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("//") {
            continue;
        }
        let object = match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                file.problems.push(Problem {
                    line,
                    message: "not a JSON object".into(),
                });
                continue;
            }
            Err(e) => {
                file.problems.push(Problem {
                    line,
                    message: format!("bad JSON: {e}"),
                });
                continue;
            }
        };
        for key in object.keys() {
            if !FIELDS.contains(&key.as_str()) && unknown.insert(key.clone()) {
                file.unknown_fields.push((key.clone(), line));
            }
        }
        match task(&object, line, base) {
            Ok(task) => match seen.get(&task.key) {
                Some(first) => file.problems.push(Problem {
                    line,
                    message: format!("duplicate id {} (first on line {first})", task.id),
                }),
                None => {
                    seen.insert(task.key.clone(), line);
                    file.tasks.push(task);
                }
            },
            Err(message) => file.problems.push(Problem { line, message }),
        }
    }
    file
}

fn task(object: &Map<String, Value>, line: usize, base: &Path) -> Result<Task, String> {
    let (id, key) = match object.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => (Value::String(s.clone()), s.clone()),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => {
            (Value::Number(n.clone()), n.to_string())
        }
        Some(_) => return Err("`id` must be a non-empty string or an integer".into()),
        None => return Err("no `id`".into()),
    };
    let query = match object.get("query") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(format!("task {id}: `query` is empty")),
        Some(_) => return Err(format!("task {id}: `query` must be a string")),
        None => return Err(format!("task {id}: no `query`")),
    };
    let context = context(object, base).map_err(|e| format!("task {id}: {e}"))?;
    let expected = expected(object.get("expected")).map_err(|e| format!("task {id}: {e}"))?;
    let limits = limits(object).map_err(|e| format!("task {id}: {e}"))?;
    Ok(Task {
        line,
        id,
        key,
        query,
        context,
        expected,
        limits,
    })
}

fn context(object: &Map<String, Value>, base: &Path) -> Result<ContextSource, String> {
    let sources: Vec<&str> = ["context", "context_file", "context_dir", "context_json"]
        .into_iter()
        .filter(|k| object.contains_key(*k))
        .collect();
    if sources.len() > 1 {
        return Err(format!(
            "give one context source, not {}",
            sources
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        ));
    }
    let globs = |key: &str| -> Result<Vec<String>, String> {
        match object.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("`{key}` must be a glob or a list of globs"))
                })
                .collect(),
            Some(_) => Err(format!("`{key}` must be a glob or a list of globs")),
        }
    };
    let include = globs("include")?;
    let exclude = globs("exclude")?;
    if sources.first() != Some(&"context_dir") && !(include.is_empty() && exclude.is_empty()) {
        return Err("`include` and `exclude` apply to `context_dir` only".into());
    }
    let path = |key: &str, value: &Value| -> Result<PathBuf, String> {
        match value.as_str() {
            Some("-") => Err(format!("`{key}` cannot be standard input in a task file")),
            Some(p) if !p.trim().is_empty() => Ok(base.join(p)),
            _ => Err(format!("`{key}` must be a path")),
        }
    };
    Ok(
        match (
            sources.first().copied(),
            sources.first().and_then(|k| object.get(*k)),
        ) {
            (Some("context"), Some(value)) => ContextSource::Inline(value.clone()),
            (Some("context_file"), Some(Value::Array(items))) if !items.is_empty() => {
                ContextSource::Files(
                    items
                        .iter()
                        .map(|v| path("context_file", v))
                        .collect::<Result<_, _>>()?,
                )
            }
            (Some("context_file"), Some(value)) => {
                ContextSource::Files(vec![path("context_file", value)?])
            }
            (Some("context_dir"), Some(value)) => ContextSource::Dir {
                dir: path("context_dir", value)?,
                include,
                exclude,
            },
            (Some("context_json"), Some(value)) => {
                ContextSource::Json(path("context_json", value)?)
            }
            _ => ContextSource::Empty,
        },
    )
}

/// `expected` as the list of accepted answers: strings as they are, numbers and booleans as
/// their JSON text.
fn expected(value: Option<&Value>) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(_) | Value::Bool(_) => Ok(v.to_string()),
        _ => Err("`expected` must be a string, a number, or a list of them".to_string()),
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if !items.is_empty() => items.iter().map(one).collect(),
        Some(Value::Array(_)) => Err("`expected` is an empty list".into()),
        Some(v) => Ok(vec![one(v)?]),
    }
}

fn limits(object: &Map<String, Value>) -> Result<TaskLimits, String> {
    let count = |key: &str| -> Result<Option<u64>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("`{key}` must be a whole number, 0 or more")),
        }
    };
    let small = |key: &str| -> Result<Option<u32>, String> {
        count(key)?
            .map(|n| u32::try_from(n).map_err(|_| format!("`{key}` is too large")))
            .transpose()
    };
    let positive = |key: &str| -> Result<Option<f64>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
                _ => Err(format!("`{key}` must be a positive number")),
            },
        }
    };
    Ok(TaskLimits {
        max_iterations: small("max_iterations")?,
        max_depth: small("max_depth")?,
        timeout: positive("timeout")?
            .map(|s| Duration::try_from_secs_f64(s).map_err(|e| format!("`timeout`: {e}")))
            .transpose()?,
        max_tokens: count("max_tokens")?,
        max_cost: positive("max_cost")?,
        max_llm_calls: count("max_llm_calls")?,
        max_errors: small("max_errors")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> TaskFile {
        parse(text, Path::new("/data"))
    }

    #[test]
    fn good_lines_become_tasks() {
        let file = parse_str(concat!(
            "{\"id\":\"a\",\"query\":\"q1\",\"context\":\"text\",\"expected\":\"Paris\"}\n",
            "\n# a comment\n",
            "{\"id\":7,\"query\":\"q2\",\"context_file\":[\"x.txt\",\"/abs/y.txt\"],\"expected\":[1,\"one\"],\"max_iterations\":3,\"timeout\":1.5,\"max_cost\":0.5}\n",
            "{\"id\":\"d\",\"query\":\"q3\",\"context_dir\":\"repo\",\"include\":\"*.rs\",\"category\":\"x\"}\n",
            "{\"id\":\"j\",\"query\":\"q4\",\"context\":{\"k\":[1,2]}}\n",
            "{\"id\":\"n\",\"query\":\"q5\"}\n",
        ));
        assert_eq!(file.problems, vec![]);
        let t = &file.tasks;
        assert_eq!(t.len(), 5);
        assert_eq!((t[0].line, t[0].key.as_str()), (1, "a"));
        assert_eq!(t[0].context, ContextSource::Inline(Value::from("text")));
        assert_eq!(t[0].expected, vec!["Paris"]);
        assert_eq!(
            (t[1].line, t[1].key.as_str(), &t[1].id),
            (4, "7", &Value::from(7))
        );
        assert_eq!(
            t[1].context,
            ContextSource::Files(vec!["/data/x.txt".into(), "/abs/y.txt".into()])
        );
        assert_eq!(t[1].expected, vec!["1", "one"]);
        assert_eq!(t[1].limits.max_iterations, Some(3));
        assert_eq!(t[1].limits.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(t[1].limits.max_cost, Some(0.5));
        assert_eq!(
            t[2].context,
            ContextSource::Dir {
                dir: "/data/repo".into(),
                include: vec!["*.rs".into()],
                exclude: vec![]
            }
        );
        assert_eq!(file.unknown_fields, vec![("category".to_string(), 5)]);
        assert!(matches!(
            t[3].context,
            ContextSource::Inline(Value::Object(_))
        ));
        assert_eq!(t[4].context, ContextSource::Empty);
    }

    #[test]
    fn bad_lines_are_problems_with_their_line_number() {
        let file = parse_str(concat!(
            "{\"id\":\"a\",\"query\":\"q\"}\n",
            "{not json\n",
            "[1,2]\n",
            "{\"query\":\"q\"}\n",
            "{\"id\":\"b\"}\n",
            "{\"id\":\"a\",\"query\":\"again\"}\n",
            "{\"id\":\"c\",\"query\":\"q\",\"context\":\"x\",\"context_file\":\"f\"}\n",
            "{\"id\":\"d\",\"query\":\"  \"}\n",
            "{\"id\":\"e\",\"query\":\"q\",\"max_iterations\":-1}\n",
            "{\"id\":\"f\",\"query\":\"q\",\"context_file\":\"-\"}\n",
            "{\"id\":\"g\",\"query\":\"q\",\"include\":\"*.rs\"}\n",
            "{\"id\":1.5,\"query\":\"q\"}\n",
            "{\"id\":\"h\",\"query\":\"q\",\"timeout\":0}\n",
        ));
        assert_eq!(file.tasks.len(), 1);
        let lines: Vec<(usize, &str)> = file
            .problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        let expect = [
            (2, "bad JSON"),
            (3, "not a JSON object"),
            (4, "no `id`"),
            (5, "task \"b\": no `query`"),
            (6, "duplicate id \"a\" (first on line 1)"),
            (
                7,
                "give one context source, not `context` and `context_file`",
            ),
            (8, "`query` is empty"),
            (9, "`max_iterations` must be a whole number"),
            (10, "standard input"),
            (11, "apply to `context_dir` only"),
            (12, "`id` must be"),
            (13, "`timeout` must be a positive number"),
        ];
        assert_eq!(lines.len(), expect.len(), "{lines:?}");
        for ((line, message), (want_line, want)) in lines.iter().zip(expect) {
            assert_eq!(*line, want_line);
            assert!(message.contains(want), "line {line}: {message}");
        }
    }
}
