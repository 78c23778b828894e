//! One execution, driven from suspension to suspension on the blocking side.
//!
//! [`Run::start`] and [`Run::resume`] run the interpreter synchronously (the caller puts them on
//! `spawn_blocking`) and handle every suspension that needs only the interpreter's own state:
//! name lookups, OS calls, the finish hooks and bad sub-call arguments. They return to the async
//! side only for a sub-call the [`rlm_core::ReplHost`] must answer, or when the block is done.

use monty::{MontyRepl as Interpreter, ReplFunctionCall, ReplProgress, ReplStartError};
use monty_types::{
    ExcType, ExtFunctionResult, MontyException, MontyObject, NameLookupResult, OsFunctionCall,
    PrintWriter,
};
use rlm_core::{FinalAnswer, HostCall, ReplConfig};

use crate::hostcall::{self, Parsed};
use crate::output::Output;
use crate::scaffold::{self, HOOK_FINAL, HOOK_FINAL_VAR, HOOK_SHOW_VARS};

/// The message of the `PermissionError` every OS call gets.
pub(crate) const OS_DENIED: &str = "operating-system access is disabled in the sandbox";

type Progress = Result<ReplProgress, Box<ReplStartError>>;

/// Where an execution stands after a blocking step.
// Like Monty's own `ReplProgress`, moved a few times per step: no boxing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Next {
    /// Suspended at a sub-call the host must answer.
    Host {
        /// The suspended call, to resume with the reply.
        call: ReplFunctionCall,
        /// What to ask the host.
        request: HostCall,
    },
    /// The block has finished (normally, with an error, or stopped by a finish function).
    Done {
        /// The interpreter, idle again.
        interp: Interpreter,
        /// The traceback when the code raised.
        error: Option<String>,
    },
}

#[allow(clippy::large_enum_variant)]
enum Flow {
    Continue(Progress),
    Yield(Next),
}

/// The state of one execution that lives alongside the interpreter.
#[derive(Debug)]
pub(crate) struct Run {
    /// Printed output.
    pub(crate) out: Output,
    /// Sub-calls made so far.
    pub(crate) host_calls: u32,
    /// The finish, once `FINAL`/`FINAL_VAR` (or the `answer` dict) produced one.
    pub(crate) finish: Option<FinalAnswer>,
    /// The traceback, once the block has ended with an error.
    pub(crate) error: Option<String>,
    /// The variables after the block, when the session lists them eagerly.
    pub(crate) listing: Option<Vec<rlm_core::VariableInfo>>,
    max_host_calls: u32,
    /// The custom tools the session defines.
    tools: std::sync::Arc<[String]>,
}

impl Run {
    pub(crate) fn new(config: &ReplConfig, tools: std::sync::Arc<[String]>) -> Self {
        Self {
            out: Output::new(config.max_output_bytes),
            host_calls: 0,
            finish: None,
            error: None,
            listing: None,
            max_host_calls: config.max_host_calls,
            tools,
        }
    }

    fn is_tool(&self, name: &str) -> bool {
        self.tools.iter().any(|t| t == name)
    }

    /// Starts `code`; Monty gives every feed a fresh time budget (`max_feed_duration`).
    pub(crate) fn start(&mut self, interp: Interpreter, code: &str) -> Next {
        let progress = interp.feed_start(code, Vec::new(), PrintWriter::Callback(&mut self.out));
        self.advance(progress)
    }

    /// Resumes a suspended sub-call with the host's answer.
    pub(crate) fn resume(&mut self, call: ReplFunctionCall, result: ExtFunctionResult) -> Next {
        let progress = call.resume(result, PrintWriter::Callback(&mut self.out));
        self.advance(progress)
    }

    /// Stops a suspended call's block with an uncatchable exception (a tool past the time
    /// limit).
    pub(crate) fn abort(&mut self, call: ReplFunctionCall, error: MontyException) -> Next {
        let progress = call.abort(error, PrintWriter::Callback(&mut self.out));
        self.advance(progress)
    }

