//! The HTTP side: routes, the token check, size-capped bodies, and the one-shot `/reset` and
//! `/step` of OpenEnv's HTTP API (each request is its own episode, as in OpenEnv's server; a
//! multi-step episode needs the WebSocket `/ws`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::App;
use crate::env::Environment;
use crate::protocol::{self, ErrorCode, ResetParams, WireError};
use crate::schema;
use crate::sessions::Count;

/// Every route of the server.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/reset", post(reset))
        .route("/step", post(step))
        .route("/state", get(state))
        .route("/schema", get(|| async { axum::Json(schema::schemas()) }))
        .route(
            "/metadata",
            get(|| async { axum::Json(schema::metadata()) }),
        )
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { axum::Json(schema::openapi()) }),
        )
        .route("/mcp", post(mcp))
        .route("/ws", get(crate::ws::upgrade))
        .layer(middleware::from_fn_with_state(app.clone(), authorize))
        // Outside the token check: load balancers probe it, and it says nothing.
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "healthy"})) }),
        )
        .with_state(app)
}

async fn authorize(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    match &app.token {
        Some(token) if !token.admits(request.headers()) => (
            StatusCode::UNAUTHORIZED,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(
                json!({"detail": "missing or wrong token: send Authorization: Bearer <token>"}),
            ),
        )
            .into_response(),
        _ => next.run(request).await,
    }
}

/// An error response: `{"detail": message, "code": CODE, ...}`.
fn error(app: &App, error: &WireError) -> Response {
    app.registry.count(Count::Error);
    let status = match error.code {
        ErrorCode::InvalidJson | ErrorCode::ValidationError | ErrorCode::UnknownType => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ErrorCode::CapacityReached => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ExecutionError | ErrorCode::FactoryError | ErrorCode::SessionError => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let mut body = error.extra.clone();
    body.insert("detail".into(), Value::String(error.message.clone()));
    body.insert("code".into(), error.data()["code"].clone());
    (status, axum::Json(Value::Object(body))).into_response()
}

/// The body as a JSON object (empty body: `{}`), capped at `--max-message-bytes`.
async fn json_body(app: &App, body: Body) -> Result<Map<String, Value>, Response> {
    let limit = app.max_message_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        app.registry.count(Count::Error);
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(json!({
                "detail": format!("request body exceeds the server's limit of {limit} bytes (--max-message-bytes)"),
                "code": "VALIDATION_ERROR",
            })),
        )
            .into_response()
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(error(
            app,
            &WireError::validation("the body must be a JSON object"),
        )),
        Err(e) => Err(error(
            app,
            &WireError::new(ErrorCode::InvalidJson, format!("Invalid JSON: {e}")),
        )),
    }
}

/// A one-shot environment in a session slot.
async fn one_shot(app: &Arc<App>) -> Result<(crate::sessions::Slot, Environment), Response> {
    let slot = app
        .registry
        .open()
        .map_err(|(active, max)| error(app, &capacity(active, max)))?;
    Ok((slot, Environment::new(app.settings.clone())))
}

/// The `CAPACITY_REACHED` error.
pub(crate) fn capacity(active: usize, max: usize) -> WireError {
    let mut e = WireError::new(
        ErrorCode::CapacityReached,
        format!(
            "Server at capacity: {active}/{max} sessions are open (--max-sessions); retry later or use another replica"
        ),
    );
    e.extra.insert("active_sessions".into(), json!(active));
    e.extra.insert("max_sessions".into(), json!(max));
    e
}

async fn reset(State(app): State<Arc<App>>, body: Body) -> Response {
    let data = match json_body(&app, body).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    let params = match protocol::reset_params(data) {
        Ok(params) => params,
        Err(e) => return error(&app, &e),
    };
    let (_slot, mut env) = match one_shot(&app).await {
        Ok(pair) => pair,
        Err(response) => return response,
    };
    let _busy = app.registry.busy();
    match env.reset(params).await {
        Ok(reply) => {
            app.registry.count(Count::Reset);
            axum::Json(reply).into_response()
        }
        Err(e) => error(&app, &e),
    }
}

async fn step(State(app): State<Arc<App>>, body: Body) -> Response {
    let mut data = match json_body(&app, body).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    let action = match data.remove("action") {
        Some(Value::Object(action)) => protocol::action(action),
        _ => Err(WireError::validation(
            "the body needs `action`, a JSON object",
        )),
    };
    let action = match action {
        Ok(action) => action,
        Err(e) => return error(&app, &e),
    };
    let (_slot, mut env) = match one_shot(&app).await {
        Ok(pair) => pair,
        Err(response) => return response,
    };
    let _busy = app.registry.busy();
    let reply = match env.reset(ResetParams::default()).await {
        Ok(_) => env.step(action).await,
        Err(e) => Err(e),
    };
    match reply {
        Ok(reply) => {
            app.registry.count(Count::Step);
            axum::Json(reply).into_response()
        }
        Err(e) => error(&app, &e),
    }
}

async fn state(State(app): State<Arc<App>>) -> Response {
    axum::Json(Environment::new(app.settings.clone()).blank_state()).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    axum::Json(app.metrics()).into_response()
}

async fn mcp(State(app): State<Arc<App>>, body: Body) -> Response {
    let request = json_body(&app, body)
        .await
        .map(Value::Object)
        .unwrap_or(Value::Null);
    axum::Json(schema::mcp_reply(&request)).into_response()
}
