//! Settings of the CPython backend beyond [`rlm_core::ReplConfig`], and the report of which
//! isolation measures a running session actually got.

use std::path::PathBuf;
use std::time::Duration;

/// The uid and gid the interpreter runs as when the host runs as root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxUser {
    /// The user id (65534, `nobody`, by default).
    pub uid: u32,
    /// The group id (65534, `nogroup`, by default).
    pub gid: u32,
}

impl SandboxUser {
    /// `nobody:nogroup` (65534:65534).
    pub const NOBODY: SandboxUser = SandboxUser {
        uid: 65534,
        gid: 65534,
    };
}

/// How the interpreter is started and confined. [`PythonOptions::default`] is the hardened
/// setting; tests and benchmarks lower the limits.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonOptions {
    /// The interpreter: a path, or a name looked up on `PATH`. `None` looks up `python3`, follows
    /// shims (pyenv) to the real executable, and, when the sandbox drops to another uid, falls back
    /// to `/usr/bin/python3` or `/usr/local/bin/python3` if that executable is not reachable by it.
    pub python: Option<PathBuf>,
    /// Address space the interpreter may use for itself (`RLIMIT_AS`), in bytes. Injected values
    /// (the context) come on top: each adds five times its file size (the mapped file while it
    /// loads, plus the string, which CPython may store at up to four bytes per character).
    /// Address space is not resident memory: each thread the code starts reserves its stack and
    /// glibc may reserve a 64 MiB heap arena for it, so keep this well above 512 MiB for
    /// threaded code.
    pub memory_limit: Option<u64>,
    /// CPU time of one interpreter process (`RLIMIT_CPU`; the kernel kills it past the limit).
    /// A backstop behind the wall-clock `ReplConfig::execution_timeout`; it counts every block
    /// the process ran, and a fresh process starts with a fresh budget.
    pub cpu_time_limit: Option<Duration>,
    /// Open file descriptors (`RLIMIT_NOFILE`).
    pub max_open_files: u64,
    /// Largest file the code may write (`RLIMIT_FSIZE`), in bytes; past it writes fail with
    /// `OSError: [Errno 27] File too large`.
    pub max_file_size: u64,
    /// Processes of the sandbox uid (`RLIMIT_NPROC`), applied only when the sandbox drops to
    /// [`PythonOptions::sandbox_user`] (the limit counts every process of that uid on the machine,
    /// and root ignores it).
    pub max_processes: u64,
    /// The uid/gid to drop to when the host runs as root; `None` keeps root (not recommended).
    pub sandbox_user: Option<SandboxUser>,
    /// Put the interpreter in new network and PID namespaces where the kernel allows it
    /// (as root, or through a user namespace otherwise). Detected per process start; when refused,
    /// a warning is logged once and the session runs without them.
    pub namespaces: bool,
    /// Cap on one message of the driver channel, either direction, in bytes. Sub-call prompts,
    /// replies, code blocks, values read back and final answers must each fit.
    pub max_frame_bytes: usize,
    /// Where session directories are created (default: the system temporary directory).
    pub temp_dir: Option<PathBuf>,
    /// Let the interpreter import site-packages (`python3 -I` instead of `-I -S`), for code that
    /// needs third-party packages installed for every user.
    pub site_packages: bool,
}

impl Default for PythonOptions {
    fn default() -> Self {
        Self {
            python: None,
            memory_limit: Some(2 << 30),
            cpu_time_limit: Some(Duration::from_secs(3600)),
            max_open_files: 64,
            max_file_size: 64 << 20,
            max_processes: 256,
            sandbox_user: Some(SandboxUser::NOBODY),
            namespaces: true,
            max_frame_bytes: 256 << 20,
            temp_dir: None,
            site_packages: false,
        }
    }
}

/// Which isolation measures the current interpreter process actually has.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Isolation {
    /// The process id of the interpreter running the code, as the host sees it (inside its PID
    /// namespace it is 1).
    pub pid: u32,
    /// The process group and session the host kills as a whole; its leader is the process the
    /// host spawned (the interpreter itself, or its parent when there is a PID namespace).
    pub process_group: u32,
    /// The uid the code runs as (inside its user namespace, if any).
    pub uid: u32,
    /// The gid the code runs as.
    pub gid: u32,
    /// The process dropped from root to [`PythonOptions::sandbox_user`].
    pub dropped_privileges: bool,
    /// It runs in a network namespace of its own (only a down loopback: no network at all).
    pub network_namespace: bool,
    /// It runs as init (pid 1) of a PID namespace of its own, so every process the code starts
    /// (even one detached with `setsid`) dies with it.
    pub pid_namespace: bool,
    /// It runs in a user namespace of its own (the unprivileged way to get the namespaces above).
    pub user_namespace: bool,
    /// The interpreter's version (`3.11.2`).
    pub python_version: String,
    /// The interpreter executable.
    pub python: PathBuf,
}
