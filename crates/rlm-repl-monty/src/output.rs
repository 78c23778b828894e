//! Capture of `print()` output for one execution, capped at [`rlm_core::ReplConfig::max_output_bytes`].
//!
//! Monty's `PrintWriter::CollectString` with a cap raises a `MemoryError` inside the sandbox when
//! the cap is reached, which would kill a loop that merely prints too much and cannot tell the
//! host that the cap was hit when the code catches the error. The core contract is "the rest is
//! dropped and flagged", so this sink keeps the head up to the cap, silently drops the rest and
//! records that it did.

use std::borrow::Cow;

use monty_types::{MontyException, PrintWriterCallback};

/// Printed output of one execution.
#[derive(Debug)]
pub(crate) struct Output {
    text: String,
    cap: usize,
    truncated: bool,
}

impl Output {
    /// An empty buffer keeping at most `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            text: String::new(),
            cap,
            truncated: false,
        }
    }

    /// Appends as much of `s` as fits under the cap, cut at a character boundary. After the
    /// first cut everything is dropped, so the kept text is a true prefix of the output.
    fn push(&mut self, s: &str) {
        if self.truncated {
            return;
        }
        let room = self.cap.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
            return;
        }
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&s[..end]);
        self.truncated = true;
    }

    /// Appends a line the runtime itself must show the model, past the cap if needed.
    pub(crate) fn push_line_always(&mut self, line: &str) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// The captured text and whether anything was dropped.
    pub(crate) fn finish(self) -> (String, bool) {
        (self.text, self.truncated)
    }
}

impl PrintWriterCallback for Output {
    fn stdout_write(&mut self, output: Cow<'_, str>) -> Result<(), MontyException> {
        self.push(&output);
        Ok(())
    }

    fn stdout_push(&mut self, end: char) -> Result<(), MontyException> {
        let mut buf = [0u8; 4];
        self.push(end.encode_utf8(&mut buf));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_head_and_flags_the_cut() {
        let mut out = Output::new(5);
        out.push("abc");
        out.push("déf");
        out.push("more");
        assert_eq!(out.finish(), ("abcd".to_string(), true));
    }

    #[test]
    fn forced_lines_pass_the_cap() {
        let mut out = Output::new(2);
        out.push("abc");
        out.push_line_always("Error: x");
        assert_eq!(out.finish(), ("ab\nError: x\n".to_string(), true));
    }
}
