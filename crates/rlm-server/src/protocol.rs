//! OpenEnv's wire format as `repl_env` speaks it: the reset parameters, the action, the
//! observation and state payloads, and the WebSocket frames (`openenv-core`'s
//! `env_server/types.py`, `serialization.py` and `envs/repl_env/models.py`).
//!
//! A step or reset reply is `{"observation": {...}, "reward": r, "done": d}`; `reward` and
//! `done` live beside the observation, not inside it (OpenEnv's `serialize_observation`).
//! Unlike OpenEnv's own server we also send the observation's `metadata` (the final answer,
//! the task prompt): `repl_env`'s typed client reads it, and the generic client ignores keys
//! it does not know.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The parameters of a reset. Unknown keys (an `hf_token`, a trainer's own fields) are
/// ignored and never stored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResetParams {
    /// The text loaded into the REPL as `context`.
    pub context: Option<String>,
    /// The task, shown in the reset observation.
    pub task_prompt: Option<String>,
    /// The ground truth the outcome rubric scores against (a number is taken as its text).
    pub expected_answer: Option<Value>,
    /// Steps before the episode ends (capped by the server's `--max-iterations`).
    pub max_iterations: Option<u32>,
    /// Recursion depth of `rlm_query` for this episode (capped by the server's `--max-depth`).
    pub rlm_max_depth: Option<u32>,
    /// Turns of each child RLM (capped by the server's limit).
    pub rlm_max_iterations: Option<u32>,
    /// The model name sub-calls ask the server's endpoint for.
    pub llm_model: Option<String>,
    /// The sampling seed sent with sub-calls, where the provider supports one.
    pub seed: Option<u64>,
    /// The episode's id (a fresh one when absent).
    pub episode_id: Option<String>,
}

impl ResetParams {
    /// The expected answer as text: a string is itself, any other JSON value its JSON text.
    pub fn expected_text(&self) -> Option<String> {
        match &self.expected_answer {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        }
    }
}

/// `REPLAction`: code to run, or an explicit final answer. Unknown keys are refused, as
/// OpenEnv's `Action` model (`extra="forbid"`) refuses them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Action {
    /// Python code to run.
    pub code: String,
    /// Ends the episode with `final_answer` without running code.
    pub is_final: bool,
    /// The answer given with `is_final`.
    pub final_answer: Option<String>,
    /// Free-form metadata (accepted and ignored, as OpenEnv's base `Action` has it).
    pub metadata: Map<String, Value>,
}

/// `CodeBlockResult`: what one step's code did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CodeBlockResult {
    /// Printed output (cut at the server's output limit).
    pub stdout: String,
    /// The traceback when the code raised.
    pub stderr: String,
    /// `repr` of the variables the step created (each cut at 500 characters).
    pub locals_snapshot: BTreeMap<String, String>,
    /// Seconds the code ran.
    pub execution_time: f64,
    /// Whether the code ran without raising.
    pub success: bool,
    /// The exception, when the code raised.
    pub exception: Option<String>,
}

/// `REPLObservation` without `reward` and `done` (they travel beside it).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observation {
    /// The code's result.
    pub result: CodeBlockResult,
    /// The first characters of the context (`None` without context, and on the terminal step).
    pub context_preview: Option<String>,
    /// The context's length in characters.
    pub context_length: usize,
    /// The names in the REPL: user variables, `answer`, `context` and the helper functions.
    pub available_variables: Vec<String>,
    /// Steps taken in the episode.
    pub iteration: u32,
    /// Steps allowed.
    pub max_iterations: u32,
    /// `task_prompt`, `final_answer`, timings, and the reset's `message`.
    pub metadata: Map<String, Value>,
}

/// A reset or step reply: `{"observation", "reward", "done"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReply {
    /// The observation.
    pub observation: Observation,
    /// The rubric's reward (`None` after a reset).
    pub reward: Option<f64>,
    /// Whether the episode has ended.
    pub done: bool,
}

/// `REPLState`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnvState {
    /// The episode's id (`None` before the first reset).
    pub episode_id: Option<String>,
    /// Steps taken.
    pub step_count: u32,
    /// The context.
    pub context: Option<String>,
    /// The task.
    pub task_prompt: Option<String>,
    /// Steps taken (as `step_count`; `repl_env` keeps both).
    pub iteration: u32,
    /// Steps allowed.
    pub max_iterations: u32,
    /// The names in the REPL, as in the observations.
    pub namespace_keys: Vec<String>,
    /// The final answer once the episode has one.
    pub final_answer: Option<String>,
    /// Seconds of code execution in the episode.
    pub total_execution_time: f64,
}

/// OpenEnv's `WSErrorCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The frame is not JSON.
    InvalidJson,
    /// The frame's `type` is not one the server knows.
    UnknownType,
    /// The frame or its data does not match the message's model.
    ValidationError,
    /// The environment refused the message (a step before reset, a step after the end).
    ExecutionError,
    /// `--max-sessions` sessions are open.
    CapacityReached,
    /// The session could not be created.
    FactoryError,
    /// The session failed.
    SessionError,
}

/// The message of an error frame or an HTTP error body.
#[derive(Debug, Clone, PartialEq)]
pub struct WireError {
    /// Its code.
    pub code: ErrorCode,
    /// What went wrong and what to do.
    pub message: String,
    /// Extra fields of the frame's `data` (`errors`, `active_sessions`, `max_sessions`).
    pub extra: Map<String, Value>,
}

