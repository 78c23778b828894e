//! The demo "model" behind `rlm-demo-server` (README's first run): a scripted RLM that
//! answers a question about a text file with a line of it, showing the whole loop (code in the
//! REPL, a batched sub-call, FINAL) with no key and no network.
//!
//! The root model greps the context for lines that mention words of the query, leaving out
//! lines that quote the query itself (a command line that asks the question is not its answer),
//! asks a sub-model (`llm_query_batched`) about the best lines, and finishes with the first
//! answer. The sub-model answers with the line it was given, cleaned of Markdown (table
//! pipes, backticks, list marks). It is a demonstration of the protocol, not a language model.

use crate::conversation::{Call, classify_http, repl};
use crate::{RecordedRequest, Reply, Script};

const ROOT_TURN_0: &str = r#"import re
words = [w.lower() for w in re.findall(r'[A-Za-z]{4,}', QUERY)]
lines = [l for l in context.splitlines() if QUERY.lower() not in l.lower()]
scored = sorted([(sum(1 for w in words if w in l.lower()), i) for i, l in enumerate(lines)], reverse=True)
best = [lines[i] for s, i in scored[:3] if s > 0]
print(len(context), 'characters,', len(lines), 'lines; best matches:')
for l in best:
    print(' ', l[:200])"#;

const ROOT_TURN_1: &str = r#"answers = llm_query_batched(['Answer from this line: ' + l for l in best])
FINAL(answers[0] if answers else 'No line of the context mentions that.')"#;

/// What the sub-model says about one line: its text without Markdown (a table row's cells
/// joined with ` - `, no backticks, no list or heading marks).
pub fn clean_line(line: &str) -> String {
    let line = line.trim().replace('`', "");
    let line = line.trim_start_matches(['#', '-', '*', '>', ' ']);
    if line.starts_with('|') || line.ends_with('|') {
        let cells: Vec<&str> = line
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        return cells.join(" - ");
    }
    line.trim().to_string()
}

/// The reply to one request of the demo conversation.
pub fn answer(request: &RecordedRequest) -> Reply {
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
        Call::Plain { prompt } => Reply::text(clean_line(
            prompt.trim_start_matches("Answer from this line: "),
        )),
    }
}

/// The demo conversation as a [`Script`] for a [`crate::FakeServer`].
pub fn script() -> Script {
    Script::from_fn(answer)
}

#[cfg(test)]
mod tests {
    use super::clean_line;

    #[test]
    fn lines_lose_their_markdown() {
        let cases = [
            (
                "| `crates/a` | the fake server | x |",
                "crates/a - the fake server - x",
            ),
            ("- a `b` c", "a b c"),
            ("## Title", "Title"),
            ("plain text", "plain text"),
        ];
        for (line, expected) in cases {
            assert_eq!(clean_line(line), expected);
        }
    }
}
