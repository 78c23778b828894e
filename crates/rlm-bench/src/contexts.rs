//! Context files: deterministic log-like lines of an exact size, with an optional needle line.
//! Files are cached under `target/bench/` by name, size and generator version, so a second run
//! does not write 100 MB again.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Bump when the generated text changes, so cached files are not reused.
const GENERATOR_VERSION: u32 = 1;

/// The value the needle line carries (`secret_code=...`).
pub const NEEDLE_VALUE: &str = "K7Q-4242-XZ9";

/// The needle line. It is the only line holding `secret_code=` and the word `needle`.
fn needle_line() -> String {
    format!(
        "2026-03-14T10:00:00.000Z WARN vault[4242] needle found: secret_code={NEEDLE_VALUE} rotated by admin\n"
    )
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContextSpec {
    /// Exact size in bytes (the text is ASCII, so also its length in characters).
    pub bytes: u64,
    /// Where the needle line goes, as a fraction of the file (`None`: no needle).
    pub needle_at: Option<f64>,
}

/// A generated context file.
#[derive(Debug, Clone)]
pub struct ContextFile {
    pub path: PathBuf,
    /// Its size in bytes (= characters).
    pub bytes: u64,
}

/// Writes (or reuses) the context file for `name` in `dir`.
pub fn generate(dir: &Path, name: &str, spec: ContextSpec) -> Result<ContextFile> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let needle = if spec.needle_at.is_some() {
        "needle"
    } else {
        "plain"
    };
    let path = dir.join(format!(
        "{name}.{}.{needle}.v{GENERATOR_VERSION}.txt",
        spec.bytes
    ));
    let cached = std::fs::metadata(&path).is_ok_and(|m| m.len() == spec.bytes);
    if !cached {
        let tmp = path.with_extension("tmp");
        write(&tmp, spec).with_context(|| format!("could not write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("could not rename {} to {}", tmp.display(), path.display()))?;
    }
    Ok(ContextFile {
        path,
        bytes: spec.bytes,
    })
}

/// Like [`generate`], but the text starts with one non-ASCII character (`é`, two bytes): the
/// file has `spec.bytes` bytes and one character fewer.
pub fn generate_non_ascii(dir: &Path, name: &str, spec: ContextSpec) -> Result<ContextFile> {
    let ascii_spec = ContextSpec {
        bytes: spec.bytes.saturating_sub(2),
        ..spec
    };
    let ascii = generate(dir, &format!("{name}-ascii"), ascii_spec)?;
    let path = dir.join(format!(
        "{name}.{}.utf8.v{GENERATOR_VERSION}.txt",
        spec.bytes
    ));
    let cached = std::fs::metadata(&path).is_ok_and(|m| m.len() == spec.bytes);
    if !cached {
        let tmp = path.with_extension("tmp");
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        out.write_all("é".as_bytes())?;
        std::io::copy(&mut File::open(&ascii.path)?, &mut out)?;
        out.flush()?;
        drop(out);
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("could not rename {} to {}", tmp.display(), path.display()))?;
    }
    Ok(ContextFile {
        path,
        bytes: spec.bytes,
    })
}

fn write(path: &Path, spec: ContextSpec) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let needle = needle_line();
    let needle_len = needle.len() as u64;
    // The needle's offset, rounded down to a line start below.
    let needle_at = spec.needle_at.map(|f| {
        let room = spec.bytes.saturating_sub(needle_len) as f64;
        (room * f.clamp(0.0, 1.0)) as u64
    });
    let mut lines = LogLines::new(0x5eed_1234_abcd_ef01);
    let mut written = 0_u64;
    let mut needle_done = needle_at.is_none() || needle_len > spec.bytes;
    let mut line = String::new();
    while written < spec.bytes {
        let remaining = spec.bytes - written;
        if !needle_done && needle_at.is_some_and(|at| written >= at) && needle_len <= remaining {
            out.write_all(needle.as_bytes())?;
            written += needle_len;
            needle_done = true;
            continue;
        }
        lines.next_into(&mut line);
        let len = line.len() as u64;
        // Keep room for the needle and never write past the exact size: the last line (or the
        // line before the needle, when the needle must go at the very end) is filler.
        let reserve = if needle_done { 0 } else { needle_len };
        if len + reserve <= remaining && len + LogLines::MAX_LEN + reserve <= remaining {
            out.write_all(line.as_bytes())?;
            written += len;
        } else {
            let fill = remaining - reserve;
            let filler = filler(fill);
            out.write_all(filler.as_bytes())?;
            written += fill;
            if !needle_done {
                out.write_all(needle.as_bytes())?;
                written += needle_len;
                needle_done = true;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// `n` bytes: `#` then a newline (empty for 0).
fn filler(n: u64) -> String {
    let n = usize::try_from(n).unwrap_or(0);
    match n {
        0 => String::new(),
        n => format!("{}\n", "#".repeat(n - 1)),
    }
}

/// A deterministic stream of log lines (a 64-bit LCG, no dependency).
struct LogLines {
    state: u64,
    n: u64,
}

impl LogLines {
    /// No line is longer than this.
    const MAX_LEN: u64 = 160;

    fn new(seed: u64) -> Self {
        Self { state: seed, n: 0 }
    }

    fn next_u32(&mut self) -> u32 {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.state >> 33) as u32
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = self.next_u32() as usize % items.len().max(1);
        items.get(i).copied().unwrap_or("")
    }

    fn next_into(&mut self, line: &mut String) {
        use std::fmt::Write as _;
        const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];
        const SERVICES: &[&str] = &["api", "worker", "scheduler", "auth", "billing", "search"];
        const RESOURCES: &[&str] = &["items", "users", "orders", "invoices", "sessions"];
        const STATUS: &[&str] = &["200", "200", "200", "201", "204", "304", "404", "500"];
        self.n += 1;
        let secs = self.n / 20;
        let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        let ms = self.next_u32() % 1000;
        let level = self.pick(LEVELS);
        let service = self.pick(SERVICES);
        let pid = 1000 + self.next_u32() % 9000;
        let req = self.next_u32();
        let status = self.pick(STATUS);
        let latency = self.next_u32() % 2500;
        let resource = self.pick(RESOURCES);
        let id = self.next_u32() % 100_000;
        line.clear();
        // Writing to a String cannot fail.
        let _ = writeln!(
            line,
            "2026-03-14T{h:02}:{m:02}:{s:02}.{ms:03}Z {level} {service}[{pid}] req={req:08x} \
             status={status} latency_ms={latency} path=/api/v1/{resource}/{id}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(bytes: u64, needle_at: Option<f64>) -> String {
        let dir = std::env::temp_dir().join(format!(
            "xtask-bench-contexts-{}-{bytes}-{}",
            std::process::id(),
            needle_at.is_some()
        ));
        let file = generate(&dir, "t", ContextSpec { bytes, needle_at }).unwrap();
        let text = std::fs::read_to_string(&file.path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        text
    }

    #[test]
    fn exact_size_and_one_needle() {
        for bytes in [0, 1, 50, 99, 100, 101, 500, 4096, 100_003] {
            for needle_at in [None, Some(0.0), Some(0.5), Some(0.9), Some(1.0)] {
                let text = generated(bytes, needle_at);
                assert_eq!(text.len() as u64, bytes, "{bytes} {needle_at:?}");
                let needles = text.matches("secret_code=").count();
                let expected =
                    usize::from(needle_at.is_some() && bytes >= needle_line().len() as u64);
                assert_eq!(needles, expected, "{bytes} {needle_at:?}");
                assert!(text.is_ascii());
            }
        }
    }

    #[test]
    fn lines_are_shorter_than_the_bound() {
        let mut lines = LogLines::new(1);
        let mut line = String::new();
        for _ in 0..10_000 {
            lines.next_into(&mut line);
            assert!(line.len() as u64 <= LogLines::MAX_LEN, "{line}");
            assert!(!line.contains("needle") && !line.contains("secret_code"));
        }
    }
}
