//! Reply parsing: the fenced code blocks of a model reply, in document order.
//!
//! Rules (`docs/design.md` §2.1): fences tagged `repl`, `python`, `py` or `python3` (any case) are
//! code; other fences are skipped whole; CRLF and lone CR are normalised to LF first; an opening
//! code fence with no closing fence is reported as unterminated and never run.

/// The code-bearing parts of a reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedReply {
    /// Code blocks, in document order.
    pub blocks: Vec<String>,
    /// Whether a code fence was opened and never closed (its code is not run).
    pub unterminated: bool,
}

const CODE_TAGS: &[&str] = &["repl", "python", "py", "python3"];

/// Normalises line endings to `\n`.
pub fn normalize_newlines(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_string();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// An opening fence: up to three spaces, three or more backticks, an info string without
/// backticks. Returns the fence length and the first word of the info string.
fn opening_fence(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let ticks = rest.len() - rest.trim_start_matches('`').len();
    if ticks < 3 {
        return None;
    }
    let info = rest[ticks..].trim();
    if info.contains('`') {
        return None;
    }
    Some((ticks, info.split_whitespace().next().unwrap_or("")))
}

fn closes(line: &str, ticks: usize) -> bool {
    let t = line.trim();
    t.len() >= ticks && t.bytes().all(|b| b == b'`')
}

/// Finds the code blocks of a model reply.
pub fn parse_reply(text: &str) -> ParsedReply {
    let text = normalize_newlines(text);
    let mut out = ParsedReply::default();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        let Some((ticks, tag)) = opening_fence(line) else {
            continue;
        };
        let is_code = CODE_TAGS.iter().any(|t| t.eq_ignore_ascii_case(tag));
        let mut body: Vec<&str> = Vec::new();
        let mut closed = false;
        for inner in lines.by_ref() {
            if closes(inner, ticks) {
                closed = true;
                break;
            }
            body.push(inner);
        }
        if !is_code {
            continue;
        }
        if !closed {
            out.unterminated = true;
            break;
        }
        let code = body.join("\n");
        let code = code.trim_matches('\n');
        if !code.trim().is_empty() {
            out.blocks.push(code.to_string());
        }
    }
    out
}

/// The reply without any fenced block (code or not): the model's prose.
pub fn strip_fences(text: &str) -> String {
    let text = normalize_newlines(text);
    let mut out: Vec<&str> = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        match opening_fence(line) {
            Some((ticks, _)) => {
                for inner in lines.by_ref() {
                    if closes(inner, ticks) {
                        break;
                    }
                }
            }
            None => out.push(line),
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, blocks: &[&str], unterminated: bool) {
        let parsed = parse_reply(input);
        assert_eq!(parsed.blocks, blocks, "input: {input:?}");
        assert_eq!(parsed.unterminated, unterminated, "input: {input:?}");
    }

    #[test]
    fn table() {
        check("no code here", &[], false);
        check("```repl\nx = 1\n```", &["x = 1"], false);
        check(
            "```python\nprint(1)\n```\ntext\n```repl\nprint(2)\n```",
            &["print(1)", "print(2)"],
            false,
        );
        check(
            "```REPL\na\n```\n```Py\nb\n```\n```python3\nc\n```",
            &["a", "b", "c"],
            false,
        );
        check("```json\n{\"a\": 1}\n```\n```repl\nx\n```", &["x"], false);
        check("```\nbare\n```", &[], false);
        check("```repl\n\n\nx = 1\n\n```", &["x = 1"], false);
        check("```repl\nx = 1", &[], true);
        check("```repl\na\n```\n```repl\nb = 2", &["a"], true);
        check("```repl\n```", &[], false);
        check("````repl\nprint('```')\n````", &["print('```')"], false);
        check(
            "  ```repl\n    indented()\n  ```",
            &["    indented()"],
            false,
        );
        check("```repl x=1```", &[], false);
        check("```text\n```repl\nnot code\n```\n```", &[], false);
        check("```repl\r\nx = 1\r\n```\r\n", &["x = 1"], false);
        check("```python title=\"a\"\nok\n```", &["ok"], false);
    }

    #[test]
    fn prose_without_fences() {
        assert_eq!(strip_fences("a\n```repl\nFINAL(x)\n```\nb"), "a\nb");
        assert_eq!(strip_fences("```json\n{}\n```"), "");
        assert_eq!(strip_fences("text only"), "text only");
        assert_eq!(strip_fences("a\n```repl\nunclosed"), "a");
    }

    fn arb_reply() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[a-z ().=\n]{0,20}",
            Just("```repl\n".to_string()),
            Just("```python\n".to_string()),
            Just("```\n".to_string()),
            Just("\n```\n".to_string()),
            Just("```json\n".to_string()),
            Just("FINAL(x)\n".to_string()),
            Just("\r\n".to_string()),
        ];
        proptest::collection::vec(piece, 0..20).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(s in "\\PC*") {
            let _ = parse_reply(&s);
        }

        #[test]
        fn crlf_invariant(s in arb_reply()) {
            let lf = normalize_newlines(&s);
            prop_assert_eq!(parse_reply(&s), parse_reply(&lf.replace('\n', "\r\n")));
        }

        /// Building a reply from known blocks and prose, in any order, finds exactly those blocks.
        #[test]
        fn finds_the_blocks_it_was_built_from(
            parts in proptest::collection::vec((any::<bool>(), "[a-z0-9 =()+]{1,30}"), 0..8),
            crlf in any::<bool>(),
        ) {
            let mut reply = String::new();
            let mut expected = Vec::new();
            for (is_code, text) in &parts {
                if *is_code && !text.trim().is_empty() {
                    reply.push_str(&format!("```repl\n{text}\n```\n"));
                    expected.push(text.trim_matches('\n').to_string());
                } else {
                    reply.push_str(&format!("{text}\n"));
                }
            }
            if crlf { reply = reply.replace('\n', "\r\n"); }
            let parsed = parse_reply(&reply);
            prop_assert_eq!(parsed.blocks, expected);
            prop_assert!(!parsed.unterminated);
        }
    }
}
