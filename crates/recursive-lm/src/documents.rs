//! Contexts read from files and folders (`docs/design.md` §9): one file is a `str`, several
//! files or a directory a `dict` from relative, `/`-separated path to text, sorted by path.
//!
//! Each file is read once into a buffer of its own size that becomes the string in place, so
//! the loaded context holds one copy of the text. Binary files (a NUL byte in the first 8 KiB,
//! git's rule) are skipped and counted; text that is not UTF-8 is decoded lossily and reported.
//! A directory walk respects `.gitignore`, `.ignore` and hidden-file rules (the `ignore` crate,
//! ripgrep's walker) unless [`DirOptions::ignore`] is off, follows symbolic links but never a
//! link loop, and filters with include and exclude globs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use rlm_core::ReplValue;

use crate::Context;

/// How much of a file decides whether it is binary (git looks at the first 8,000 bytes).
const BINARY_PROBE: u64 = 8 * 1024;

/// A context could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// A file could not be read.
    #[error("cannot read context file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A directory could not be walked.
    #[error("cannot read context directory {}: {message}", path.display())]
    Walk {
        /// The directory or the entry that failed.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The path given as a directory is not one.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// An include or exclude glob is invalid.
    #[error("invalid glob {glob:?}: {message}")]
    Glob {
        /// The glob as given.
        glob: String,
        /// Why.
        message: String,
    },
    /// A JSON context is not valid JSON.
    #[error("{} is not valid JSON: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// No files were given.
    #[error("no context files given")]
    NoFiles,
    /// A directory holds no text file after the filters.
    #[error(
        "no text files in {} ({skipped_binary} binary files skipped; check the include and exclude globs, or the ignore rules)",
        dir.display()
    )]
    NoDocuments {
        /// The directory.
        dir: PathBuf,
        /// Binary files that were skipped.
        skipped_binary: usize,
    },
}

/// Which files of a directory become documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirOptions {
    /// Globs a file's relative path must match (any of them; none means every file). A glob
    /// without `/` matches at any depth (`*.rs`), one with `/` matches from the top
    /// (`src/*.rs`, `docs/**`), as in `.gitignore`.
    pub include: Vec<String>,
    /// Globs of files and directories to leave out (an excluded directory is not entered).
    pub exclude: Vec<String>,
    /// Respect `.gitignore`, `.ignore`, `.git/info/exclude`, the global git excludes and
    /// hidden-file rules (default `true`; the `.gitignore` files count even outside a git
    /// repository). `false` reads every file.
    pub ignore: bool,
}

impl Default for DirOptions {
    fn default() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
            ignore: true,
        }
    }
}

/// What loading found besides the documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Documents loaded.
    pub documents: usize,
    /// Bytes of text loaded (after lossy decoding).
    pub bytes: u64,
    /// Binary files skipped (their keys).
    pub skipped_binary: Vec<String>,
    /// Files whose invalid UTF-8 was replaced with U+FFFD (their keys).
    pub lossy: Vec<String>,
    /// Entries not followed: symbolic link loops and broken links, with why.
    pub skipped_links: Vec<String>,
}

/// A context with what loading it found.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The context.
    pub context: Context,
    /// Skipped and lossy files.
    pub report: LoadReport,
}

/// One file's text, or why it is not a document.
enum FileText {
    Text { text: String, lossy: bool },
    Binary,
}

/// Reads one file: a binary probe of its first 8 KiB, then the rest into the same buffer, sized
/// to the file, which becomes the string without a copy when it is valid UTF-8.
fn read_text(path: &Path) -> Result<FileText, ContextError> {
    let read_err = |source| ContextError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    (&mut file)
        .take(BINARY_PROBE)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.contains(&0) {
        return Ok(FileText::Binary);
    }
    file.read_to_end(&mut buf).map_err(read_err)?;
    Ok(match String::from_utf8(buf) {
        Ok(text) => FileText::Text { text, lossy: false },
        Err(e) => FileText::Text {
            text: String::from_utf8_lossy(e.as_bytes()).into_owned(),
            lossy: true,
        },
    })
}

/// The dict key of a path given by the user: `/`-separated, without a leading `./`.
fn key_of(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let mut key = text.as_str();
    while let Some(rest) = key.strip_prefix("./") {
        key = rest;
    }
    key.to_string()
}

/// Collects documents into a sorted dict, or a single string when `single` allows it.
#[derive(Default)]
struct Collector {
    documents: BTreeMap<String, String>,
    report: LoadReport,
}

impl Collector {
    fn add(&mut self, key: String, path: &Path) -> Result<(), ContextError> {
        match read_text(path)? {
            FileText::Binary => self.report.skipped_binary.push(key),
            FileText::Text { text, lossy } => {
                if lossy {
                    self.report.lossy.push(key.clone());
                }
                self.report.documents += 1;
                self.report.bytes += text.len() as u64;
                self.documents.insert(key, text);
            }
        }
        Ok(())
    }

    fn into_dict(self) -> Loaded {
        let pairs = self
            .documents
            .into_iter()
            .map(|(k, v)| (ReplValue::Str(k), ReplValue::Str(v)))
            .collect();
        Loaded {
            context: Context(ReplValue::Dict(pairs)),
            report: self.report,
        }
    }
}

