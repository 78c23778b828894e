//! The bearer token: checked on every HTTP request and on the WebSocket upgrade (`/health`
//! excepted, for load balancers). `Authorization: Bearer T` or HTTP Basic with password `T`
//! (what a client sends for `http://user:T@host:port`, the only way OpenEnv's client, which
//! sets no headers, can carry it). The token is never logged, echoed or put in an error.

use axum::http::HeaderMap;

/// The configured token.
pub(crate) struct Token(Vec<u8>);

impl Token {
    pub fn new(token: String) -> Self {
        Self(token.into_bytes())
    }

    /// Whether the request's `Authorization` header carries the token.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let value = value.trim();
        if let Some(given) = strip_scheme(value, "bearer") {
            return same(given.trim().as_bytes(), &self.0);
        }
        if let Some(encoded) = strip_scheme(value, "basic")
            && let Some(decoded) = base64_decode(encoded.trim())
            && let Some(colon) = decoded.iter().position(|&b| b == b':')
        {
            return same(&decoded[colon + 1..], &self.0);
        }
        false
    }
}

fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// Constant-time comparison (the time does not depend on where the bytes differ).
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 (padding optional); `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admits(header: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::AUTHORIZATION, header.parse().unwrap());
        Token::new("s3cret".into()).admits(&headers)
    }

    #[test]
    fn bearer_and_basic_carry_the_token() {
        assert!(admits("Bearer s3cret"));
        assert!(admits("bearer  s3cret"));
        assert!(!admits("Bearer s3cre"));
        assert!(!admits("Bearer s3cretx"));
        // "rlm:s3cret" and "x:s3cret"
        assert!(admits("Basic cmxtOnMzY3JldA=="));
        assert!(admits("Basic eDpzM2NyZXQ="));
        assert!(!admits("Basic eDpzM2NyZXU="));
        assert!(!admits("Token s3cret"));
        assert!(!Token::new("s3cret".into()).admits(&HeaderMap::new()));
    }
}
