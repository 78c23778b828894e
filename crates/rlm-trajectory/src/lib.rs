//! `rlm-trajectory`: trajectories, a JSON Lines record of everything a completion did, written
//! as it happens, read back as a tree, and exported to the official `rlm` library's log format.
//!
//! Layer: above the runner, below the facade. It may depend on `rlm-core`, `rlm-limits` and
//! `rlm-runner` (the header records the runner's settings); never on a provider, a REPL
//! backend, the facade or the CLI. The facade re-exports it as `rlm::trajectory`, and
//! `RlmBuilder::trajectory` subscribes a [`TrajectoryWriter`] to every completion and writes
//! its header.
//!
//! # Format `rlm-trajectory/1`
//!
//! One JSON object per line; the JSON Schema is [`SCHEMA`] (the file
//! `crates/rlm-trajectory/schemas/trajectory-v1.schema.json`).
//!
//! - Line 1, the header: `{"record":"header","schema":"rlm-trajectory/1","created":ISO 8601,
//!   "created_unix_ms":N,"library":"recursive-lm X.Y.Z","config":{...}}`. `config` holds the
//!   models, REPL backend, limits and settings; keys that look like secrets are removed, and
//!   API keys never reach it in the first place.
//! - Every other line, one event: `{"record":"event","seq":N,"t_ms":T,"event":KIND,...}`
//!   where `seq` counts from 1, `t_ms` is milliseconds since `created`, and the rest are the
//!   fields of [`RunEvent`](rlm_core::RunEvent) (`run_started`, `iteration_started`,
//!   `model_responded`, `block_executed`, `subcall_started`, `subcall_completed`,
//!   `run_finished`). Runs are linked by `run_id`/`parent_run_id`, sub-calls by `call_id` and
//!   `child_run_id`; `model_responded` carries only the messages added since the run's
//!   previous call, so a trajectory grows linearly with the conversation.
//!
//! Each line is written whole and at once: after `kill -9`, every complete line parses and
//! at most the last is partial ([`parse`] accepts that). Readers skip records of kinds they
//! do not know; a new field is a compatible change, a changed meaning bumps the version.
//!
//! Reading a trajectory (the facade writes one with
//! `Rlm::builder(model).trajectory(Arc::new(TrajectoryWriter::create("run.jsonl")?))`):
//!
//! ```
//! let text = concat!(
//!     r#"{"record":"event","seq":1,"t_ms":0.0,"event":"run_started","run_id":1,"#,
//!     r#""parent_run_id":null,"call_id":null,"depth":0,"model":"m","query_preview":"q","#,
//!     r#""context_chars":5}"#,
//!     "\n",
//!     r#"{"record":"event","seq":2,"t_ms":1.5,"event":"iteration_started","run_id":1,"#,
//!     r#""iteration":1,"depth":0}"#,
//!     "\n",
//!     r#"{"record":"event","seq":3,"t_ms"#, // cut short by `kill -9`
//! );
//! let tree = rlm_trajectory::parse(text)?;
//! assert!(tree.partial_last_line);
//! assert_eq!(tree.runs[0].turns.len(), 1);
//! let mut official = Vec::new();
//! rlm_trajectory::write_official(&tree, &mut official)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod official;
mod read;
mod time;
mod tree;
mod writer;

pub use official::{OFFICIAL_SCHEMA, export_official, write_official};
pub use read::{ReadError, parse, read_file};
pub use tree::{Block, Finish, RunNode, Subcall, Trajectory, Turn};
pub use writer::{Header, TrajectoryWriter};

/// The format and version written in every header.
pub const SCHEMA_ID: &str = "rlm-trajectory/1";

/// The JSON Schema (draft 2020-12) every line of a trajectory validates against.
pub const SCHEMA: &str = include_str!("../schemas/trajectory-v1.schema.json");