/// Loads files: one file is a `str` (binary or not), several a `dict` keyed by each path as
/// given (`/`-separated, without `./`), sorted. Binary files among several are skipped.
pub(crate) fn load_files<P: AsRef<Path>>(
    paths: impl IntoIterator<Item = P>,
) -> Result<Loaded, ContextError> {
    let paths: Vec<PathBuf> = paths
        .into_iter()
        .map(|p| p.as_ref().to_path_buf())
        .collect();
    match paths.as_slice() {
        [] => Err(ContextError::NoFiles),
        [one] => {
            let bytes = std::fs::read(one).map_err(|source| ContextError::Read {
                path: one.clone(),
                source,
            })?;
            let mut report = LoadReport {
                documents: 1,
                bytes: bytes.len() as u64,
                ..LoadReport::default()
            };
            let text = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    report.lossy.push(key_of(one));
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }
            };
            Ok(Loaded {
                context: Context(ReplValue::Str(text)),
                report,
            })
        }
        many => {
            let mut collector = Collector::default();
            for path in many {
                let key = key_of(path);
                if !collector.documents.contains_key(&key) {
                    collector.add(key, path)?;
                }
            }
            Ok(collector.into_dict())
        }
    }
}

/// A glob as `.gitignore` reads it: without `/` it matches at any depth.
fn glob_set(globs: &[String]) -> Result<GlobSet, ContextError> {
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        let trimmed = glob.trim_start_matches("./").trim_end_matches('/');
        let pattern = if trimmed.contains('/') {
            trimmed.trim_start_matches('/').to_string()
        } else {
            format!("**/{trimmed}")
        };
        let built: Glob = GlobBuilder::new(&pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| ContextError::Glob {
                glob: glob.clone(),
                message: e.kind().to_string(),
            })?;
        set.add(built);
    }
    set.build().map_err(|e| ContextError::Glob {
        glob: globs.join(" "),
        message: e.to_string(),
    })
}

/// The relative, `/`-separated key of `path` under `root`.
fn relative_key(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a walk error is a link the walk did not follow (a loop, or a link to nothing), and
/// what to say about it.
fn unfollowed_link(err: &ignore::Error) -> Option<String> {
    fn find_loop(err: &ignore::Error) -> Option<String> {
        match err {
            ignore::Error::Loop { ancestor, child } => Some(format!(
                "{} (a symbolic link loop back to {})",
                child.display(),
                ancestor.display()
            )),
            ignore::Error::WithPath { err, .. }
            | ignore::Error::WithDepth { err, .. }
            | ignore::Error::WithLineNumber { err, .. } => find_loop(err),
            _ => None,
        }
    }
    fn path_of(err: &ignore::Error) -> Option<&Path> {
        match err {
            ignore::Error::WithPath { path, .. } => Some(path),
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                path_of(err)
            }
            _ => None,
        }
    }
    find_loop(err).or_else(|| {
        let missing = err
            .io_error()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound);
        let path = path_of(err)?;
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        (missing && is_link).then(|| format!("{} (a broken link)", path.display()))
    })
}

/// Loads every text file under `dir` as a `dict` from relative path to text, sorted by path.
pub(crate) fn load_dir(dir: &Path, options: &DirOptions) -> Result<Loaded, ContextError> {
    let meta = std::fs::metadata(dir).map_err(|e| ContextError::Walk {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(ContextError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let include = glob_set(&options.include)?;
    let exclude = glob_set(&options.exclude)?;
    let mut walk = ignore::WalkBuilder::new(dir);
    walk.standard_filters(options.ignore)
        .require_git(false)
        .follow_links(true);
    let root = dir.to_path_buf();
    let excluded = exclude.clone();
    walk.filter_entry(move |entry| {
        entry.depth() == 0 || !excluded.is_match(relative_key(&root, entry.path()))
    });
    let mut collector = Collector::default();
    for entry in walk.build() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => match unfollowed_link(&err) {
                Some(note) => {
                    collector.report.skipped_links.push(note);
                    continue;
                }
                None if err.is_partial() => continue,
                None => {
                    return Err(ContextError::Walk {
                        path: dir.to_path_buf(),
                        message: err.to_string(),
                    });
                }
            },
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let key = relative_key(dir, entry.path());
        if !options.include.is_empty() && !include.is_match(&key) {
            continue;
        }
        collector.add(key, entry.path())?;
    }
    if collector.documents.is_empty() {
        return Err(ContextError::NoDocuments {
            dir: dir.to_path_buf(),
            skipped_binary: collector.report.skipped_binary.len(),
        });
    }
    Ok(collector.into_dict())
}

/// Loads a JSON file as the value it holds (objects become dicts, arrays lists).
pub(crate) fn load_json(path: &Path) -> Result<Loaded, ContextError> {
    let bytes = std::fs::read(path).map_err(|source| ContextError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| ContextError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    drop(bytes);
    Ok(Loaded {
        context: Context(ReplValue::from_json(value)),
        report: LoadReport {
            documents: 1,
            ..LoadReport::default()
        },
    })
}
