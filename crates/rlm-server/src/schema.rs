//! `GET /schema` and `GET /metadata`: the JSON Schemas of `repl_env`'s action, observation and
//! state models (as Pydantic writes them), and the environment's metadata.

use serde_json::{Value, json};

/// `{"action", "observation", "state"}`.
pub fn schemas() -> Value {
    json!({ "action": action(), "observation": observation(), "state": state() })
}

fn action() -> Value {
    json!({
        "title": "REPLAction",
        "description": "Python code to run in the REPL, or an explicit final answer.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "metadata": {"type": "object", "title": "Metadata", "additionalProperties": true},
            "code": {"type": "string", "title": "Code", "default": "", "description": "Python code to execute"},
            "is_final": {"type": "boolean", "title": "Is Final", "default": false, "description": "Whether this action signals the final answer"},
            "final_answer": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Final Answer", "default": null, "description": "Final answer if is_final=True"}
        }
    })
}

fn observation() -> Value {
    json!({
        "title": "REPLObservation",
        "type": "object",
        "$defs": {
            "CodeBlockResult": {
                "title": "CodeBlockResult",
                "type": "object",
                "properties": {
                    "stdout": {"type": "string", "default": ""},
                    "stderr": {"type": "string", "default": ""},
                    "locals_snapshot": {"type": "object", "additionalProperties": {"type": "string"}},
                    "execution_time": {"type": "number", "minimum": 0, "default": 0.0},
                    "success": {"type": "boolean", "default": true},
                    "exception": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null}
                }
            }
        },
        "properties": {
            "done": {"type": "boolean", "default": false},
            "reward": {"anyOf": [{"type": "boolean"}, {"type": "integer"}, {"type": "number"}, {"type": "null"}], "default": null},
            "metadata": {"type": "object", "additionalProperties": true},
            "result": {"$ref": "#/$defs/CodeBlockResult"},
            "context_preview": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
            "context_length": {"type": "integer", "minimum": 0, "default": 0},
            "available_variables": {"type": "array", "items": {"type": "string"}},
            "iteration": {"type": "integer", "minimum": 0, "default": 0},
            "max_iterations": {"type": "integer", "minimum": 1, "default": 30}
        }
    })
}

fn state() -> Value {
    json!({
        "title": "REPLState",
        "type": "object",
        "additionalProperties": true,
        "properties": {
            "episode_id": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
            "step_count": {"type": "integer", "minimum": 0, "default": 0},
            "context": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
            "task_prompt": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
            "iteration": {"type": "integer", "minimum": 0, "default": 0},
            "max_iterations": {"type": "integer", "minimum": 1, "default": 30},
            "namespace_keys": {"type": "array", "items": {"type": "string"}},
            "final_answer": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
            "total_execution_time": {"type": "number", "minimum": 0, "default": 0.0}
        }
    })
}

/// OpenEnv's `EnvironmentMetadata`.
pub fn metadata() -> Value {
    json!({
        "name": "repl_env",
        "description": "Python REPL environment for RLM-style code execution (recursive-lm's rlm serve)",
        "readme_content": null,
        "version": env!("CARGO_PKG_VERSION"),
        "author": "The recursive-lm developers",
        "documentation_url": "https://github.com/recursive-lm/recursive-lm/blob/main/docs/server.md"
    })
}

/// `GET /openapi.json`: a short OpenAPI document (OpenEnv's HTTP API version 1.0.0, and our
/// paths), enough for `openenv validate --url` to read the version and the simulation mode.
pub fn openapi() -> Value {
    let op =
        |summary: &str| json!({ "summary": summary, "responses": {"200": {"description": "OK"}} });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "OpenEnv Environment HTTP API",
            "version": "1.0.0",
            "description": "recursive-lm's rlm serve: the repl_env environment (WebSocket /ws for episodes)"
        },
        "paths": {
            "/reset": {"post": op("Reset the environment (a one-shot episode over HTTP)")},
            "/step": {"post": op("Execute an action (a one-shot episode over HTTP)")},
            "/state": {"get": op("State of a fresh environment")},
            "/health": {"get": op("Health check")},
            "/schema": {"get": op("JSON Schemas of action, observation and state")},
            "/metadata": {"get": op("Environment metadata")},
            "/metrics": {"get": op("Session and step counters")},
            "/mcp": {"post": op("MCP JSON-RPC (no tools are offered)")}
        }
    })
}

/// `POST /mcp`: this environment offers no MCP tools; every request gets a JSON-RPC error.
pub fn mcp_reply(request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": -32601, "message": "Method not found: this environment offers no MCP tools; use /ws"}
    })
}
