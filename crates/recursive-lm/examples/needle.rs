//! Finds an answer in a file with a Recursive Language Model.
//!
//! ```sh
//! export OPENAI_API_KEY=sk-...   # or OPENAI_BASE_URL=http://localhost:11434/v1 for Ollama
//! cargo run -p recursive-lm --example needle -- book.txt "Who is the murderer?" gpt-5-mini
//! ```

use std::sync::Arc;

use rlm::openai::OpenAiClient;
use rlm::{Rlm, RunEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(query)) = (args.next(), args.next()) else {
        eprintln!("usage: needle <context-file> <query> [model]");
        std::process::exit(2);
    };
    let model_name = args.next().unwrap_or_else(|| "gpt-5-mini".to_string());

    let model = OpenAiClient::builder(model_name).env().build()?;
    let rlm = Rlm::builder(Arc::new(model))
        .max_depth(1)
        .max_iterations(20)
        .max_llm_calls(Some(500))
        .subscribe(Arc::new(|event: &RunEvent| {
            if let RunEvent::IterationStarted {
                depth: 0,
                iteration,
                ..
            } = event
            {
                eprintln!("turn {iteration}");
            }
        }))
        .build()?;

    let context = std::fs::read_to_string(&path)?;
    let completion = rlm.completion(context, &query).await?;
    eprintln!(
        "{:?} after {} turns, {} tokens, {:.1}s",
        completion.kind(),
        completion.iterations,
        completion.total_usage().total_tokens(),
        completion.duration.as_secs_f64()
    );
    println!("{}", completion.answer());
    Ok(())
}
