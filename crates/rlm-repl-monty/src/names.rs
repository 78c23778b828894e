//! Names: the CPython builtins the variable probe must tell apart, and a light scan of fed code.
//! The identifier and reserved-name rules are [`rlm_core::names`], re-exported here.
//!
//! Monty has no `globals()`/`dir()`, so for `SHOW_VARS`/`FINAL_VAR` inside a block the session
//! keeps the set of identifiers it has seen in fed code (a superset of the globals that can
//! exist) and probes them with generated code (see [`crate::scaffold`]). The scan is lexical: comments and string literals are
//! skipped, attribute names (`x.name`) and keywords are ignored.

use std::collections::BTreeSet;

pub(crate) use rlm_core::names::{
    ANSWER, KEYWORDS, PRIVATE_PREFIX, check_readable, check_settable, is_builtin, is_host_function,
    is_identifier, is_reserved,
};

/// What a scan of one code block found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Identifiers that may name globals (keywords, attributes and dunders excluded).
    pub identifiers: BTreeSet<String>,
    /// A runtime name appears other than as a plain call (`FINAL = 1`, `def llm_query(...)`,
    /// `f = SHOW_VARS`, any use of a private helper), so the scaffold is restored afterwards.
    pub touches_scaffold: bool,
    /// `SHOW_VARS` or `FINAL_VAR` appears, so the variable probe must know every current name.
    pub needs_probe: bool,
}

/// Scans `code` lexically. Never fails: malformed code just yields fewer names. The custom
/// `tools` count as runtime names (never candidates; rebinding one restores the scaffold).
pub(crate) fn scan(code: &str, tools: &[String]) -> Scan {
    let bytes = code.as_bytes();
    let mut out = Scan::default();
    let mut i = 0;
    // The previous significant token: an identifier/keyword, or the last punctuation byte.
    let mut prev_word: &str = "";
    let mut prev_punct: u8 = b'\n';
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' | b'"' => {
                i = skip_string(bytes, i);
                prev_word = "";
                prev_punct = b'"';
            }
            b'0'..=b'9' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
                {
                    i += 1;
                }
                prev_word = "";
                prev_punct = b'0';
            }
            _ if b == b'_' || b.is_ascii_alphabetic() || b >= 0x80 => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric() || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                // A string prefix (r'', b"", f'', rb'' ...) directly followed by a quote.
                if i < bytes.len()
                    && (bytes[i] == b'\'' || bytes[i] == b'"')
                    && is_string_prefix(&code[start..i])
                {
                    i = skip_string(bytes, i);
                    prev_word = "";
                    prev_punct = b'"';
                    continue;
                }
                let word = &code[start..i];
                let is_attribute = prev_word.is_empty() && prev_punct == b'.';
                if !is_attribute && !KEYWORDS.contains(&word) && is_identifier(word) {
                    let runtime = is_host_function(word) || tools.iter().any(|t| t == word);
                    let next = next_significant(bytes, i);
                    note_identifier(&mut out, word, runtime, prev_word, next);
                }
                prev_word = word;
            }
            b' ' | b'\t' | b'\r' | b'\\' => i += 1,
            _ => {
                prev_word = "";
                prev_punct = b;
                i += 1;
            }
        }
    }
    out
}

fn note_identifier(out: &mut Scan, word: &str, runtime: bool, prev_word: &str, next: Option<u8>) {
    if word.starts_with(PRIVATE_PREFIX) {
        out.touches_scaffold = true;
        return;
    }
    if word == "SHOW_VARS" || word == "FINAL_VAR" {
        out.needs_probe = true;
    }
    if runtime {
        let plain_call = next == Some(b'(') && prev_word != "def" && prev_word != "class";
        if !plain_call {
            out.touches_scaffold = true;
        }
        return;
    }
    let dunder = word.len() > 4 && word.starts_with("__") && word.ends_with("__");
    if !dunder {
        out.identifiers.insert(word.to_string());
    }
}

/// The next byte that is not a space or tab, if any.
fn next_significant(bytes: &[u8], mut i: usize) -> Option<u8> {
    while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
        i += 1;
    }
    bytes.get(i).copied()
}

fn is_string_prefix(word: &str) -> bool {
    word.len() <= 2
        && word
            .chars()
            .all(|c| matches!(c.to_ascii_lowercase(), 'r' | 'b' | 'f' | 'u' | 't'))
}

/// Skips the string literal starting at the quote `bytes[start]`; returns the index after it.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let triple = bytes.len() >= start + 3 && bytes[start + 1] == quote && bytes[start + 2] == quote;
    let mut i = if triple { start + 3 } else { start + 1 };
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            i += 2;
            continue;
        }
        if triple {
            if b == quote && bytes.len() >= i + 3 && bytes[i + 1] == quote && bytes[i + 2] == quote
            {
                return i + 3;
            }
        } else if b == quote || b == b'\n' {
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(code: &str) -> Vec<String> {
        scan(code, &[]).identifiers.into_iter().collect()
    }

    #[test]
    fn scan_finds_names_but_not_attributes_strings_or_comments() {
        let code = "import re\nx = re.sub('a b', \"c\", y)  # z w\ndef f(p):\n    return p.upper() + f'{q}'\n";
        assert_eq!(idents(code), ["f", "p", "re", "x", "y"]);
        assert_eq!(
            idents("s = '''a\nb = 1'''\nt = r'\\d' + b\"q\""),
            ["s", "t"]
        );
        assert_eq!(idents("n = 1e5 + 0x1f\n__name__"), ["n"]);
        assert_eq!(idents("a = 'unterminated\nb = 2"), ["a", "b"]);
    }

    #[test]
    fn scan_flags_scaffold_rebinding_but_not_plain_calls() {
        let check = |code: &str, touches: bool| {
            assert_eq!(scan(code, &[]).touches_scaffold, touches, "{code}")
        };
        check("FINAL(x)\nllm_query ('p')\nFINAL_VAR('x')", false);
        check("FINAL = 1", true);
        check("def llm_query(p):\n    return p", true);
        check("f = SHOW_VARS", true);
        check("for FINAL in range(3): pass", true);
        check("__rlm_vars = None", true);
        check("print('FINAL = 1')", false);
        assert!(scan("print(SHOW_VARS())", &[]).needs_probe);
        assert!(!scan("FINAL(1)", &[]).needs_probe);
        let tools = ["search".to_string()];
        assert!(!scan("x = search('a')", &tools).touches_scaffold);
        assert!(
            !scan("x = search('a')", &tools)
                .identifiers
                .contains("search")
        );
        assert!(scan("search = 1", &tools).touches_scaffold);
    }

    proptest::proptest! {
        #[test]
        fn scan_never_panics_and_yields_only_identifiers(code in "\\PC*") {
            for name in scan(&code, &[]).identifiers {
                proptest::prop_assert!(is_identifier(&name), "{name:?}");
                proptest::prop_assert!(!is_host_function(&name) && !name.starts_with(PRIVATE_PREFIX), "{name:?}");
            }
        }

        #[test]
        fn scan_ignores_line_ending_style(code in "[a-z_ =\\n'\"#()]*") {
            proptest::prop_assert_eq!(scan(&code, &[]), scan(&code.replace('\n', "\r\n"), &[]));
        }
    }
}
