//! What the model sees after its code ran (`docs/design.md` §2.3): per block, the code echo, the
//! printed output, then the error with its traceback; each block's output cut to a limit keeping
//! head and tail.

use rlm_core::Execution;

/// Default per-block output limit in characters.
pub const DEFAULT_OBSERVATION_LIMIT: usize = 20_000;

/// Keeps the first and last halves of `text` when it has more than `limit` characters, with a
/// marker saying how many characters were cut.
pub fn truncate_middle(text: &str, limit: usize) -> String {
    let total = text.chars().count();
    if total <= limit {
        return text.to_string();
    }
    let head_chars = limit / 2;
    let tail_chars = limit - head_chars;
    let head_end = text
        .char_indices()
        .nth(head_chars)
        .map_or(text.len(), |(i, _)| i);
    let tail_start = text
        .char_indices()
        .nth(total - tail_chars)
        .map_or(text.len(), |(i, _)| i);
    let omitted = total - head_chars - tail_chars;
    format!(
        "{}\n\n... [{omitted} characters omitted] ...\n\n{}",
        &text[..head_end],
        &text[tail_start..]
    )
}

/// Keeps the first `limit` characters (the seed's `result_truncation_limit` semantics).
pub fn truncate_head(text: String, limit: Option<usize>) -> String {
    match limit {
        Some(limit) => match text.char_indices().nth(limit) {
            Some((cut, _)) => text[..cut].to_string(),
            None => text,
        },
        None => text,
    }
}

/// Renders one executed block.
pub fn format_block(
    index: usize,
    count: usize,
    code: &str,
    exec: &Execution,
    limit: usize,
) -> String {
    let title = if count > 1 {
        format!("Code executed (block {} of {count}):", index + 1)
    } else {
        "Code executed:".to_string()
    };
    let mut output = exec.stdout.trim_end().to_string();
    if exec.output_truncated {
        output.push_str("\n[output stopped at the REPL's print limit]");
    }
    if let Some(err) = &exec.error {
        if !output.is_empty() {
            output.push_str("\n\n");
        }
        output.push_str("Error:\n");
        output.push_str(err.trim_end());
    }
    if output.trim().is_empty() {
        output = "(no output)".to_string();
    }
    format!(
        "{title}\n```python\n{code}\n```\n\nREPL output:\n{}",
        truncate_middle(&output, limit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_head_and_tail() {
        let text: String = ('a'..='z').collect();
        assert_eq!(truncate_middle(&text, 100), text);
        let cut = truncate_middle(&text, 6);
        assert_eq!(cut, "abc\n\n... [20 characters omitted] ...\n\nxyz");
        assert_eq!(
            truncate_middle("ééééé", 2),
            "é\n\n... [3 characters omitted] ...\n\né"
        );
        assert_eq!(truncate_head("abcdefgh".into(), Some(5)), "abcde");
        assert_eq!(truncate_head("abc".into(), Some(5)), "abc");
        assert_eq!(truncate_head("abc".into(), None), "abc");
    }

    #[test]
    fn block_rendering() {
        let exec = Execution {
            stdout: "hi\n".into(),
            ..Execution::default()
        };
        assert_eq!(
            format_block(0, 1, "print('hi')", &exec, 100),
            "Code executed:\n```python\nprint('hi')\n```\n\nREPL output:\nhi"
        );
        let err = Execution {
            error: Some("Traceback...\nNameError: x".into()),
            ..Execution::default()
        };
        assert_eq!(
            format_block(1, 2, "x", &err, 100),
            "Code executed (block 2 of 2):\n```python\nx\n```\n\nREPL output:\nError:\nTraceback...\nNameError: x"
        );
        let empty = Execution::default();
        assert!(format_block(0, 1, "x = 1", &empty, 100).ends_with("REPL output:\n(no output)"));
    }
}
