//! The frame codec of the driver channel: a 4-byte big-endian length, then a JSON body.
//!
//! Every frame has a size cap, checked on the length prefix before anything is allocated for
//! the body; a frame over the cap, a body that is not the expected JSON, or a channel that ends
//! in the middle of a frame is a [`FrameError`], never a panic or an unbounded allocation. After
//! an error the decoder stays failed: the channel can no longer be trusted, so the caller kills
//! the process.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of the length prefix.
pub(crate) const HEADER_LEN: usize = 4;

/// How much the reader asks the pipe for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// The length prefix announces more than the cap.
    #[error("frame of {len} bytes exceeds the {cap}-byte limit")]
    TooLarge {
        /// The announced (or encoded) length.
        len: u64,
        /// The cap.
        cap: usize,
    },
    /// The body is not a valid message.
    #[error("malformed message: {reason}")]
    Malformed {
        /// What the JSON parser said.
        reason: String,
    },
    /// The channel ended in the middle of a frame.
    #[error("the channel closed in the middle of a frame")]
    Truncated,
}

/// Encodes `message` as one frame.
///
/// # Errors
/// [`FrameError::TooLarge`] when the body exceeds `cap`; [`FrameError::Malformed`] when the
/// value cannot be serialized.
pub(crate) fn encode<T: Serialize + ?Sized>(
    message: &T,
    cap: usize,
) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0u8; HEADER_LEN];
    serde_json::to_writer(&mut frame, message).map_err(|e| FrameError::Malformed {
        reason: e.to_string(),
    })?;
    let len = frame.len() - HEADER_LEN;
    let header = u32::try_from(len)
        .ok()
        .filter(|_| len <= cap)
        .ok_or(FrameError::TooLarge {
            len: len as u64,
            cap,
        })?;
    frame[..HEADER_LEN].copy_from_slice(&header.to_be_bytes());
    Ok(frame)
}

