//! `rlm-repl-monty`: the embedded REPL backend of the recursive-lm runtime, on pydantic's
//! [Monty](https://github.com/pydantic/monty) 1.4, a sandboxed Python interpreter written in
//! Rust (it needs rustc 1.96 or newer).
//!
//! Layer: a REPL backend. It implements [`rlm_core::Repl`] and [`rlm_core::ReplFactory`] and
//! depends only on `rlm-core` (plus `monty`, `tokio`'s blocking pool and `tracing`); it never
//! depends on a provider or on the runner.
//!
//! ```
//! use std::sync::Arc;
//! use rlm_core::{FinalAnswer, HostCall, HostReply, Repl, ReplConfig, ReplHost, ReplValue};
//! use rlm_repl_monty::MontyRepl;
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
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! runtime.block_on(async {
//!     let mut repl = MontyRepl::new(ReplConfig::default())?;
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
//! - **Session.** One `monty::MontyRepl` per [`MontyRepl`]: variables, functions and classes
//!   persist across executions, and a failing block keeps what it did before the error. Every
//!   feed and resume runs on `tokio::task::spawn_blocking`; only host calls are awaited.
//! - **Context.** [`rlm_core::Repl::set_variable`] moves the value into the interpreter (a
//!   `String` is handed over, not copied), and later executions do not copy it either.
//! - **Output.** `print()` is captured per execution up to `ReplConfig::max_output_bytes`; the
//!   head is kept, the rest dropped and `Execution::output_truncated` set. Code keeps running.
//! - **Errors.** Syntax and runtime errors come back as CPython-style tracebacks in
//!   `Execution::error`; the session survives them.
//! - **Sub-calls.** `llm_query(prompt, model=None)`, `llm_query_batched(prompts, model=None)`,
//!   `rlm_query`, `rlm_query_batched` suspend the interpreter; the [`rlm_core::ReplHost`] answers
//!   and the code resumes with the reply. Bad arguments raise `TypeError` in the code. At most
//!   `ReplConfig::max_host_calls` sub-calls per execution; past that each call raises
//!   `RuntimeError` (Monty only stores its own `max_suspensions`, the host enforces the cap).
//! - **Finishing.** `FINAL(value)` and `FINAL_VAR(name)` stop the block at the call (an
//!   uncatchable exception unwinds it without running `except` or `finally` blocks; no error is
//!   reported) and set
//!   `Execution::final_answer`. `FINAL_VAR` of a name that does not exist does not finish: it
//!   returns, and prints, `Error: Variable 'x' not found. Available variables: [...] ...`.
//!   A non-string argument is used as the value. Setting `answer["ready"]` truthy finishes after
//!   the block with `str(answer["content"])`; `answer` is then reset to
//!   `{"content": "", "ready": False}`, as it is whenever code rebinds it to a non-dict.
//! - **Variables.** Between blocks, [`rlm_core::Repl::variables`] reads the bound globals and
//!   their type names straight from the interpreter's heap (`global_type_names`, a vendored
//!   Monty patch): no code runs. Inside a block the interpreter is busy, and Monty has no
//!   `globals()`/`dir()`, so the session keeps every identifier seen in fed code (a superset of
//!   the globals) and generates a Python probe, `__rlm_vars()`, that reports which are bound and
//!   their types. `SHOW_VARS()` and `FINAL_VAR` call it from
//!   Python, so they see the live state in the middle of a block (the probe is regenerated before
//!   a block that mentions either of them, so it knows the names that block introduces; a call
//!   from a function defined earlier sees the names known when the probe was last made).
//!   Listings hide names starting with `_`, modules and the runtime's functions; `answer` and
//!   `context` are listed. A user variable that shadows a builtin (`sum = 0`) is listed once it
//!   no longer holds a builtin function or type.
//! - **Scaffold protection.** The runtime's names (`llm_query`, ..., `FINAL`, `FINAL_VAR`,
//!   `SHOW_VARS` and the private `__rlm_*` helpers) are restored after any block that mentions one
//!   other than as a plain call: `FINAL = 1` or `def llm_query(p): ...` takes effect for the rest
//!   of that block only. [`rlm_core::Repl::set_variable`] refuses them and `answer`
//!   ([`rlm_core::names`] holds the names and the rules).
//! - **Sandbox.** Every OS call (`open`, `os.getenv`, `pathlib` I/O, the clock: `datetime.now()`,
//!   `date.today()`, `time.time()`) raises `PermissionError: operating-system access is disabled
//!   in the sandbox`. `import` of a module Monty does not have raises `ModuleNotFoundError`.
//!   `time.sleep` returns at once (Monty does not count sleeps against the time limit, so a real
//!   sleep could hold a blocking thread past it); `random` seeds itself from OS entropy.
//! - **Time.** Each execution gets `ReplConfig::execution_timeout` of interpreter time (Monty's
//!   per-feed `max_feed_duration`; time waiting on host calls is not counted); past it an
//!   uncatchable `TimeoutError: time limit exceeded` stops the block and the next execution
//!   starts with a fresh budget. One long native operation (a `split()` of 100 MB) can overshoot
//!   the limit.
//! - **Memory.** Each session is capped at `ReplConfig::max_memory` (2 GiB by default): past
//!   it the code gets an uncatchable `MemoryError` (the block stops, like the time limit), what
//!   the block bound before stays bound, and the session works again once the code drops the
//!   data (`chunks = None`). The context set with [`rlm_core::Repl::set_variable`] does not count.
//!   The cap is per session, so one session's bomb leaves the others alone. It needs the binary
//!   to install [`memory::SessionAllocator`] as its `#[global_allocator]` (the `rlm` CLI does);
//!   without it only single allocations larger than the cap are refused (`'a' * 10**12`) and
//!   gradual growth is bounded by nothing but the time limit. See [`memory`].
//! - **Cancellation.** If the future of `execute` is dropped while a host call is pending, the
//!   block is abandoned (what it bound so far is kept) and the session stays usable. If it is
//!   dropped while the interpreter is running, the session comes back when that step ends;
//!   calls made meanwhile return [`rlm_core::ReplError::Backend`]. Either way the next operation
//!   first restores the scaffold and drops an `answer` the abandoned block made ready.
//! - **How long a cancelled block runs on.** Monty cannot be interrupted from another thread
//!   (neither 0.0.23 nor 1.x has a hook for it: its time checks read only its own clock). A
//!   step that is computing when its future is dropped keeps its blocking-pool thread until it
//!   ends by itself or its time limit stops it: at most `ReplConfig::execution_timeout` of
//!   interpreter time since the block began (the runner caps that limit by the run's time
//!   left), plus the overshoot of one long native operation. A block waiting on a host call
//!   stops at once. Dropping a tokio runtime waits for such a thread; a process that is about
//!   to exit should use `Runtime::shutdown_background` instead.
//!   Dropping the [`MontyRepl`] itself (a server whose client left mid-step) does stop such a
//!   block early: the session's memory meter is marked cancelled, so the block's next
//!   interpreter checkpoint fails (an uncatchable `MemoryError` nobody sees) and its thread is
//!   free again; one long native operation still runs to its end.
//!
//! # What Monty 1.4 lacks
//! `tests/repl/language.rs` runs one snippet per construct; it and [`CAPABILITIES`] hold the
//! full list. Code hitting a gap gets an ordinary Python error (`NotImplementedError`,
//! `NameError`, `TypeError`, `AttributeError`, `ModuleNotFoundError`) and can be rewritten:
//! - class inheritance, even `class E(Exception)`; method decorators (`@property`,
//!   `@staticmethod`, `@classmethod`); `yield` and generators (generator expressions are eager
//!   lists, so `next(x for x in ...)` fails); `del`;
//! - builtins `globals dir vars callable`; user-class `__len__` and `__lt__` are not dispatched;
//! - `re.sub` with a callable replacement, `collections.OrderedDict`, `asyncio.create_task`;
//! - modules `textwrap statistics string heapq io`;
//! - speed: `len(s)` and `s[a:b]` are O(1) plus the copy on ASCII text (Monty caches whether a
//!   string is ASCII), but `str.find`/`str.index` count the characters of the whole string even
//!   with a start offset, and on text holding any non-ASCII character `len()` and slicing walk
//!   the string too;
//! - no way to interrupt native work from another thread.
//!
//! [`MontyReplFactory::capabilities`](rlm_core::ReplFactory::capabilities) returns
//! [`CAPABILITIES`], a short version of this for the model's system prompt.

mod convert;
mod hostcall;
pub mod memory;
mod names;
mod output;
mod park;
mod repl;
mod run;
mod scaffold;
mod template;

pub use repl::{MontyRepl, MontyReplFactory};

/// The backend's short name, as reported by [`rlm_core::Repl::backend_name`].
pub const BACKEND_NAME: &str = "monty";

/// What the sandbox's Python supports, for the model's system prompt. Written from the table in
/// `tests/repl/language.rs`, which runs one snippet per construct and checks every phrase here.
pub const CAPABILITIES: &str = "The REPL runs Monty, a sandboxed subset of Python 3. It has functions, closures, \
lambdas, classes without base classes (user classes may define __add__, __getitem__, __eq__, __repr__, __iter__ \
and __enter__/__exit__), @dataclass (with field()), comprehensions, f-strings, str.format and % string formatting, \
match, slice assignment, try/except/finally, with, async/await with asyncio.gather, eval(), exec(), format(), \
locals(), and the usual str/list/dict/set methods. Modules: re, json, math, collections (Counter, defaultdict, \
deque, namedtuple), itertools (with product, combinations, permutations, groupby), functools (reduce, partial, \
lru_cache), random, hashlib, time (time.sleep returns at once), decimal, csv, copy, bisect, datetime, typing, \
base64, unicodedata, sys. It does NOT have: class inheritance (not even class E(Exception)), \
@property/@staticmethod/@classmethod, yield or generators (generator expressions are eager lists, so \
next(x for x in ...) fails), del, globals()/dir()/vars()/callable(), user-class __len__ and __lt__ (len() and \
sorting of instances fail), re.sub with a function as replacement, collections.OrderedDict, \
asyncio.create_task, the modules textwrap, statistics, string, heapq and io, or any file, network, environment \
or clock access (datetime.now(), time.time() and open() raise PermissionError). len() and slicing of ASCII text \
are fast at any size, but str.find()/index() read the whole string even with a start offset, and on text with \
any non-ASCII character len() and slicing read it too: to find a line break near position p of a huge string, \
search a slice (p + context[p:p + 100000].find('\\n')), and split a huge non-ASCII context once and reuse the \
pieces. For many sub-calls at once use llm_query_batched or rlm_query_batched.";
