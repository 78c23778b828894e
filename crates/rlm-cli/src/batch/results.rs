//! The results file of `rlm batch`: JSON Lines, one line per task, appended as each task ends.
//!
//! Crash safety: each line is written with one `write` on a file opened for appending, then
//! `fsync`ed before the next task is counted, so after a crash (`kill -9`, a power cut) the file
//! holds whole lines and at most one torn last line. [`open`] with `resume` reads it back: a
//! torn last line that still parses is kept (its newline added), one that does not is dropped;
//! a line that is not a result, or repeats an id, is dropped too. When anything is dropped or
//! repaired, the kept lines are written to a temporary file that replaces the old one
//! (`rename`, so a crash during the repair leaves the old file or the new one, never a mix).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// What the summary needs of one result line.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The id as text.
    pub key: String,
    /// `finished`, `iteration_limit`, `budget`, `timeout`, `error_limit`, `failed`.
    pub outcome: String,
    /// Whether the answer matched `expected` (absent when not scored).
    pub correct: Option<bool>,
    /// USD, when known.
    pub cost: Option<f64>,
    /// Tokens of the task's tree.
    pub tokens: u64,
    /// Wall-clock time of the task.
    pub duration_ms: u64,
}

impl Record {
    /// Reads a result line; `None` when it is not one (no id).
    pub fn from_value(value: &Value) -> Option<Record> {
        let key = match value.get("id")? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let usage = value.get("total_usage");
        let tokens = ["input_tokens", "output_tokens"]
            .iter()
            .filter_map(|k| usage.and_then(|u| u.get(*k)).and_then(Value::as_u64))
            .sum();
        Some(Record {
            key,
            outcome: value
                .get("outcome")
                .and_then(Value::as_str)
                .unwrap_or("failed")
                .to_string(),
            correct: value.get("correct").and_then(Value::as_bool),
            cost: value.get("cost").and_then(Value::as_f64),
            tokens,
            duration_ms: value
                .get("duration_ms")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }

    /// Whether the task answered (`finished`, or `iteration_limit` with the last-chance
    /// answer); every other outcome counts as failed.
    pub fn answered(&self) -> bool {
        is_answered(&self.outcome)
    }
}

/// Whether an outcome name is an answer.
pub fn is_answered(outcome: &str) -> bool {
    matches!(outcome, "finished" | "iteration_limit")
}

/// Why the results file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// It already holds results and `--resume` was not given.
    #[error(
        "{} already holds results ({lines} line(s)); pass --resume to skip the tasks done there and run the rest, or choose another --out",
        path.display()
    )]
    Exists {
        /// The file.
        path: PathBuf,
        /// Its non-empty lines.
        lines: usize,
    },
    /// Reading, repairing or opening it failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The results file, read back and open for appending.
#[derive(Debug)]
pub struct Opened {
    /// The results kept from an earlier run (`--resume`), in file order.
    pub records: Vec<Record>,
    /// One line per repair made (a torn last line, dropped lines), for stderr.
    pub repairs: Vec<String>,
    /// Where new results go.
    pub writer: ResultsWriter,
}

/// Appends result lines, each flushed to disk before [`ResultsWriter::append`] returns.
#[derive(Debug)]
pub struct ResultsWriter {
    file: File,
    path: PathBuf,
}

impl ResultsWriter {
    /// Appends `value` as one line and syncs it to disk.
    ///
    /// # Errors
    /// The write or the sync failed.
    pub fn append(&mut self, value: &Value) -> Result<(), OpenError> {
        let mut line = id_first(value);
        line.push('\n');
        let io = |source| OpenError::Io {
            action: "write to",
            path: self.path.clone(),
            source,
        };
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

/// `value` as JSON text, with `id` first (the other keys are sorted), so the lines are easy to
/// scan.
fn id_first(value: &Value) -> String {
    let Some(object) = value.as_object().filter(|o| o.contains_key("id")) else {
        return value.to_string();
    };
    let mut rest = object.clone();
    let id = rest.remove("id").unwrap_or_default();
    let rest = Value::Object(rest).to_string();
    match rest.strip_prefix('{').filter(|r| *r != "}") {
        Some(fields) => format!("{{\"id\":{id},{fields}"),
        None => format!("{{\"id\":{id}}}"),
    }
}

/// Opens `path` for a batch. Without `resume`, a file holding anything but whitespace is
/// refused ([`OpenError::Exists`]). With `resume`, its results are read back (see the module
/// docs); with `retry_failed` too, the lines of tasks that did not answer are dropped so those
/// tasks run again.
///
/// # Errors
/// [`OpenError`].
pub fn open(path: &Path, resume: bool, retry_failed: bool) -> Result<Opened, OpenError> {
    let io = |action: &'static str| {
        move |source| OpenError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io("read")(e)),
    };
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    if !resume && lines > 0 {
        return Err(OpenError::Exists {
            path: path.to_path_buf(),
            lines,
        });
    }
    let (kept, repairs, rewrite) = read_back(&text, retry_failed);
    if rewrite {
        replace(path, &kept).map_err(io("repair"))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io("open"))?;
    Ok(Opened {
        records: kept.into_iter().map(|(_, record)| record).collect(),
        repairs,
        writer: ResultsWriter {
            file,
            path: path.to_path_buf(),
        },
    })
}

