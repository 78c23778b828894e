//! A small incremental parser of server-sent events (the `text/event-stream` format of the
//! WHATWG HTML standard), enough for LLM streams: `event:` and `data:` fields, comments, and
//! events ended by a blank line; `\n`, `\r\n` and `\r` line ends; input in chunks cut anywhere
//! (even inside a UTF-8 character or a CRLF). `id:` and `retry:` are read and ignored: a
//! completion stream is never resumed.
//!
//! ```
//! use rlm_http::sse::SseParser;
//!
//! let mut parser = SseParser::default();
//! let mut events = parser.push(b"event: ping\ndata: {\"a\"");
//! assert!(events.is_empty());
//! events.extend(parser.push(b":1}\n\ndata: [DONE]\n\n"));
//! assert_eq!(events[0].event.as_deref(), Some("ping"));
//! assert_eq!(events[0].data, "{\"a\":1}");
//! assert_eq!(events[1].data, "[DONE]");
//! ```

/// One event: its `event:` name (if any) and its `data:` lines joined with `\n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` for the default `message` type.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line being read (not yet ended).
    line: Vec<u8>,
    /// The last chunk ended with `\r`: a `\n` at the start of the next one ends nothing.
    after_cr: bool,
    event: Option<String>,
    data: String,
    /// Whether a `data:` field was seen since the last dispatch.
    has_data: bool,
}

impl SseParser {
    /// Feeds the next chunk of the stream; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_ended(&line) {
                        events.push(event);
                    }
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    /// Whether bytes of an unfinished event are pending (the stream was cut inside one).
    pub fn has_pending(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }

    fn line_ended(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            let event = self.event.take();
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            return Some(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
        if line.first() == Some(&b':') {
            return None; // a comment (keep-alive)
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            _ => {} // id, retry, unknown fields
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        chunks.iter().flat_map(|c| parser.push(c)).collect()
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    #[test]
    fn fields_comments_and_line_ends() {
        let cases: &[(&str, Vec<SseEvent>)] = &[
            ("data: a\n\n", vec![ev(None, "a")]),
            ("data:a\r\n\r\n", vec![ev(None, "a")]),
            ("data: a\r\rdata: b\r\r", vec![ev(None, "a"), ev(None, "b")]),
            ("data: a\ndata: b\n\n", vec![ev(None, "a\nb")]),
            (
                ": ping\n\nevent: x\ndata: {}\n\n",
                vec![ev(Some("x"), "{}")],
            ),
            ("event: only\n\n", vec![]),
            ("id: 1\nretry: 5\ndata\n\n", vec![ev(None, "")]),
            ("data:  two spaces\n\n", vec![ev(None, " two spaces")]),
            ("data: no end", vec![]),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_in(&[input.as_bytes()]), want, "{input:?}");
        }
    }

    #[test]
    fn every_chunking_gives_the_same_events() {
        let stream = "event: a\r\ndata: héllo\r\n\r\n: c\n\ndata: x\rdata: y\r\rdata: [DONE]\n\n";
        let bytes = stream.as_bytes();
        let whole = parse_in(&[bytes]);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0], ev(Some("a"), "héllo"));
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let got = parse_in(&[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                assert_eq!(got, whole, "cut at {i} and {j}");
            }
        }
        let mut one_by_one = SseParser::default();
        let got: Vec<_> = bytes.iter().flat_map(|b| one_by_one.push(&[*b])).collect();
        assert_eq!(got, whole);
        assert!(!one_by_one.has_pending());
    }
}
