//! Text-level `FINAL(...)` / `FINAL_VAR(...)`: honoured only in replies without code blocks, and
//! in the last-chance reply when iterations run out (`docs/design.md` §2.2).
//!
//! The call must start a line (after optional spaces), so prose such as "I will call FINAL(x)
//! later" does not finish. The argument is read with a balanced-parenthesis, quote-aware
//! scanner: `FINAL(f(x))` gives `f(x)` and `FINAL(42)\nmore (text)` gives `42`. When the whole
//! argument is one quoted string literal, the quotes are removed (`FINAL("done")` gives `done`).

/// A finish written in the reply text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextFinal {
    /// `FINAL(answer)`.
    Final(String),
    /// `FINAL_VAR(name)`: the name, to look up in the REPL.
    FinalVar(String),
}

/// Finds the first line-leading `FINAL(...)` or `FINAL_VAR(...)` with a balanced argument.
pub fn find_text_final(text: &str) -> Option<TextFinal> {
    let text = crate::parse::normalize_newlines(text);
    let mut offset = 0;
    for line in text.split('\n') {
        let start = offset + (line.len() - line.trim_start().len());
        offset += line.len() + 1;
        let rest = &text[start..];
        let (is_var, after) = if let Some(r) = rest.strip_prefix("FINAL_VAR(") {
            (true, r)
        } else if let Some(r) = rest.strip_prefix("FINAL(") {
            (false, r)
        } else {
            continue;
        };
        let Some(arg) = balanced_argument(after) else {
            continue;
        };
        let arg = arg.trim();
        return Some(if is_var {
            TextFinal::FinalVar(unquote(arg).trim().to_string())
        } else {
            TextFinal::Final(unquote(arg).to_string())
        });
    }
    None
}

/// The text up to the parenthesis that closes an already-open one, skipping quoted strings.
fn balanced_argument(s: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' if depth == 0 => return Some(&s[..i]),
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Removes one pair of matching quotes around a single string literal.
fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        for delim in [format!("{q}{q}{q}"), q.to_string()] {
            if s.len() >= 2 * delim.len() && s.starts_with(&delim) && s.ends_with(&delim) {
                let inner = &s[delim.len()..s.len() - delim.len()];
                if !inner.contains(q) {
                    return inner;
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expected: Option<TextFinal>) {
        assert_eq!(find_text_final(input), expected, "input: {input:?}");
    }

    fn fin(s: &str) -> Option<TextFinal> {
        Some(TextFinal::Final(s.into()))
    }

    #[test]
    fn table() {
        check("FINAL(42)", fin("42"));
        check("FINAL(f(x))", fin("f(x)"));
        check("FINAL(42)\nmore (text)", fin("42"));
        check("FINAL(a)\nFINAL(b)", fin("a"));
        check("The answer:\n  FINAL(func(a, b))  ", fin("func(a, b)"));
        check("The result is FINAL(42)", None);
        check("FINAL('hello world')", fin("hello world"));
        check("FINAL(\"it's (fine)\")", fin("it's (fine)"));
        check("FINAL('a') + FINAL('b')", fin("a"));
        check("FINAL(\"x)\" + y)", fin("\"x)\" + y"));
        check("FINAL(unclosed", None);
        check("FINAL(\n  multi\n  line (ok)\n)", fin("multi\n  line (ok)"));
        check(
            "FINAL_VAR(result)",
            Some(TextFinal::FinalVar("result".into())),
        );
        check(
            "FINAL_VAR('result')",
            Some(TextFinal::FinalVar("result".into())),
        );
        check(
            "text\nFINAL_VAR( out )\nFINAL(x)",
            Some(TextFinal::FinalVar("out".into())),
        );
        check("FINAL(x)\r\nthen (note)", fin("x"));
        check("FINAL()", fin(""));
        check("no finish", None);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = find_text_final(&s);
        }

        #[test]
        fn crlf_invariant(s in "[a-zA-Z_()'\" \n]{0,60}") {
            prop_assert_eq!(find_text_final(&s), find_text_final(&s.replace('\n', "\r\n")));
        }

        #[test]
        fn balanced_argument_round_trips(inner in "[a-z0-9 ,+]{0,10}(\\([a-z0-9 ,]{0,10}\\))?[a-z0-9 ]{0,5}", tail in "[a-z ()]{0,20}") {
            let text = format!("FINAL({inner})\n{tail}");
            prop_assert_eq!(find_text_final(&text), Some(TextFinal::Final(inner.trim().to_string())));
        }
    }
}
