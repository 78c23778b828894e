//! A tiny Python highlighter for the HTML viewer: comments, strings (prefixes and triple
//! quotes included), numbers, keywords, and the builtins and runtime functions get a `<span>`
//! with a class; everything is HTML-escaped. Done here rather than in JavaScript so the page
//! shows highlighted code even with scripts off.

use rlm::names::{HOST_FUNCTIONS, KEYWORDS};

/// Soft keywords, highlighted like the hard [`KEYWORDS`].
const SOFT_KEYWORDS: &[&str] = &["match", "case"];

/// Common builtins, highlighted like the runtime's [`HOST_FUNCTIONS`].
const BUILTINS: &[&str] = &[
    "print",
    "len",
    "range",
    "str",
    "int",
    "float",
    "list",
    "dict",
    "set",
    "tuple",
    "sorted",
    "enumerate",
    "zip",
    "min",
    "max",
    "sum",
    "isinstance",
];

fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word) || SOFT_KEYWORDS.contains(&word)
}

fn is_function(word: &str) -> bool {
    HOST_FUNCTIONS.contains(&word) || BUILTINS.contains(&word)
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn span(out: &mut String, class: &str, text: &str) {
    out.push_str("<span class=\"");
    out.push_str(class);
    out.push_str("\">");
    out.push_str(&escape(text));
    out.push_str("</span>");
}

/// The end (byte index) of a string literal whose quote starts at `start`.
fn string_end(code: &str, start: usize, raw: bool) -> usize {
    let rest = &code[start..];
    let quote = if rest.starts_with("\"\"\"") {
        "\"\"\""
    } else if rest.starts_with("'''") {
        "'''"
    } else if rest.starts_with('"') {
        "\""
    } else {
        "'"
    };
    let mut i = start + quote.len();
    while i < code.len() {
        let tail = &code[i..];
        if !raw && tail.starts_with('\\') {
            // Skip the escaped character, whatever its width.
            i += 1;
            if let Some(c) = code[i..].chars().next() {
                i += c.len_utf8();
            }
            continue;
        }
        if tail.starts_with(quote) {
            return i + quote.len();
        }
        if quote.len() == 1 && tail.starts_with('\n') {
            return i; // an unterminated one-line string stops at the line's end
        }
        i += tail.chars().next().map_or(1, char::len_utf8);
    }
    code.len()
}

/// Python source as highlighted, escaped HTML.
pub fn python(code: &str) -> String {
    let mut out = String::with_capacity(code.len() * 2);
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let Some(c) = rest.chars().next() else { break };
        if c == '#' {
            let end = rest.find('\n').map_or(code.len(), |n| i + n);
            span(&mut out, "com", &code[i..end]);
            i = end;
        } else if c == '"' || c == '\'' {
            let end = string_end(code, i, false);
            span(&mut out, "str", &code[i..end]);
            i = end;
        } else if c.is_ascii_digit() {
            let len = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '.' || ch == '_'))
                .unwrap_or(rest.len());
            span(&mut out, "num", &code[i..i + len]);
            i += len;
        } else if c.is_alphabetic() || c == '_' {
            let len = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            let word = &code[i..i + len];
            let after = &rest[len..];
            let is_prefix = len <= 2
                && word.chars().all(|ch| "rRbBfFuU".contains(ch))
                && (after.starts_with('"') || after.starts_with('\''));
            if is_prefix {
                let raw = word.contains(['r', 'R']);
                let end = string_end(code, i + len, raw);
                span(&mut out, "str", &code[i..end]);
                i = end;
            } else {
                if is_keyword(word) {
                    span(&mut out, "kw", word);
                } else if is_function(word) {
                    span(&mut out, "fn", word);
                } else {
                    out.push_str(&escape(word));
                }
                i += len;
            }
        } else {
            out.push_str(&escape(&rest[..c.len_utf8()]));
            i += c.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: &str, expected: &str) {
        assert_eq!(python(code), expected, "code: {code:?}");
    }

    #[test]
    fn highlights() {
        check(
            "x = 1  # one",
            "x = <span class=\"num\">1</span>  <span class=\"com\"># one</span>",
        );
        check(
            "if a in b: FINAL('<ok>')",
            "<span class=\"kw\">if</span> a <span class=\"kw\">in</span> b: <span class=\"fn\">FINAL</span>(<span class=\"str\">&#39;&lt;ok&gt;&#39;</span>)",
        );
        check(
            "f\"{x}\" + r'\\d'",
            "<span class=\"str\">f&quot;{x}&quot;</span> + <span class=\"str\">r&#39;\\d&#39;</span>",
        );
        check(
            "'''a\n'b'''\ndef",
            "<span class=\"str\">&#39;&#39;&#39;a\n&#39;b&#39;&#39;&#39;</span>\n<span class=\"kw\">def</span>",
        );
        check(
            "'it\\'s' é",
            "<span class=\"str\">&#39;it\\&#39;s&#39;</span> é",
        );
        check("'open\nx", "<span class=\"str\">&#39;open</span>\nx");
        check("br", "br");
        check(
            "match x:\n    case 1: rlm_query_batched(y)",
            "<span class=\"kw\">match</span> x:\n    <span class=\"kw\">case</span> <span class=\"num\">1</span>: <span class=\"fn\">rlm_query_batched</span>(y)",
        );
    }
}
