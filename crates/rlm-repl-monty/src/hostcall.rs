//! Turning a suspended call to a sub-call function or a custom tool into a [`HostCall`], and a
//! tool's error into the exception the code gets.
//!
//! The signatures are `llm_query(prompt, model=None)`, `llm_query_batched(prompts, model=None)`
//! and the same for `rlm_query`/`rlm_query_batched`. Bad arguments come back as a Python
//! `TypeError` with CPython's wording, raised at the call site, so the model sees an ordinary
//! error it can fix.

use std::str::FromStr;

use monty_types::{CallArgs, ExcType, MontyException, MontyObject, ObjectRef};
use rlm_core::{HostCall, ToolArgs, ToolError};

use crate::convert;
pub(crate) use rlm_core::names::is_sub_call;

/// What the interpreter should get back for a sub-call before (or instead of) asking the host.
pub(crate) enum Parsed {
    /// Ask the host.
    Call(HostCall),
    /// Answer at once without a host call (an empty batch).
    Immediate(MontyObject),
}

/// Parses the arguments of the sub-call `name`.
///
/// # Errors
/// A Python `TypeError` describing the bad argument.
pub(crate) fn parse(name: &str, args: &CallArgs) -> Result<Parsed, MontyException> {
    let batched = name.ends_with("_batched");
    let first = if batched { "prompts" } else { "prompt" };
    let (main, model) = bind(name, first, args)?;
    let model = match model {
        None => None,
        Some(m) if m.type_name() == "NoneType" => None,
        Some(m) => match m.as_str() {
            Some(m) => Some(m.to_owned()),
            None => {
                return Err(type_error(format!(
                    "{name}() argument 'model' must be str or None, not {}",
                    m.type_name()
                )));
            }
        },
    };
    if !batched {
        let Some(prompt) = main.as_str() else {
            return Err(type_error(format!(
                "{name}() argument 'prompt' must be str, not {}",
                main.type_name()
            )));
        };
        let prompt = prompt.to_owned();
        return Ok(Parsed::Call(if name == "llm_query" {
            HostCall::LlmQuery { prompt, model }
        } else {
            HostCall::RlmQuery { prompt, model }
        }));
    }
    let items = match main.items() {
        Some(items) if matches!(main.type_name(), "list" | "tuple") => items,
        _ => {
            return Err(type_error(format!(
                "{name}() argument 'prompts' must be a list of str, not {}",
                main.type_name()
            )));
        }
    };
    if items.is_empty() {
        return Ok(Parsed::Immediate(MontyObject::list(Vec::new())));
    }
    let prompts = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item.as_str() {
            Some(p) => Ok(p.to_owned()),
            None => Err(type_error(format!(
                "{name}() argument 'prompts' item {i} must be str, not {}",
                item.type_name()
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parsed::Call(if name == "llm_query_batched" {
        HostCall::LlmQueryBatched { prompts, model }
    } else {
        HostCall::RlmQueryBatched { prompts, model }
    }))
}

/// Converts the arguments of a call to the custom tool `name` to JSON.
///
/// # Errors
/// A Python `TypeError` naming the argument that is not JSON-like.
pub(crate) fn parse_tool(name: &str, args: &CallArgs) -> Result<HostCall, MontyException> {
    let mut out = ToolArgs::default();
    for (i, arg) in args.args().enumerate() {
        let value = convert::from_ref(arg).to_json().map_err(|why| {
            type_error(format!(
                "{name}() argument {} is not JSON-like: {why}",
                i + 1
            ))
        })?;
        out.args.push(value);
    }
    for (key, value) in args.kwargs() {
        let Some(key) = key.as_str() else {
            return Err(type_error(format!("{name}() keywords must be strings")));
        };
        let value = convert::from_ref(value).to_json().map_err(|why| {
            type_error(format!("{name}() argument '{key}' is not JSON-like: {why}"))
        })?;
        if out.kwargs.insert(key.to_owned(), value).is_some() {
            return Err(type_error(format!(
                "{name}() got multiple values for argument '{key}'"
            )));
        }
    }
    Ok(HostCall::Tool {
        name: name.to_owned(),
        args: out,
    })
}

/// The exception a tool's error raises: the named builtin exception when it is an `Exception`
/// Monty knows, else `RuntimeError` with the name in the message.
pub(crate) fn tool_exception(error: ToolError) -> MontyException {
    match ExcType::from_str(&error.exception) {
        Ok(kind)
            if !matches!(
                kind,
                ExcType::BaseException | ExcType::SystemExit | ExcType::KeyboardInterrupt
            ) =>
        {
            MontyException::new(kind, Some(error.message))
        }
        _ => MontyException::new(ExcType::RuntimeError, Some(error.to_string())),
    }
}

/// The uncatchable error that stops a block whose tool call outlived the block's time limit.
pub(crate) fn tool_timeout(name: &str) -> MontyException {
    MontyException::new(
        ExcType::TimeoutError,
        Some(format!(
            "time limit exceeded: the custom tool {name}() did not return within the block's time limit"
        )),
    )
}

/// Binds positional and keyword arguments to `(first, model=None)` like CPython does.
fn bind<'a>(
    name: &str,
    first: &str,
    args: &'a CallArgs,
) -> Result<(ObjectRef<'a>, Option<ObjectRef<'a>>), MontyException> {
    let positional = args.args();
    if positional.len() > 2 {
        return Err(type_error(format!(
            "{name}() takes from 1 to 2 positional arguments but {} were given",
            positional.len()
        )));
    }
    let mut positional = positional;
    let mut main = positional.next();
    let mut model = positional.next();
    for (key, value) in args.kwargs() {
        let key = match key.as_str() {
            Some(k) => k.to_owned(),
            None => key.py_repr(),
        };
        let slot = if key == first {
            &mut main
        } else if key == "model" {
            &mut model
        } else {
            return Err(type_error(format!(
                "{name}() got an unexpected keyword argument '{key}'"
            )));
        };
        if slot.is_some() {
            return Err(type_error(format!(
                "{name}() got multiple values for argument '{key}'"
            )));
        }
        *slot = Some(value);
    }
    match main {
        Some(main) => Ok((main, model)),
        None => Err(type_error(format!(
            "{name}() missing 1 required positional argument: '{first}'"
        ))),
    }
}

fn type_error(message: String) -> MontyException {
    MontyException::new(ExcType::TypeError, Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> MontyObject {
        MontyObject::string(text)
    }

    fn parse_with(
        name: &str,
        args: Vec<MontyObject>,
        kwargs: Vec<(MontyObject, MontyObject)>,
    ) -> Result<Parsed, MontyException> {
        parse(name, &CallArgs::from((args, kwargs)))
    }

    fn call(
        name: &str,
        args: Vec<MontyObject>,
        kwargs: Vec<(MontyObject, MontyObject)>,
    ) -> Result<HostCall, String> {
        match parse_with(name, args, kwargs) {
            Ok(Parsed::Call(call)) => Ok(call),
            Ok(Parsed::Immediate(value)) => Err(format!("immediate {value:?}")),
            Err(e) => Err(e.summary()),
        }
    }

    #[test]
    fn good_calls_bind_like_python() {
        assert_eq!(
            call("llm_query", vec![s("p")], vec![]),
            Ok(HostCall::LlmQuery {
                prompt: "p".into(),
                model: None
            })
        );
        assert_eq!(
            call(
                "rlm_query",
                vec![],
                vec![(s("prompt"), s("p")), (s("model"), s("m"))]
            ),
            Ok(HostCall::RlmQuery {
                prompt: "p".into(),
                model: Some("m".into())
            })
        );
        assert_eq!(
            call(
                "llm_query_batched",
                vec![MontyObject::tuple([s("a"), s("b")]), MontyObject::none()],
                vec![]
            ),
            Ok(HostCall::LlmQueryBatched {
                prompts: vec!["a".into(), "b".into()],
                model: None
            })
        );
        assert!(matches!(
            parse_with("rlm_query_batched", vec![MontyObject::list([])], vec![]),
            Ok(Parsed::Immediate(value)) if value.as_ref().items().is_some_and(|items| items.is_empty())
        ));
    }

    #[test]
    fn tool_calls_carry_json_arguments() {
        let call = parse_tool(
            "search",
            &CallArgs::from((
                vec![s("a"), MontyObject::tuple([MontyObject::int(1)])],
                vec![(s("limit"), MontyObject::int(3))],
            )),
        )
        .unwrap();
        let HostCall::Tool { name, args } = call else {
            panic!("{call:?}")
        };
        assert_eq!(name, "search");
        assert_eq!(args.args, [serde_json::json!("a"), serde_json::json!([1])]);
        assert_eq!(args.kwargs["limit"], serde_json::json!(3));
        let err = parse_tool(
            "search",
            &CallArgs::from((vec![MontyObject::set([MontyObject::int(1)])], vec![])),
        )
        .unwrap_err();
        assert_eq!(
            err.summary(),
            "TypeError: search() argument 1 is not JSON-like: a set value is not JSON-like"
        );
        let exc = |e: &str| tool_exception(ToolError::raise(e, "boom")).summary();
        assert_eq!(exc("ValueError"), "ValueError: boom");
        assert_eq!(exc("KeyError"), "KeyError: boom");
        assert_eq!(exc("MyError"), "RuntimeError: MyError: boom");
        assert_eq!(exc("SystemExit"), "RuntimeError: SystemExit: boom");
    }

    #[test]
    fn bad_calls_are_type_errors() {
        let check = |name: &str,
                     args: Vec<MontyObject>,
                     kwargs: Vec<(MontyObject, MontyObject)>,
                     expected: &str| {
            assert_eq!(
                call(name, args, kwargs),
                Err(format!("TypeError: {expected}"))
            );
        };
        check(
            "llm_query",
            vec![],
            vec![],
            "llm_query() missing 1 required positional argument: 'prompt'",
        );
        check(
            "llm_query",
            vec![MontyObject::int(1)],
            vec![],
            "llm_query() argument 'prompt' must be str, not int",
        );
        check(
            "llm_query",
            vec![s("a"), s("b"), s("c")],
            vec![],
            "llm_query() takes from 1 to 2 positional arguments but 3 were given",
        );
        check(
            "llm_query",
            vec![s("a")],
            vec![(s("temperature"), MontyObject::int(0))],
            "llm_query() got an unexpected keyword argument 'temperature'",
        );
        check(
            "llm_query",
            vec![s("a")],
            vec![(s("prompt"), s("b"))],
            "llm_query() got multiple values for argument 'prompt'",
        );
        check(
            "llm_query",
            vec![s("a"), MontyObject::int(3)],
            vec![],
            "llm_query() argument 'model' must be str or None, not int",
        );
        check(
            "llm_query_batched",
            vec![s("a")],
            vec![],
            "llm_query_batched() argument 'prompts' must be a list of str, not str",
        );
        check(
            "rlm_query_batched",
            vec![MontyObject::list([s("a"), MontyObject::none()])],
            vec![],
            "rlm_query_batched() argument 'prompts' item 1 must be str, not NoneType",
        );
    }
}