impl WireError {
    /// An error with no extra fields.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// A `VALIDATION_ERROR` with one entry in `errors`.
    pub fn validation(detail: impl Into<String>) -> Self {
        let mut error = Self::new(ErrorCode::ValidationError, "Invalid message");
        let detail: String = detail.into();
        error.extra.insert(
            "errors".into(),
            Value::Array(vec![serde_json::json!({ "msg": detail })]),
        );
        error
    }

    /// `{"message", "code", ...extra}`.
    pub fn data(&self) -> Value {
        let mut data = self.extra.clone();
        data.insert("message".into(), Value::String(self.message.clone()));
        data.insert(
            "code".into(),
            serde_json::to_value(self.code).unwrap_or(Value::Null),
        );
        Value::Object(data)
    }

    /// The error frame `{"type": "error", "data": {...}}`.
    pub fn frame(&self) -> String {
        frame("error", self.data())
    }
}

/// A server frame `{"type": kind, "data": data}` as text.
pub fn frame(kind: &str, data: Value) -> String {
    typed_frame(kind, &data)
}

/// A server frame `{"type": kind, "data": data}` as text, serialised straight from `data`
/// (no intermediate JSON tree: a step's observation is written once, into the frame).
pub fn typed_frame<T: Serialize>(kind: &str, data: &T) -> String {
    #[derive(Serialize)]
    struct Frame<'a, T> {
        #[serde(rename = "type")]
        kind: &'a str,
        data: &'a T,
    }
    // Our payloads (strings, numbers, string-keyed maps) always serialise; an error here would
    // be a bug, reported as an error frame rather than a panic.
    serde_json::to_string(&Frame { kind, data }).unwrap_or_else(|e| {
        format!(
            r#"{{"type":"error","data":{{"message":{},"code":"EXECUTION_ERROR"}}}}"#,
            Value::String(format!("could not serialise the reply: {e}"))
        )
    })
}

/// A client frame, read leniently: any JSON object with a string `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// `reset` with its data.
    Reset(Map<String, Value>),
    /// `step` with its data (the action).
    Step(Map<String, Value>),
    /// `state`.
    State,
    /// `close`.
    Close,
}

/// Parses one client frame; an error is the frame to send back (the session goes on).
pub fn parse_incoming(text: &str) -> Result<Incoming, WireError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| WireError::new(ErrorCode::InvalidJson, format!("Invalid JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(WireError::validation("a message must be a JSON object"));
    };
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(_) => return Err(WireError::validation("`type` must be a string")),
        None => String::new(),
    };
    let data = match object.remove("data") {
        None | Some(Value::Null) => None,
        Some(Value::Object(data)) => Some(data),
        Some(_) => return Err(WireError::validation("`data` must be a JSON object")),
    };
    match kind.as_str() {
        "reset" => Ok(Incoming::Reset(data.unwrap_or_default())),
        "step" => data
            .map(Incoming::Step)
            .ok_or_else(|| WireError::validation("a step needs `data`: the action")),
        "state" => Ok(Incoming::State),
        "close" => Ok(Incoming::Close),
        other => Err(WireError::new(
            ErrorCode::UnknownType,
            format!("Unknown message type: {other}"),
        )),
    }
}

/// Reads a reset's parameters from its data.
pub fn reset_params(data: Map<String, Value>) -> Result<ResetParams, WireError> {
    serde_json::from_value(Value::Object(data)).map_err(|e| WireError::validation(e.to_string()))
}

/// Reads an action from a step's data.
pub fn action(data: Map<String, Value>) -> Result<Action, WireError> {
    serde_json::from_value(Value::Object(data)).map_err(|e| WireError::validation(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, want: Result<Incoming, ErrorCode>) {
        assert_eq!(parse_incoming(text).map_err(|e| e.code), want, "{text}");
    }

    #[test]
    fn frames_are_read_leniently_and_refused_clearly() {
        check(r#"{"type":"state"}"#, Ok(Incoming::State));
        check(r#"{"type":"close"}"#, Ok(Incoming::Close));
        check(r#"{"type":"reset"}"#, Ok(Incoming::Reset(Map::new())));
        check(
            r#"{"type":"reset","data":null}"#,
            Ok(Incoming::Reset(Map::new())),
        );
        check("{nope", Err(ErrorCode::InvalidJson));
        check("[1]", Err(ErrorCode::ValidationError));
        check(r#"{"type":"step"}"#, Err(ErrorCode::ValidationError));
        check(r#"{"type":"fly"}"#, Err(ErrorCode::UnknownType));
        check(r#"{"data":{}}"#, Err(ErrorCode::UnknownType));
    }

    #[test]
    fn reset_ignores_unknown_keys_and_actions_refuse_them() {
        let data =
            serde_json::json!({"context": "x", "hf_token": "hf_secret", "expected_answer": 42});
        let Value::Object(data) = data else {
            unreachable!()
        };
        let params = reset_params(data).unwrap();
        assert_eq!(params.context.as_deref(), Some("x"));
        assert_eq!(params.expected_text().as_deref(), Some("42"));
        assert!(!format!("{params:?}").contains("hf_secret"));
        let Value::Object(bad) = serde_json::json!({"code": "1", "cmd": "x"}) else {
            unreachable!()
        };
        assert_eq!(action(bad).unwrap_err().code, ErrorCode::ValidationError);
    }

    #[test]
    fn error_frames_have_openenv_shape() {
        let frame: Value =
            serde_json::from_str(&WireError::new(ErrorCode::CapacityReached, "full").frame())
                .unwrap();
        assert_eq!(
            frame,
            serde_json::json!({"type": "error", "data": {"message": "full", "code": "CAPACITY_REACHED"}})
        );
    }
}