/// The lines to keep (text and record), the repairs made, and whether the file must be
/// rewritten.
fn read_back(text: &str, retry_failed: bool) -> (Vec<(String, Record)>, Vec<String>, bool) {
    let mut kept = Vec::new();
    let mut repairs = Vec::new();
    let mut rewrite = false;
    let mut seen = HashSet::new();
    let torn_tail = !text.is_empty() && !text.ends_with('\n');
    let segments: Vec<&str> = text.split('\n').collect();
    let last = segments.len().saturating_sub(1);
    let mut retried = 0;
    for (index, segment) in segments.iter().enumerate() {
        let line = index + 1;
        if segment.trim().is_empty() {
            continue;
        }
        let is_tail = torn_tail && index == last;
        let record = serde_json::from_str::<Value>(segment)
            .ok()
            .and_then(|v| Record::from_value(&v));
        match record {
            Some(record) if !seen.contains(&record.key) => {
                if is_tail {
                    repairs.push(format!(
                        "line {line} (task {:?}) had no newline: kept, newline added",
                        record.key
                    ));
                    rewrite = true;
                }
                seen.insert(record.key.clone());
                if retry_failed && !record.answered() {
                    retried += 1;
                    rewrite = true;
                } else {
                    kept.push((segment.to_string(), record));
                }
            }
            Some(record) => {
                repairs.push(format!(
                    "line {line}: task {:?} appears again: dropped",
                    record.key
                ));
                rewrite = true;
            }
            None if is_tail => {
                repairs.push(format!(
                    "line {line} was cut short by a crash: dropped (its task runs again)"
                ));
                rewrite = true;
            }
            None => {
                repairs.push(format!("line {line} is not a result line: dropped"));
                rewrite = true;
            }
        }
    }
    if retried > 0 {
        repairs.push(format!(
            "--retry-failed: {retried} task(s) that did not answer run again"
        ));
    }
    (kept, repairs, rewrite)
}

/// Replaces `path` with `kept`, atomically: a temporary file beside it, synced, renamed over.
fn replace(path: &Path, kept: &[(String, Record)]) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".repair");
    let temporary = path.with_file_name(name);
    {
        let mut file = File::create(&temporary)?;
        for (line, _) in kept {
            file.write_all(line.as_bytes())?;
            file.write_all(b"\n")?;
        }
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    // The rename itself is durable once the folder is synced (not possible on every platform).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(kept: &[(String, Record)]) -> Vec<&str> {
        kept.iter().map(|(_, r)| r.key.as_str()).collect()
    }

    #[test]
    fn a_torn_last_line_is_dropped_or_repaired() {
        let good = "{\"id\":\"a\",\"outcome\":\"finished\"}\n{\"id\":2,\"outcome\":\"budget\"}\n";
        let (kept, repairs, rewrite) = read_back(good, false);
        assert_eq!(
            (keys(&kept), repairs.len(), rewrite),
            (vec!["a", "2"], 0, false)
        );

        let torn = format!("{good}{{\"id\":\"c\",\"answ");
        let (kept, repairs, rewrite) = read_back(&torn, false);
        assert_eq!(keys(&kept), vec!["a", "2"]);
        assert!(
            rewrite && repairs[0].contains("line 3 was cut short"),
            "{repairs:?}"
        );

        let whole = format!("{good}{{\"id\":\"c\",\"outcome\":\"finished\"}}");
        let (kept, repairs, rewrite) = read_back(&whole, false);
        assert_eq!(keys(&kept), vec!["a", "2", "c"]);
        assert!(
            rewrite && repairs[0].contains("newline added"),
            "{repairs:?}"
        );
    }

    #[test]
    fn bad_and_repeated_lines_are_dropped_and_failures_retried() {
        let text = "{\"id\":\"a\",\"outcome\":\"finished\"}\nnot json\n{\"x\":1}\n{\"id\":\"a\",\"outcome\":\"failed\"}\n{\"id\":\"b\",\"outcome\":\"timeout\"}\n";
        let (kept, repairs, rewrite) = read_back(text, false);
        assert_eq!(keys(&kept), vec!["a", "b"]);
        assert_eq!(repairs.len(), 3, "{repairs:?}");
        assert!(rewrite);
        let (kept, repairs, _) = read_back(text, true);
        assert_eq!(keys(&kept), vec!["a"]);
        assert!(repairs.last().unwrap().contains("1 task(s)"));
    }

    #[test]
    fn the_id_comes_first() {
        let value = serde_json::json!({"answer": "x", "id": 7, "cost": null});
        assert_eq!(
            id_first(&value),
            "{\"id\":7,\"answer\":\"x\",\"cost\":null}"
        );
        assert_eq!(id_first(&serde_json::json!({"id": "a"})), "{\"id\":\"a\"}");
        assert_eq!(id_first(&serde_json::json!({"b": 1})), "{\"b\":1}");
    }

    #[test]
    fn open_refuses_a_used_file_without_resume_and_repairs_with_it() {
        let dir = std::env::temp_dir().join(format!("rlm-batch-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.jsonl");
        std::fs::write(&path, "\n  \n").unwrap();
        assert!(
            open(&path, false, false).is_ok(),
            "blank files are not results"
        );
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"outcome\":\"finished\"}\n{\"id\":\"b\"",
        )
        .unwrap();
        let err = open(&path, false, false).unwrap_err().to_string();
        assert!(
            err.contains("--resume") && err.contains("2 line(s)"),
            "{err}"
        );
        let mut opened = open(&path, true, false).unwrap();
        assert_eq!(opened.records.len(), 1);
        opened
            .writer
            .append(&serde_json::json!({"outcome": "finished", "id": "b"}))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"id\":\"a\",\"outcome\":\"finished\"}\n{\"id\":\"b\",\"outcome\":\"finished\"}\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
