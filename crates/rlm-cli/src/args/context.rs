//! The context input flags, shared by every command that takes a context (`rlm run`, and
//! `rlm chat`): `--context-file F` (repeatable; `-` is standard input), `--context-dir DIR` with
//! `--include`/`--exclude` globs and `--no-ignore`, and `--context-json F`.
//! [`ContextArgs::load`] turns them into the library's [`rlm::Context`].

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use rlm::{Context, ContextError, DirOptions, LoadReport, Loaded};

/// Where the context comes from. Exactly one kind of source: files, one directory, or JSON.
#[derive(Debug, Clone, Default, Args)]
pub struct ContextArgs {
    /// A context file (`-` reads standard input); repeat for several files. One file is the
    /// string `context`; several are a dict from path to text.
    #[arg(long, short = 'c', value_name = "FILE",
          conflicts_with_all = ["context_dir", "context_json"])]
    pub context_file: Vec<PathBuf>,
    /// A directory: every text file under it becomes `context[relative/path]`. `.gitignore`,
    /// `.ignore` and hidden files are respected; binary files are skipped.
    #[arg(long, value_name = "DIR", conflicts_with = "context_json")]
    pub context_dir: Option<PathBuf>,
    /// With --context-dir: only files whose relative path matches (repeatable; `*.rs` matches
    /// at any depth, `src/**` from the top).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// With --context-dir: leave out matching files and directories (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// With --context-dir: read ignored and hidden files too.
    #[arg(long)]
    pub no_ignore: bool,
    /// A JSON file whose value is the context (objects become dicts, arrays lists).
    #[arg(long, value_name = "FILE")]
    pub context_json: Option<PathBuf>,
}

/// Why the context could not be loaded; [`LoadError::exit_code`] is the CLI's code.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No context flag was given.
    #[error(
        "no context: give --context-file FILE (or - for standard input), --context-dir DIR or --context-json FILE"
    )]
    Missing,
    /// `--include`, `--exclude` or `--no-ignore` without `--context-dir`.
    #[error("--include, --exclude and --no-ignore apply to --context-dir only")]
    FilterWithoutDir,
    /// Standard input was mixed with files.
    #[error("--context-file - (standard input) cannot be combined with other context files")]
    StdinWithFiles,
    /// Standard input could not be read.
    #[error("cannot read the context from standard input: {0}")]
    Stdin(#[source] std::io::Error),
    /// The library could not load it.
    #[error("{}", describe(.0))]
    Context(#[from] ContextError),
}

impl LoadError {
    /// 2 for a bad command line (a missing source, a bad glob), 3 for unreadable input.
    pub fn exit_code(&self) -> u8 {
        match self {
            LoadError::Missing
            | LoadError::FilterWithoutDir
            | LoadError::StdinWithFiles
            | LoadError::Context(ContextError::Glob { .. }) => 2,
            _ => 3,
        }
    }
}

/// The library's message, with a hint for the usual mistakes.
fn describe(error: &ContextError) -> String {
    let hint = match error {
        ContextError::Read { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => " (check the path given to --context-file)",
            std::io::ErrorKind::PermissionDenied => " (check the file's permissions)",
            _ => "",
        },
        ContextError::NoDocuments { .. } => " (--no-ignore reads ignored and hidden files too)",
        _ => "",
    };
    format!("{error}{hint}")
}

/// A loaded context and the warnings to print.
#[derive(Debug)]
pub struct LoadedContext {
    /// The context.
    pub context: Context,
    /// One line per warning, each starting `[rlm] warning:` (printed even with `--quiet`).
    pub warnings: Vec<String>,
    /// What was loaded and skipped, for a directory or several files (progress: not printed
    /// with `--quiet`).
    pub summary: Option<String>,
}

impl ContextArgs {
    /// Whether any context flag was given.
    pub fn is_given(&self) -> bool {
        !self.context_file.is_empty() || self.context_dir.is_some() || self.context_json.is_some()
    }

    /// Reads the context the flags name.
    ///
    /// # Errors
    /// [`LoadError`]; its message names the path and says what to do.
    pub fn load(&self) -> Result<LoadedContext, LoadError> {
        if !self.is_given() {
            return Err(LoadError::Missing);
        }
        // clap's `requires` is not enforced inside a flattened group: checked here.
        if self.context_dir.is_none()
            && (!self.include.is_empty() || !self.exclude.is_empty() || self.no_ignore)
        {
            return Err(LoadError::FilterWithoutDir);
        }
        let loaded = if let Some(dir) = &self.context_dir {
            let options = DirOptions {
                include: self.include.clone(),
                exclude: self.exclude.clone(),
                ignore: !self.no_ignore,
            };
            Context::load_dir(dir, &options)?
        } else if let Some(json) = &self.context_json {
            Loaded {
                context: Context::from_json_file(json)?,
                report: LoadReport::default(),
            }
        } else if self.context_file.iter().any(|f| f == Path::new("-")) {
            if self.context_file.len() > 1 {
                return Err(LoadError::StdinWithFiles);
            }
            read_stdin()?
        } else {
            Context::load_files(&self.context_file)?
        };
        let warnings = warnings(&loaded.report);
        let summary = (self.context_dir.is_some() || self.context_file.len() > 1)
            .then(|| summary(&loaded.report));
        Ok(LoadedContext {
            context: loaded.context,
            warnings,
            summary,
        })
    }
}

/// Standard input, as one string.
fn read_stdin() -> Result<Loaded, LoadError> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(LoadError::Stdin)?;
    let mut report = LoadReport {
        documents: 1,
        bytes: buf.len() as u64,
        ..LoadReport::default()
    };
    let text = match String::from_utf8(buf) {
        Ok(text) => text,
        Err(e) => {
            report.lossy.push("-".into());
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    };
    Ok(Loaded {
        context: Context::from(text),
        report,
    })
}

/// The lines to print about a load: lossy files and unfollowed links.
fn warnings(report: &LoadReport) -> Vec<String> {
    let lossy = report.lossy.iter().map(|key| {
        format!("[rlm] warning: {key} is not valid UTF-8; invalid bytes were replaced with U+FFFD")
    });
    let links = report
        .skipped_links
        .iter()
        .map(|link| format!("[rlm] warning: not followed: {link}"));
    lossy.chain(links).collect()
}

/// `[rlm] loaded N documents (B bytes); skipped K binary files: a, b, c and 2 more`.
fn summary(report: &LoadReport) -> String {
    let mut line = format!(
        "[rlm] loaded {} documents ({} bytes)",
        report.documents, report.bytes
    );
    let n = report.skipped_binary.len();
    if n > 0 {
        let shown: Vec<&str> = report
            .skipped_binary
            .iter()
            .take(5)
            .map(String::as_str)
            .collect();
        line.push_str(&format!(
            "; skipped {n} binary file{}: {}",
            if n == 1 { "" } else { "s" },
            shown.join(", ")
        ));
        if n > 5 {
            line.push_str(&format!(" and {} more", n - 5));
        }
    }
    line
}
