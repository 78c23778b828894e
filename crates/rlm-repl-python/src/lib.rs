//! `rlm-repl-python`: the CPython REPL backend of the recursive-lm runtime. The code runs in a
//! real `python3` subprocess (the whole language and standard library, fast on huge strings)
//! that the operating system confines, because CPython offers no boundary of its own.
//!
//! Layer: a REPL backend. It implements [`rlm_core::Repl`] and [`rlm_core::ReplFactory`] and
//! depends only on `rlm-core` (plus `tokio`, `serde_json`, `libc` and `tracing`); it never
//! depends on a provider, the runner or the Monty backend. It needs Linux and `python3` (3.8+).
//!
//! ```
//! use std::sync::Arc;
//! use rlm_core::{FinalAnswer, HostCall, HostReply, Repl, ReplConfig, ReplHost, ReplValue};
//! use rlm_repl_python::{PythonOptions, PythonRepl};
//!
//! /// A host whose "LLM" upper-cases its prompt.
//! struct Upper;
//!
//! #[async_trait::async_trait]
//! impl ReplHost for Upper {
//!     async fn call(&self, call: HostCall) -> HostReply {
//!         match call {
//!             HostCall::LlmQuery { prompt, .. } => HostReply::Text(prompt.to_uppercase()),
//!             other => HostReply::Text(format!("Error: {} is not available", other.function_name())),
//!         }
//!     }
//! }
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let mut repl = PythonRepl::start(ReplConfig::default(), PythonOptions::default()).await?;
//!     repl.set_variable("context", ReplValue::Str("the quick brown fox".into())).await?;
//!     let host = Arc::new(Upper);
//!
//!     let out = repl.execute("words = context.split()\nprint(len(words), llm_query(words[1]))", host.clone()).await?;
//!     assert_eq!(out.stdout, "4 QUICK\n");
//!     assert_eq!(out.host_calls, 1);
//!
//!     let done = repl.execute("FINAL(words[-1])\nprint('not reached')", host).await?;
//!     assert_eq!(done.final_answer, Some(FinalAnswer::Final { answer: "fox".into() }));
//!     assert_eq!(done.stdout, "");
//!     Ok::<_, rlm_core::ReplError>(())
//! })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! # How it works
//! - **Process.** Each session is one `python3 -I -S -B` process (isolated mode, no `site`, no
//!   bytecode files) running `driver.py`, a script embedded in this crate with `include_str!`. It
//!   keeps one namespace for the session's code, so variables, functions, classes and imports
//!   persist across executions. The interpreter is `python3` on `PATH` (shims such as pyenv's
//!   are followed to the real executable) or [`PythonOptions::python`]; if it is missing,
//!   `create` fails with [`rlm_core::ReplError::Backend`] saying so.
//! - **Channel.** Requests and replies are frames (a 4-byte big-endian length and a JSON body)
//!   over the child's stdin and stdout, which the driver moves to private descriptors before any
//!   user code runs: code writing to descriptors 1 or 2 (`os.write`, subprocesses) reaches a
//!   bounded stderr buffer the host keeps only for crash reports, never the channel. Every frame
//!   is capped ([`PythonOptions::max_frame_bytes`], both directions, checked on the length
//!   prefix); an oversized or malformed frame kills the process, it never hangs or panics.
//! - **Context.** [`rlm_core::Repl::set_variable`] writes the value once to a backing file in
//!   the session directory; the driver maps the file and decodes it into a `str` (one copy; a
//!   100 MB context loads in 0.15 to 0.5 s on a busy 2-core VM, as fast as `python3` reads the
//!   file itself). The file stays, so a fresh interpreter (after a timeout
//!   or crash) loads the value again without the host holding a copy.
//! - **Output.** `print()` and writes to `sys.stdout`/`sys.stderr` are captured per execution up
//!   to `ReplConfig::max_output_bytes` (the head is kept, the rest dropped, and
//!   `Execution::output_truncated` set; the code keeps running). Neither side ever holds more
//!   than the cap, however much the code prints.
//! - **Errors.** Syntax and runtime errors come back as CPython tracebacks in
//!   `Execution::error`, with the driver's own frames removed and blocks named
//!   `<python-input-N>`; the session survives them.
//! - **Sub-calls.** `llm_query(prompt, model=None)`, `llm_query_batched(prompts, model=None)`,
//!   `rlm_query` and `rlm_query_batched` send a frame and block until the host's
//!   [`rlm_core::ReplHost`] answers. Bad arguments raise `TypeError` in the code. At most
//!   `ReplConfig::max_host_calls` calls per execution; past that each raises `RuntimeError`. The
//!   host enforces this cap and the output cap itself, since code can reach the driver's state.
//! - **Finishing.** `FINAL(value)` and `FINAL_VAR(name)` send the finish to the host *at the
//!   moment of the call*, then raise a private `BaseException` subclass that stops the block.
//!   Unlike Monty's, that exception can be caught: a bare `except:` or `except BaseException:`
//!   around the call runs its handler. The finish still stands (the host already has it), and a
//!   block that keeps running after it gets one more second before its process is killed.
//!   `FINAL_VAR` of a missing name does not finish: it returns, and prints, `Error: Variable 'x'
//!   not found. Available variables: [...] ...`. A non-string argument is used as the value.
//!   Setting `answer["ready"]` truthy finishes after the block with `str(answer["content"])`;
//!   `answer` is then reset to `{"content": "", "ready": False}`, as it is whenever code rebinds
//!   it to a non-dict.
//! - **Scaffold protection.** The runtime's names are restored after any block that rebinds or
//!   deletes them; [`rlm_core::Repl::set_variable`] refuses them and `answer`. The names and the
//!   rules are [`rlm_core::names`]; the driver receives the lists when it starts.
//! - **Time.** Each execution gets `ReplConfig::execution_timeout` of wall-clock time (time
//!   waiting on host calls is not counted, as in Monty). Past it the host asks the driver for the
//!   output printed so far, kills the whole process group, and reports `TimeoutError` saying the
//!   state was lost; the next operation starts a fresh interpreter and loads the injected values
//!   again. A timeout cannot be caught by the code.
//! - **Crashes.** If the interpreter dies (a C-stack overflow such as `repr` of a list nested a
//!   million deep after `sys.setrecursionlimit(10**9)`, a resource limit, `os._exit`), the
//!   execution reports `RuntimeError: the Python process was killed by signal 11 (SIGSEGV) ...`
//!   (or `exited with status N`) with the same note and the end of the process's stderr, and the
//!   next operation starts afresh.
//! - **Cancellation.** Dropping the future of an operation kills the interpreter's process group
//!   at once; the next operation starts a fresh interpreter and the next execution's output
//!   starts with a line saying earlier state was lost. Dropping the [`PythonRepl`] kills the group
//!   and removes the session directory.
//!
//! # Isolation
//! Each measure and what [`PythonRepl::isolation`] reports about it:
//! - **Environment.** The process starts with an empty environment, so API keys of the host
//!   are not in `os.environ` or `/proc/self/environ`. The host's own `/proc/<pid>/environ` is
//!   unreadable when the sandbox runs as another uid (as root, below) or in its own user
//!   namespace. A non-root host without user namespaces cannot hide it: changing its own
//!   `PR_SET_DUMPABLE` is the application's decision, not this library's.
//! - **Process group.** `setsid` makes the spawned process the leader of its own session and
//!   group; timeouts, cancellation and drop kill the group with `SIGKILL`. `PR_SET_PDEATHSIG`
//!   kills it if the host dies (sessions are spawned from one long-lived thread because Linux
//!   ties that signal to the forking thread), and the init of the PID namespace below arms it
//!   too.
//! - **PID namespace** (where allowed). The process the host spawns forks at once: its child
//!   runs the code as init (pid 1) of a new PID namespace, and the parent stays outside as the
//!   group leader, mirroring the child's exit status. Killing init kills every process in the
//!   namespace, including ones the code detached with `setsid`, so nothing outlives the session.
//!   (Forking first is needed because a process that itself entered a new PID namespace could
//!   never start threads.) As init, the interpreter ignores signals it sends to itself without a
//!   handler, and processes the code orphans stay zombies until the session ends.
//! - **Network namespace** (where allowed). A new network namespace has only a loopback that is
//!   down: every connection fails with `ENETUNREACH`, the host's loopback services included.
//! - Both namespaces need root, or an unprivileged user namespace (used automatically when the
//!   host is not root). Whether the kernel allowed them is detected at each start; when refused
//!   the session runs without them and a warning is logged once.
//! - **Unprivileged uid.** When the host runs as root, the process drops to
//!   [`PythonOptions::sandbox_user`] (65534 `nobody` by default) with no supplementary groups and
//!   `PR_SET_NO_NEW_PRIVS`: host files private to root (a 0600 key file) are unreadable. As a
//!   non-root host the process keeps the host's uid (shown as 65534 inside its user namespace),
//!   so it can read whatever that uid can.
//! - **rlimits.** Address space ([`PythonOptions::memory_limit`] plus room for injected values:
//!   `'a' * 10**12` is a `MemoryError`), CPU time, open files, file size, no core dumps, and
//!   processes (`RLIMIT_NPROC`, only after the uid drop: root ignores it, and it counts every
//!   process of the sandbox uid, so sessions sharing `nobody` share the budget).
//! - **Files.** The working directory is a private `work/` directory of the session, removed
//!   with it; injected values are read-only to the code.
//!
//! # Trade-offs against Monty
//! CPython runs any Python (classes with inheritance, generators, `match`, the whole standard
//! library, site-packages with [`PythonOptions::site_packages`]) at CPython speed: slicing a
//! 100 MB context into 1,000 pieces and building 1,000 prompts takes about 25 ms (1.1 to 1.2
//! times plain `python3`) where Monty needs seconds (its `str.index` reads the whole string).
//! It costs a process per session (about 25 ms to start one, against 7 ms for a bare
//! `python3`; the first session of a process also looks the interpreter up), needs `python3`
//! installed, and its isolation is the operating system's: strongest as root on Linux with namespaces, weaker as a plain user.
//! Monty needs nothing installed and refuses all OS access by construction. The numbers come
//! from `cargo run --release -p rlm-repl-python --example slice_bench`.

mod codec;
mod exchange;
mod factory;
mod interpreter;
mod options;
mod process;
mod protocol;
mod repl;
mod spawn;
mod workdir;

pub use factory::PythonReplFactory;
pub use interpreter::{InterpreterError, find_interpreter};
pub use options::{Isolation, PythonOptions, SandboxUser};
pub use repl::PythonRepl;

/// The backend's short name, as reported by [`rlm_core::Repl::backend_name`].
pub const BACKEND_NAME: &str = "python";

/// What the sandbox's Python supports, for the model's system prompt.
pub const CAPABILITIES: &str = "The REPL runs CPython 3 in an isolated process: the whole language and its \
standard library (re, json, math, collections, itertools, functools, textwrap, statistics, heapq, bisect, \
difflib, csv, io, datetime, ...). There are no third-party packages, no network and no environment variables, \
and files can be written only in the current working directory. Each code block has a time limit: past it the process is restarted \
and every variable except `context` is lost, so keep blocks short and store intermediate results in variables. \
Slicing and searching even a very large `context` is fast. For many sub-calls at once use llm_query_batched or \
rlm_query_batched.";
