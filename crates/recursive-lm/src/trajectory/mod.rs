//! Trajectories: a JSON Lines record of everything a completion did, written as it happens,
//! read back as a tree, and exported to the official `rlm` library's log format.
//!
//! # Format `rlm-trajectory/1`
//!
//! One JSON object per line; the JSON Schema is [`SCHEMA`] (the file
//! `crates/recursive-lm/schemas/trajectory-v1.schema.json`).
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
//! ```no_run
//! use std::sync::Arc;
//! use rlm::{Rlm, openai::OpenAiClient, trajectory::{self, TrajectoryWriter}};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let model = OpenAiClient::builder("gpt-5-mini").env().build()?;
//! let writer = Arc::new(TrajectoryWriter::create("run.jsonl")?);
//! let rlm = Rlm::builder(Arc::new(model)).trajectory(writer).build()?;
//! rlm.completion("a context", "a question").await?;
//! let tree = trajectory::read_file("run.jsonl")?;
//! println!("{} turns", tree.runs[0].turns.len());
//! trajectory::write_official(&tree, std::fs::File::create("official.jsonl")?)?;
//! # Ok(()) }
//! ```

mod official;
mod read;
mod time;
mod writer;

pub use official::{OFFICIAL_SCHEMA, export_official, write_official};
pub use read::{Block, Finish, ReadError, RunNode, Subcall, Trajectory, Turn, parse, read_file};
pub use writer::{Header, TrajectoryWriter};

/// The format and version written in every header.
pub const SCHEMA_ID: &str = "rlm-trajectory/1";

/// The JSON Schema (draft 2020-12) every line of a trajectory validates against.
pub const SCHEMA: &str = include_str!("../../schemas/trajectory-v1.schema.json");
