//! A demo OpenAI-compatible server on 127.0.0.1 whose "model" is a scripted RLM: try the `rlm`
//! command end to end with no API key and no network.
//!
//! ```sh
//! cargo run -p rlm-testkit --bin rlm-demo-server -- 8765 &
//! cargo run --release -p rlm-cli -- run --context-file README.md \
//!     --query "Which crate holds the fake server?" --model demo --base-url http://127.0.0.1:8765/v1
//! ```
//!
//! The scripted model is [`rlm_testkit::demo`]: it answers with the best-matching line of the
//! context. It is a demonstration of the protocol, not a language model.

use std::time::Duration;

use rlm_testkit::FakeServer;
use rlm_testkit::demo::script;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8765);
    let server = FakeServer::builder()
        .port(port)
        .default_latency(Duration::from_millis(20))
        .try_start(script())
        .await;
    match server {
        Ok(server) => {
            eprintln!(
                "demo OpenAI-compatible server on {} (Ctrl-C to stop)",
                server.base_url()
            );
            let _ = tokio::signal::ctrl_c().await;
        }
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    }
}
