//! [`TrajectoryWriter`]: the event sink that writes a trajectory file as the run goes.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use rlm_core::RunEvent;
use rlm_core::{EventSink, SinkError};
use rlm_runner::{Models, RunnerConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::SCHEMA_ID;
use super::time::{iso_utc, unix_ms};

/// The first record of a trajectory: what wrote it, when, and with which settings (secrets
/// never included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always `"header"`.
    pub record: String,
    /// The format and its version: [`SCHEMA_ID`].
    pub schema: String,
    /// When the file was created, ISO 8601 UTC.
    pub created: String,
    /// The same instant in milliseconds since the Unix epoch; every record's `t_ms` counts
    /// from it.
    pub created_unix_ms: u64,
    /// The library that wrote it (`recursive-lm 0.1.0`).
    pub library: String,
    /// The configuration: models, REPL backend, limits and settings, plus whatever the
    /// application added (the CLI adds its provider and sandbox). Keys that look like secrets
    /// are removed.
    pub config: Value,
}

/// Writes one JSON record per line: the [`Header`], then one record per [`RunEvent`]:
/// `{"record":"event","seq":N,"t_ms":T,"event":"...",...}` with the event's fields.
///
/// Each line is serialized in full first and written with one `write_all` on an unbuffered
/// file, as it happens: when the process is killed, every complete line parses and at most
/// the last one is partial. A write error is reported to the run's log once per event and
/// never stops the run.
#[derive(Debug)]
pub struct TrajectoryWriter {
    path: PathBuf,
    started: Instant,
    created_unix_ms: u64,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    seq: u64,
    header_written: bool,
}

/// An event record as written.
#[derive(Serialize)]
struct EventRecord<'a> {
    record: &'static str,
    seq: u64,
    t_ms: f64,
    #[serde(flatten)]
    event: &'a RunEvent,
}

impl TrajectoryWriter {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path)?;
        Ok(Self {
            path,
            started: Instant::now(),
            created_unix_ms: unix_ms(SystemTime::now()),
            inner: Mutex::new(Inner {
                file,
                seq: 0,
                header_written: false,
            }),
        })
    }

    /// Where the trajectory goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header for these settings; `extra` (a JSON object, e.g. the CLI's provider and
    /// sandbox) is merged into `config`.
    pub fn header(
        &self,
        config: &RunnerConfig,
        models: &Models,
        repl_backend: &str,
        extra: Option<&Value>,
    ) -> Header {
        let mut value = json!({
            "root_model": models.root_name(),
            "sub_model": models.sub_name(),
            "named_models": models.named_names(),
            "repl_backend": repl_backend,
            "max_depth": config.backend.max_depth,
            "max_iterations": config.run.max_iterations,
            "backend_limits": config.backend,
            "run_limits": config.run,
            "repl": config.repl,
            "observation_limit": config.observation_limit,
            "sub_call_chars": config.sub_call_chars,
            "child_query_chars": config.child_query_chars,
            "temperature": config.sampling.temperature,
            "max_output_tokens": config.sampling.max_tokens,
            "sampling": config.sampling,
            "sub_sampling": config.sub_sampling,
            "custom_system_prompt": config.system_prompt.is_some(),
            "prices": config.prices,
            "record_content": self.wants_content(),
        });
        if let (Value::Object(target), Some(Value::Object(extra))) = (&mut value, extra) {
            for (k, v) in extra {
                target.insert(k.clone(), v.clone());
            }
        }
        Header {
            record: "header".into(),
            schema: SCHEMA_ID.into(),
            created: iso_utc(self.created_unix_ms),
            created_unix_ms: self.created_unix_ms,
            library: concat!("recursive-lm ", env!("CARGO_PKG_VERSION")).into(),
            config: without_secrets(value),
        }
    }

    /// Writes the header line. Only the first header counts: a header written after events
    /// (or twice) is ignored.
    pub fn write_header(&self, header: &Header) -> std::io::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.header_written {
            return Ok(());
        }
        let header = Header {
            config: without_secrets(header.config.clone()),
            ..header.clone()
        };
        let line = to_line(&header)?;
        inner.file.write_all(line.as_bytes())?;
        inner.header_written = true;
        Ok(())
    }

    fn minimal_header(&self) -> Header {
        Header {
            record: "header".into(),
            schema: SCHEMA_ID.into(),
            created: iso_utc(self.created_unix_ms),
            created_unix_ms: self.created_unix_ms,
            library: concat!("recursive-lm ", env!("CARGO_PKG_VERSION")).into(),
            config: Value::Object(Map::new()),
        }
    }
}

fn to_line<T: Serialize>(value: &T) -> std::io::Result<String> {
    let mut line = serde_json::to_string(value)?;
    line.push('\n');
    Ok(line)
}

impl EventSink for TrajectoryWriter {
    /// A trajectory holds the conversation, code and output: it always wants the content.
    fn wants_content(&self) -> bool {
        true
    }

    fn on_event(&self, event: &RunEvent) -> Result<(), SinkError> {
        let t_ms = (self.started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        let fail = |e: std::io::Error| SinkError {
            message: format!("trajectory {}: {e}", self.path.display()),
        };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !inner.header_written {
            // Subscribed by hand, without RlmBuilder::trajectory: a header without settings.
            let line = to_line(&self.minimal_header()).map_err(fail)?;
            inner.file.write_all(line.as_bytes()).map_err(fail)?;
            inner.header_written = true;
        }
        inner.seq += 1;
        let record = EventRecord {
            record: "event",
            seq: inner.seq,
            t_ms,
            event,
        };
        let line = to_line(&record).map_err(fail)?;
        inner.file.write_all(line.as_bytes()).map_err(fail)
    }
}

/// Whether a configuration key names a secret (the official library drops keys holding both
/// "api" and "key"; we also drop secrets, passwords, authorization headers and bare tokens).
pub(crate) fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    (k.contains("api") && k.contains("key"))
        || k.contains("secret")
        || k.contains("password")
        || k.contains("authorization")
        || k.contains("bearer")
        || k == "token"
        || k.ends_with("_token")
        || k.ends_with("-token")
}

/// `value` with every object key that names a secret removed, at any depth.
pub(crate) fn without_secrets(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !is_secret_key(k))
                .map(|(k, v)| (k, without_secrets(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_secrets).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_dropped_at_any_depth() {
        let v = json!({
            "api_key": "sk-1", "openai_api_key": "sk-2", "apiKey": "sk-3",
            "max_tokens": 5, "nested": {"client_secret": "x", "auth_token": "y", "model": "m"},
            "list": [{"password": "p", "ok": 1}]
        });
        assert_eq!(
            without_secrets(v),
            json!({"max_tokens": 5, "nested": {"model": "m"}, "list": [{"ok": 1}]})
        );
    }
}
