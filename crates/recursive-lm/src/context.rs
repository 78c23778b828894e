//! What a completion runs over: text, documents read from files and folders, or JSON data.

use std::path::Path;

use rlm_core::ReplValue;

use crate::documents::{self, ContextError, DirOptions, Loaded};

/// The context of a completion: text (the usual case), a list of documents, or JSON data.
/// It is loaded into the REPL as the variable `context`; the model never sees it whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Context(pub(crate) ReplValue);

impl Context {
    /// The value as the REPL will hold it.
    pub fn value(&self) -> &ReplValue {
        &self.0
    }

    /// Consumes the context.
    pub fn into_value(self) -> ReplValue {
        self.0
    }

    /// Reads files: one file is a `str`; several are a `dict` from each path as given
    /// (`/`-separated, without a leading `./`) to its text, sorted by path, with binary files
    /// skipped. Invalid UTF-8 is replaced with U+FFFD; [`Context::load_files`] says where.
    ///
    /// ```no_run
    /// let context = rlm::Context::from_files(["notes/a.md", "notes/b.md"])?;
    /// assert_eq!(context.value().type_name(), "dict");
    /// # Ok::<(), rlm::ContextError>(())
    /// ```
    ///
    /// # Errors
    /// [`ContextError::Read`] naming the file that cannot be read; [`ContextError::NoFiles`].
    pub fn from_files<P: AsRef<Path>>(
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Self, ContextError> {
        Ok(Self::load_files(paths)?.context)
    }

    /// [`Context::from_files`] with the report of skipped and lossily decoded files.
    ///
    /// # Errors
    /// As [`Context::from_files`].
    pub fn load_files<P: AsRef<Path>>(
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Loaded, ContextError> {
        documents::load_files(paths)
    }

    /// Reads every text file under `dir` into a `dict` from relative, `/`-separated path to
    /// text, sorted by path. `.gitignore` and hidden-file rules apply unless
    /// [`DirOptions::ignore`] is off; binary files are skipped; symbolic links are followed,
    /// never in a loop.
    ///
    /// ```no_run
    /// use rlm::{Context, DirOptions};
    /// let options = DirOptions { include: vec!["*.rs".into()], ..DirOptions::default() };
    /// let loaded = Context::load_dir("src", &options)?;
    /// println!("{} files, {} binary skipped", loaded.report.documents, loaded.report.skipped_binary.len());
    /// # Ok::<(), rlm::ContextError>(())
    /// ```
    ///
    /// # Errors
    /// [`ContextError::NotADirectory`], [`ContextError::Walk`], [`ContextError::Read`] naming
    /// the path, [`ContextError::Glob`] for a bad glob, [`ContextError::NoDocuments`] when no
    /// text file is left.
    pub fn from_dir(dir: impl AsRef<Path>, options: &DirOptions) -> Result<Self, ContextError> {
        Ok(Self::load_dir(dir, options)?.context)
    }

    /// [`Context::from_dir`] with the report of skipped and lossily decoded files.
    ///
    /// # Errors
    /// As [`Context::from_dir`].
    pub fn load_dir(dir: impl AsRef<Path>, options: &DirOptions) -> Result<Loaded, ContextError> {
        documents::load_dir(dir.as_ref(), options)
    }

    /// Reads a JSON file as the value it holds (objects become dicts, arrays lists).
    ///
    /// # Errors
    /// [`ContextError::Read`] or [`ContextError::Json`], naming the file.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self, ContextError> {
        Ok(documents::load_json(path.as_ref())?.context)
    }

    /// Parses JSON text as the context.
    ///
    /// # Errors
    /// [`ContextError::Json`] (its path is `-`).
    pub fn from_json(text: &str) -> Result<Self, ContextError> {
        serde_json::from_str::<serde_json::Value>(text)
            .map(Self::from)
            .map_err(|e| ContextError::Json {
                path: "-".into(),
                message: e.to_string(),
            })
    }
}

impl From<String> for Context {
    fn from(s: String) -> Self {
        Context(ReplValue::Str(s))
    }
}

impl From<&str> for Context {
    fn from(s: &str) -> Self {
        Context(ReplValue::Str(s.to_string()))
    }
}

impl From<Vec<String>> for Context {
    fn from(items: Vec<String>) -> Self {
        Context(ReplValue::List(
            items.into_iter().map(ReplValue::Str).collect(),
        ))
    }
}

impl From<serde_json::Value> for Context {
    fn from(v: serde_json::Value) -> Self {
        Context(ReplValue::from_json(v))
    }
}

impl From<ReplValue> for Context {
    fn from(v: ReplValue) -> Self {
        Context(v)
    }
}