    fn advance(&mut self, mut progress: Progress) -> Next {
        loop {
            progress = match progress {
                Ok(ReplProgress::Complete { repl, .. }) => {
                    return Next::Done {
                        interp: repl,
                        error: None,
                    };
                }
                Err(failed) => {
                    let ReplStartError { repl, error } = *failed;
                    // A finish stops the block with an uncatchable exception: not an error.
                    let error = self.finish.is_none().then(|| traceback(&error));
                    return Next::Done {
                        interp: repl,
                        error,
                    };
                }
                Ok(ReplProgress::NameLookup(lookup)) => {
                    // A bare reference (`f = llm_query`) to a function the runtime answers.
                    let result = if hostcall::is_sub_call(&lookup.name)
                        || scaffold::is_hook(&lookup.name)
                        || self.is_tool(&lookup.name)
                    {
                        NameLookupResult::Value(MontyObject::function(lookup.name.clone(), None))
                    } else {
                        NameLookupResult::Undefined
                    };
                    lookup.resume(result, PrintWriter::Callback(&mut self.out))
                }
                Ok(ReplProgress::OsCall(os)) => {
                    let result = match &os.function_call {
                        // A module Monty does not have: `ModuleNotFoundError`, as in CPython.
                        OsFunctionCall::Import(module) => {
                            ExtFunctionResult::NotFound(module.clone())
                        }
                        _ => ExtFunctionResult::Error(MontyException::new(
                            ExcType::PermissionError,
                            Some(OS_DENIED.to_string()),
                        )),
                    };
                    os.resume(result, PrintWriter::Callback(&mut self.out))
                }
                Ok(ReplProgress::ResolveFutures(pending)) => {
                    // Never happens: no call is ever answered with a future. Fail loudly if it does.
                    let message =
                        "async host calls are not supported; use llm_query_batched for concurrency";
                    let exc = MontyException::new(ExcType::RuntimeError, Some(message.to_string()));
                    pending.abort(exc, PrintWriter::Callback(&mut self.out))
                }
                Ok(ReplProgress::FunctionCall(call)) => match self.function_call(call) {
                    Flow::Continue(next) => next,
                    Flow::Yield(next) => return next,
                },
            };
        }
    }

    fn function_call(&mut self, call: ReplFunctionCall) -> Flow {
        let name = call.function_name.clone();
        let args: Vec<_> = call.args.args().collect();
        let result = match name.as_str() {
            sub if hostcall::is_sub_call(sub) || self.is_tool(sub) => {
                let parsed = if hostcall::is_sub_call(sub) {
                    hostcall::parse(sub, &call.args)
                } else {
                    hostcall::parse_tool(sub, &call.args).map(Parsed::Call)
                };
                match parsed {
                    Err(exc) => ExtFunctionResult::Error(exc),
                    Ok(Parsed::Immediate(value)) => ExtFunctionResult::Return(value),
                    Ok(Parsed::Call(_)) if self.host_calls >= self.max_host_calls => {
                        let message = format!(
                            "host-call limit reached: an execution may make at most {} llm_query/rlm_query calls",
                            self.max_host_calls
                        );
                        ExtFunctionResult::Error(MontyException::new(
                            ExcType::RuntimeError,
                            Some(message),
                        ))
                    }
                    Ok(Parsed::Call(request)) => {
                        self.host_calls += 1;
                        return Flow::Yield(Next::Host { call, request });
                    }
                }
            }
            HOOK_FINAL => match args.as_slice() {
                [answer] => match answer.as_str() {
                    Some(answer) => {
                        let answer = answer.to_owned();
                        return self.stop(call, FinalAnswer::Final { answer });
                    }
                    None => bad_hook_call(&name),
                },
                _ => bad_hook_call(&name),
            },
            HOOK_FINAL_VAR => match args.as_slice() {
                [var, answer, _] if answer.as_str().is_some() => {
                    let name = var.as_str().map(str::to_owned);
                    let answer = answer.as_str().unwrap_or_default().to_owned();
                    return self.stop(call, FinalAnswer::FinalVar { name, answer });
                }
                [var, answer, probed] if answer.type_name() == "NoneType" => match var.as_str() {
                    Some(var) => {
                        let text =
                            scaffold::missing_var_text(var, &scaffold::visible_variables(*probed));
                        self.out.push_line_always(&text);
                        ExtFunctionResult::Return(MontyObject::string(text))
                    }
                    None => bad_hook_call(&name),
                },
                _ => bad_hook_call(&name),
            },
            HOOK_SHOW_VARS => match args.as_slice() {
                [probed] => {
                    let text = scaffold::show_vars_text(&scaffold::visible_variables(*probed));
                    ExtFunctionResult::Return(MontyObject::string(text))
                }
                _ => bad_hook_call(&name),
            },
            _ => ExtFunctionResult::NotFound(name),
        };
        drop(args);
        Flow::Continue(call.resume(result, PrintWriter::Callback(&mut self.out)))
    }

    /// Records the finish and stops the block at the call with an uncatchable exception.
    fn stop(&mut self, call: ReplFunctionCall, finish: FinalAnswer) -> Flow {
        self.finish = Some(finish);
        Flow::Continue(call.abort(
            scaffold::finish_signal(),
            PrintWriter::Callback(&mut self.out),
        ))
    }
}

/// The traceback the model sees. Monty 1.x names its per-feed budget ("feed time limit
/// exceeded"); the model only knows blocks, so the word is dropped.
fn traceback(error: &MontyException) -> String {
    let text = error.to_string();
    if error.exc_type() == ExcType::TimeoutError {
        text.replace("TimeoutError: feed time limit", "TimeoutError: time limit")
    } else {
        text
    }
}

fn bad_hook_call(name: &str) -> ExtFunctionResult {
    let message =
        format!("{name}() is internal to the runtime and was called with unexpected arguments");
    ExtFunctionResult::Error(MontyException::new(ExcType::TypeError, Some(message)))
}
