//! A hand-rolled, deliberately minimal HTTP/1.1 request reader and response writer.
//!
//! Just enough for OpenAI-compatible clients: a request line, headers, and a body framed by
//! `Content-Length` or `Transfer-Encoding: chunked`. Owning the bytes on the wire is what lets the
//! fake server misbehave on purpose (stall, drop, trickle, lie about the length).

use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest request head (request line and headers) accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A request as read from the socket.
#[derive(Debug)]
pub(crate) struct RawRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Header names lower-cased, in the order received.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// The client asked to close the connection after this exchange (or spoke HTTP/1.0).
    pub(crate) close: bool,
}

/// Why a request could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the connection in the middle of a request.
    Eof,
    /// Socket error.
    Io,
    /// The bytes are not an HTTP/1.x request we understand (the reason goes into a 400 body).
    Malformed(&'static str),
}

/// Reads one request from `stream`, using and refilling `buf` (bytes beyond this request stay in
/// `buf` for the next one). `Ok(None)` is a clean close between requests.
pub(crate) async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<Option<RawRequest>, ReadError> {
    let head_end = loop {
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(ReadError::Malformed("request head too large"));
        }
        if fill(stream, buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(ReadError::Eof)
            };
        }
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| ReadError::Malformed("request head is not utf-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Malformed("bad request line"));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(ReadError::Malformed("unsupported http version")),
    };
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Malformed("bad header line"));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let connection = header("connection")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let close = connection.contains("close") || (http10 && !connection.contains("keep-alive"));
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let content_length = match header("content-length") {
        Some(v) => Some(
            v.parse::<usize>()
                .map_err(|_| ReadError::Malformed("bad content-length"))?,
        ),
        None => None,
    };
    let (method, path) = (method.to_string(), target.to_string());

    buf.drain(..head_end + 4);
    let body = if chunked {
        read_chunked(stream, buf).await?
    } else {
        let len = content_length.unwrap_or(0);
        if len > MAX_BODY_BYTES {
            return Err(ReadError::Malformed("request body too large"));
        }
        while buf.len() < len {
            if fill(stream, buf).await? == 0 {
                return Err(ReadError::Eof);
            }
        }
        buf.drain(..len).collect()
    };
    Ok(Some(RawRequest {
        method,
        path,
        headers,
        body,
        close,
    }))
}

/// Decodes a chunked body (trailers are read and dropped).
async fn read_chunked<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(pos) = find(buf, b"\r\n") {
                break pos;
            }
            if buf.len() > MAX_HEAD_BYTES {
                return Err(ReadError::Malformed("chunk size line too long"));
            }
            if fill(stream, buf).await? == 0 {
                return Err(ReadError::Eof);
            }
        };
        let line = std::str::from_utf8(&buf[..line_end])
            .map_err(|_| ReadError::Malformed("bad chunk size"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ReadError::Malformed("bad chunk size"))?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                if let Some(pos) = find(buf, b"\r\n") {
                    let empty = pos == 0;
                    buf.drain(..pos + 2);
                    if empty {
                        return Ok(body);
                    }
                    continue;
                }
                if fill(stream, buf).await? == 0 {
                    return Err(ReadError::Eof);
                }
            }
        }
        if body.len().saturating_add(size) > MAX_BODY_BYTES {
            return Err(ReadError::Malformed("request body too large"));
        }
        while buf.len() < size + 2 {
            if fill(stream, buf).await? == 0 {
                return Err(ReadError::Eof);
            }
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

/// Reads more bytes into `buf`; returns how many (0 at end of stream).
pub(crate) async fn fill<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<usize, ReadError> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await.map_err(|_| ReadError::Io)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The response head: status line, the given headers, and `content-length` unless the caller
/// already set one. `body_len` is the length announced, not necessarily what will be sent.
pub(crate) fn response_head(status: u16, headers: &[(String, String)], body_len: usize) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    let mut has_length = false;
    for (name, value) in headers {
        has_length |= name.eq_ignore_ascii_case("content-length");
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    if !has_length {
        head.push_str(&format!("content-length: {body_len}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse_all(bytes: &[u8]) -> Vec<RawRequest> {
        let mut stream = bytes;
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(req) = read_request(&mut stream, &mut buf).await.unwrap() {
            out.push(req);
        }
        out
    }

    #[tokio::test]
    async fn reads_content_length_and_chunked_bodies_back_to_back() {
        let wire = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
GET /v1/models HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
        let reqs = parse_all(wire).await;
        assert_eq!(reqs.len(), 2);
        assert_eq!(
            (reqs[0].method.as_str(), reqs[0].path.as_str()),
            ("POST", "/v1/chat/completions")
        );
        assert_eq!(reqs[0].body, b"hello");
        assert!(!reqs[0].close);
        assert_eq!(reqs[0].headers[0], ("host".to_string(), "x".to_string()));
        assert_eq!(reqs[1].body, b"abcde");
        assert!(reqs[1].close);
    }

    #[tokio::test]
    async fn malformed_and_truncated_requests_are_errors() {
        let mut buf = Vec::new();
        let mut bad: &[u8] = b"NONSENSE\r\n\r\n";
        assert!(matches!(
            read_request(&mut bad, &mut buf).await,
            Err(ReadError::Malformed(_))
        ));
        let mut buf = Vec::new();
        let mut short: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc";
        assert!(matches!(
            read_request(&mut short, &mut buf).await,
            Err(ReadError::Eof)
        ));
    }

    #[test]
    fn head_sets_content_length_unless_given() {
        let head = String::from_utf8(response_head(429, &[("retry-after".into(), "2".into())], 7))
            .unwrap();
        assert_eq!(
            head,
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 2\r\ncontent-length: 7\r\n\r\n"
        );
        let head = String::from_utf8(response_head(
            200,
            &[("Content-Length".into(), "99".into())],
            7,
        ))
        .unwrap();
        assert!(head.contains("Content-Length: 99\r\n") && !head.contains("content-length: 7"));
    }
}
