//! A demo OpenAI-compatible server on 127.0.0.1 whose "model" is a scripted RLM: try the `rlm`
//! command end to end with no API key and no network.
//!
//! ```sh
//! cargo run -p rlm-testkit --bin rlm-demo-server -- 8765 &
//! cargo run --release -p rlm-cli -- run --context-file README.md \
//!     --query "What is the test command?" --model demo --base-url http://127.0.0.1:8765/v1
//! ```
//!
//! The scripted root model greps the context for lines that mention words of the query, asks a
//! sub-model (`llm_query_batched`) about the best lines, and finishes with the first answer. The
//! sub-model answers with the line it was given. It is a demonstration of the protocol, not a
//! language model.

use std::time::Duration;

use rlm_testkit::conversation::{Call, classify_http, repl};
use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};

const ROOT_TURN_0: &str = r#"import re
words = [w.lower() for w in re.findall(r'[A-Za-z]{4,}', QUERY)]
lines = context.splitlines()
scored = sorted([(sum(1 for w in words if w in l.lower()), i) for i, l in enumerate(lines)], reverse=True)
best = [lines[i] for s, i in scored[:3] if s > 0]
print(len(context), 'characters,', len(lines), 'lines; best matches:')
for l in best:
    print(' ', l[:200])"#;

const ROOT_TURN_1: &str = r#"answers = llm_query_batched(['Answer from this line: ' + l for l in best])
FINAL(answers[0] if answers else 'No line of the context mentions that.')"#;

fn answer(request: &RecordedRequest) -> Reply {
    match classify_http(request) {
        Call::Turn { query, turn: 0, .. } => {
            let literal = serde_json::to_string(&query).unwrap_or_else(|_| "\"\"".into());
            let code = ROOT_TURN_0.replace("QUERY", &literal);
            Reply::text(format!("I will search the context first.\n{}", repl(&code)))
        }
        Call::Turn { .. } => Reply::text(format!(
            "Now I ask a sub-model about the best lines.\n{}",
            repl(ROOT_TURN_1)
        )),
        Call::Plain { prompt } => Reply::text(
            prompt
                .trim_start_matches("Answer from this line: ")
                .trim()
                .to_string(),
        ),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8765);
    let server = FakeServer::builder()
        .port(port)
        .default_latency(Duration::from_millis(20))
        .try_start(Script::from_fn(answer))
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