/// A push decoder: feed it bytes in any chunking, take whole messages out.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the unread part of `buf`.
    pos: usize,
    cap: usize,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder accepting bodies of at most `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            cap,
            failed: None,
        }
    }

    /// Appends received bytes.
    #[cfg(test)]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet consumed by a whole frame.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The length of the next frame's body, once its header has arrived.
    fn next_len(&mut self) -> Result<Option<usize>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let Some(header) = self.buf.get(self.pos..self.pos + HEADER_LEN) else {
            return Ok(None);
        };
        let mut bytes = [0u8; HEADER_LEN];
        bytes.copy_from_slice(header);
        let len = u32::from_be_bytes(bytes);
        match usize::try_from(len) {
            Ok(len) if len <= self.cap => Ok(Some(len)),
            _ => Err(self.fail(FrameError::TooLarge {
                len: u64::from(len),
                cap: self.cap,
            })),
        }
    }

    fn fail(&mut self, error: FrameError) -> FrameError {
        self.failed = Some(error.clone());
        error
    }

    /// The next whole message, if one has arrived.
    ///
    /// # Errors
    /// [`FrameError::TooLarge`] or [`FrameError::Malformed`]; the decoder then stays failed.
    pub(crate) fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        let Some(len) = self.next_len()? else {
            return Ok(None);
        };
        let start = self.pos + HEADER_LEN;
        let Some(body) = self.buf.get(start..start + len) else {
            return Ok(None);
        };
        let parsed = serde_json::from_slice::<T>(body);
        self.pos = start + len;
        self.compact();
        parsed.map(Some).map_err(|e| {
            self.fail(FrameError::Malformed {
                reason: e.to_string(),
            })
        })
    }

    /// Drops consumed bytes so the buffer holds at most one partial frame plus a read chunk.
    fn compact(&mut self) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// Makes room for the next read: the rest of a known frame (at most the cap) or a chunk.
    fn reserve_for_read(&mut self) -> Result<(), FrameError> {
        let wanted = match self.next_len()? {
            Some(len) => (HEADER_LEN + len).saturating_sub(self.buffered()),
            None => 0,
        };
        self.buf.reserve(wanted.max(READ_CHUNK));
        Ok(())
    }
}

/// Why the channel failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChannelError {
    /// The other side closed the channel between frames.
    #[error("the channel is closed")]
    Closed,
    /// A bad frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The pipe failed.
    #[error("the channel failed: {0}")]
    Io(String),
}

/// Reads whole messages from an async byte stream.
#[derive(Debug)]
pub(crate) struct FrameReader<R> {
    inner: R,
    decoder: FrameDecoder,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(inner: R, cap: usize) -> Self {
        Self {
            inner,
            decoder: FrameDecoder::new(cap),
        }
    }

    /// The next message. Cancel-safe: bytes already read stay buffered.
    pub(crate) async fn next<T: DeserializeOwned>(&mut self) -> Result<T, ChannelError> {
        loop {
            if let Some(message) = self.decoder.next()? {
                return Ok(message);
            }
            self.decoder.reserve_for_read()?;
            let n = self
                .inner
                .read_buf(&mut self.decoder.buf)
                .await
                .map_err(|e| ChannelError::Io(e.to_string()))?;
            if n == 0 {
                return Err(if self.decoder.buffered() == 0 {
                    ChannelError::Closed
                } else {
                    ChannelError::Frame(FrameError::Truncated)
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn frames(values: &[Value]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|v| encode(v, 1 << 20).unwrap())
            .collect()
    }

    /// Decodes `bytes` fed in chunks of the given sizes; stops at the first error.
    fn decode_chunked(
        bytes: &[u8],
        chunks: &[usize],
        cap: usize,
    ) -> (Vec<Value>, Option<FrameError>) {
        let mut decoder = FrameDecoder::new(cap);
        let mut out = Vec::new();
        let mut rest = bytes;
        let mut sizes = chunks.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
            decoder.push(&rest[..n]);
            rest = &rest[n..];
            loop {
                match decoder.next::<Value>() {
                    Ok(Some(v)) => out.push(v),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    #[test]
    fn round_trips_messages() {
        let values = vec![
            json!({"done": {"stdout": "é\n", "error": null}}),
            json!("ok"),
            json!([1, 2.5]),
        ];
        let (out, err) = decode_chunked(&frames(&values), &[3, 1, 7], 1 << 20);
        assert_eq!((out, err), (values, None));
    }

    #[test]
    fn an_oversized_prefix_fails_before_allocating_and_stays_failed() {
        let mut decoder = FrameDecoder::new(16);
        decoder.push(&u32::MAX.to_be_bytes());
        let err = decoder.next::<Value>().unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                len: u64::from(u32::MAX),
                cap: 16
            }
        );
        assert!(decoder.buf.capacity() < 1024);
        decoder.push(&frames(&[json!(1)]));
        assert_eq!(decoder.next::<Value>().unwrap_err(), err);
    }

    #[test]
    fn a_bad_body_is_malformed() {
        let mut bytes = 3u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"{x}");
        let (_, err) = decode_chunked(&bytes, &[64], 1 << 20);
        assert!(matches!(err, Some(FrameError::Malformed { .. })), "{err:?}");
    }

    #[test]
    fn encoding_respects_the_cap() {
        assert!(matches!(
            encode(&"x".repeat(100), 10),
            Err(FrameError::TooLarge { len: 102, cap: 10 })
        ));
    }

    #[tokio::test]
    async fn the_reader_tells_a_clean_end_from_a_cut_frame() {
        let bytes = frames(&[json!("ok")]);
        let mut reader = FrameReader::new(&bytes[..], 1 << 20);
        assert_eq!(reader.next::<Value>().await, Ok(json!("ok")));
        assert_eq!(reader.next::<Value>().await, Err(ChannelError::Closed));
        let mut cut = FrameReader::new(&bytes[..bytes.len() - 1], 1 << 20);
        assert_eq!(
            cut.next::<Value>().await,
            Err(ChannelError::Frame(FrameError::Truncated))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), chunks in proptest::collection::vec(1usize..64, 1..8), cap in 0usize..4096) {
            let _ = decode_chunked(&bytes, &chunks, cap);
        }

        #[test]
        fn chunking_does_not_change_the_result(texts in proptest::collection::vec("\\PC{0,40}", 0..6), chunks in proptest::collection::vec(1usize..32, 1..8)) {
            let values: Vec<Value> = texts.into_iter().map(Value::String).collect();
            let bytes = frames(&values);
            prop_assert_eq!(decode_chunked(&bytes, &chunks, 1 << 20), (values, None));
        }

        #[test]
        fn valid_frames_followed_by_garbage_yield_the_frames_first(texts in proptest::collection::vec("[a-z]{0,8}", 1..4), garbage in proptest::collection::vec(any::<u8>(), 0..64)) {
            let values: Vec<Value> = texts.into_iter().map(Value::String).collect();
            let mut bytes = frames(&values);
            bytes.extend_from_slice(&garbage);
            let (out, _) = decode_chunked(&bytes, &[5], 1 << 20);
            prop_assert_eq!(out, values);
        }
    }
}
