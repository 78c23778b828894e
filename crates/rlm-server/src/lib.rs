//! `rlm-server`: an OpenEnv-compatible REPL environment server (`rlm serve`), for RL trainers
//! that drive environments through OpenEnv's client (TRL, torchforge and others).
//!
//! It speaks OpenEnv's environment protocol as `repl_env` does: WebSocket `/ws` sessions with
//! `{"type": "reset"|"step"|"state"|"close", "data": {...}}` frames, plus HTTP `POST /reset`,
//! `POST /step`, `GET /state`, `GET /health`, `GET /schema`, `GET /metadata` and our own
//! `GET /metrics`. The policy writes the code; `llm_query` and friends inside it go to the
//! server's configured model under each episode's limits and the server-wide caps. Rewards come
//! from `repl_env`'s rubrics ([`Rubric`]). Sessions live in this one process; scale out with
//! replicas behind the trainer's own orchestration (`docs/server.md`).
//!
//! Layer: above the facade (`recursive-lm`), which is its only workspace dependency; only the
//! CLI depends on it.
//!
//! ```no_run
//! use std::sync::Arc;
//! use rlm_server::{EnvSettings, Server, ServerConfig};
//!
//! // Any model (`rlm::openai::OpenAiClient`, ...) and any REPL backend (`rlm::monty`, ...).
//! async fn serve(
//!     model: Arc<dyn rlm::LanguageModel>,
//!     repls: Arc<dyn rlm::ReplFactory>,
//! ) -> std::io::Result<()> {
//!     let server = Server::new(ServerConfig::new(EnvSettings::new(model, repls)));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//!     let shutdown = server.shutdown();
//!     tokio::spawn(async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         shutdown.begin();
//!     });
//!     server.serve(listener).await
//! }
//! ```

mod auth;
mod caps;
mod env;
mod http;
mod protocol;
mod rubric;
mod schema;
mod sessions;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use caps::ServerCaps;
pub use env::{EnvSettings, Environment};
pub use protocol::{
    Action, CodeBlockResult, EnvState, ErrorCode, Observation, ResetParams, StepReply, WireError,
};
pub use rubric::{Outcome, Rubric};
pub use sessions::Metrics;

use crate::auth::Token;
use crate::sessions::Registry;

/// A server's settings besides the environment's.
#[derive(Clone)]
pub struct ServerConfig {
    /// The environment every session runs.
    pub env: EnvSettings,
    /// Sessions open at once; the next client gets a `CAPACITY_REACHED` error frame.
    pub max_sessions: usize,
    /// A session with no message for this long is closed.
    pub idle_timeout: Duration,
    /// Largest request body or WebSocket message; bigger ones get a clear error.
    pub max_message_bytes: usize,
    /// Bearer token required on HTTP requests and the WebSocket upgrade (`/health` excepted).
    pub token: Option<String>,
    /// On shutdown, running steps get this long to finish before they are cancelled.
    pub drain_grace: Duration,
    /// LLM calls in flight at once across all sessions.
    pub llm_concurrency: Option<usize>,
    /// LLM calls in the server's lifetime.
    pub max_llm_calls: Option<u64>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("env", &self.env)
            .field("max_sessions", &self.max_sessions)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("drain_grace", &self.drain_grace)
            .field("llm_concurrency", &self.llm_concurrency)
            .field("max_llm_calls", &self.max_llm_calls)
            .finish()
    }
}

impl ServerConfig {
    /// The defaults: 1,024 sessions, 10 min idle timeout, 64 MiB messages, no token, 30 s
    /// grace, no server-wide LLM caps.
    pub fn new(env: EnvSettings) -> Self {
        Self {
            env,
            max_sessions: 1024,
            idle_timeout: Duration::from_secs(600),
            max_message_bytes: 64 << 20,
            token: None,
            drain_grace: Duration::from_secs(30),
            llm_concurrency: None,
            max_llm_calls: None,
        }
    }
}

/// What every connection shares.
pub(crate) struct App {
    pub settings: Arc<EnvSettings>,
    pub registry: Arc<Registry>,
    pub caps: Arc<ServerCaps>,
    pub token: Option<Token>,
    pub idle_timeout: Duration,
    pub max_message_bytes: usize,
    /// Set on SIGTERM: stop accepting, close idle sessions, finish running steps.
    pub drain: CancellationToken,
    /// Set when the grace period is over: drop running steps.
    pub cancel: CancellationToken,
}

impl App {
    pub fn metrics(&self) -> Metrics {
        self.registry
            .metrics(self.caps.calls(), self.drain.is_cancelled())
    }
}

/// The server: build it, take its [`Shutdown`] handle, then [`Server::serve`].
pub struct Server {
    app: Arc<App>,
    grace: Duration,
}

/// Starts a graceful shutdown of a [`Server`].
#[derive(Clone)]
pub struct Shutdown {
    drain: CancellationToken,
    cancel: CancellationToken,
    grace: Duration,
}

impl Shutdown {
    /// Stops accepting connections and closes idle sessions at once; running steps finish,
    /// until the grace period ends and they are cancelled. Idempotent.
    pub fn begin(&self) {
        if self.drain.is_cancelled() {
            return;
        }
        self.drain.cancel();
        let cancel = self.cancel.clone();
        let grace = self.grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            cancel.cancel();
        });
    }
}

impl Server {
    /// A server with these settings. The models are wrapped once in the server-wide caps.
    pub fn new(config: ServerConfig) -> Self {
        let caps = Arc::new(ServerCaps::new(
            config.llm_concurrency,
            config.max_llm_calls,
        ));
        let mut env = config.env;
        env.root = Arc::new(caps::Capped::new(env.root, caps.clone()));
        env.sub = env
            .sub
            .map(|m| Arc::new(caps::Capped::new(m, caps.clone())) as Arc<dyn rlm::LanguageModel>);
        let app = App {
            settings: Arc::new(env),
            registry: Registry::new(config.max_sessions),
            caps,
            token: config.token.map(Token::new),
            idle_timeout: config.idle_timeout,
            max_message_bytes: config.max_message_bytes,
            drain: CancellationToken::new(),
            cancel: CancellationToken::new(),
        };
        Self {
            app: Arc::new(app),
            grace: config.drain_grace,
        }
    }

    /// The handle that drains the server (call [`Shutdown::begin`] on SIGTERM).
    pub fn shutdown(&self) -> Shutdown {
        Shutdown {
            drain: self.app.drain.clone(),
            cancel: self.app.cancel.clone(),
            grace: self.grace,
        }
    }

    /// The counters now.
    pub fn metrics(&self) -> Metrics {
        self.app.metrics()
    }

    /// Serves on `listener` until a shutdown has drained every session.
    ///
    /// # Errors
    /// The listener failed.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let router = http::router(self.app.clone());
        let drain = self.app.drain.clone();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { drain.cancelled().await })
            .await?;
        // Upgraded WebSocket sessions run in their own tasks: wait for them to close (each
        // closes at once when idle, after its step, or when the grace period cancels it).
        let cancel = self.app.cancel.clone();
        while self.app.registry.metrics(0, true).active_sessions > 0 {
            if cancel.is_cancelled() {
                // Cancelled sessions close within a few scheduler turns; do not wait forever.
                tokio::time::sleep(Duration::from_millis(200)).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}
