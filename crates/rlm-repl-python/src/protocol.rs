//! The messages of the driver channel (see the header of `driver.py`) and the value encoding.
//!
//! Values travel as JSON: `null`, booleans, numbers (integers within `i64`, finite floats),
//! strings and arrays (lists) map to themselves; every other type is a one-key object:
//! `{"tuple": [...]}`, `{"dict": [[k, v], ...]}`, `{"bytes": "<latin-1 text>"}`,
//! `{"float": "nan" | "inf" | "-inf"}`, `{"other": [type name, repr]}`.

use rlm_core::{FinalAnswer, HostCall, ReplError, ReplValue, ToolArgs};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How the driver loads an injected value from its backing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LoadKind {
    /// The file is UTF-8 text: a `str`.
    Str,
    /// The file is raw bytes: a `bytes`.
    Bytes,
    /// The file is an encoded value (see the module docs).
    Json,
}

/// A request to the driver.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Request<'a> {
    /// Run a code block.
    Exec {
        /// The code.
        code: &'a str,
    },
    /// Bind `name` to the value stored in `path`.
    Load {
        /// The variable.
        name: &'a str,
        /// The backing file.
        path: &'a str,
        /// Its encoding.
        kind: LoadKind,
    },
    /// Read a variable.
    Get {
        /// The variable.
        name: &'a str,
    },
    /// List the user variables.
    Vars,
    /// The answer to a host call.
    Reply(Reply<'a>),
}

/// The answer to a host call: an encoded value, or an error the driver raises as the builtin
/// exception `exception` (`RuntimeError` when absent).
#[derive(Debug, Default, Serialize)]
pub(crate) struct Reply<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) exception: Option<&'a str>,
}

/// A message from the driver.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Message {
    /// Sent once at start-up.
    Ready(Ready),
    /// A sub-call the host must answer.
    Call(CallMsg),
    /// `FINAL`/`FINAL_VAR` was called (sent at the moment of the call).
    Final(FinishMsg),
    /// Output salvaged just before a timeout kill.
    Out(Out),
    /// A block has finished.
    Done(Done),
    /// A load succeeded.
    Ok,
    /// The value of a variable.
    Value {
        /// The encoded value.
        value: Value,
    },
    /// The variable does not exist.
    Missing,
    /// The user variables.
    Vars {
        /// `(name, type name)`, sorted by name.
        vars: Vec<(String, String)>,
    },
    /// A request failed.
    Error {
        /// The traceback or reason.
        message: String,
    },
}

/// What the driver reports at start-up.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Ready {
    pub(crate) pid: u32,
    pub(crate) version: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) net_ns: String,
    pub(crate) user_ns: String,
    pub(crate) pid_ns: bool,
}

/// A sub-call or tool call, as the driver sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct CallMsg {
    function: String,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    prompts: Option<Vec<String>>,
    #[serde(default)]
    model: Option<String>,
    /// A tool's name.
    #[serde(default)]
    name: Option<String>,
    /// A tool's positional arguments, encoded.
    #[serde(default)]
    args: Option<Vec<Value>>,
    /// A tool's keyword arguments, encoded.
    #[serde(default)]
    kwargs: Option<Map<String, Value>>,
}

/// Why a call message gives no host call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BadCall {
    /// The message breaks the protocol.
    Broken(String),
    /// A tool's arguments are not JSON-like: the code gets this `TypeError`.
    Arguments(String),
}

/// Decodes one encoded tool argument into JSON.
fn tool_arg(name: &str, what: &str, value: Value) -> Result<Value, BadCall> {
    let value = from_wire(value).map_err(|e| BadCall::Broken(e.to_string()))?;
    value.to_json().map_err(|why| {
        BadCall::Arguments(format!("{name}() argument {what} is not JSON-like: {why}"))
    })
}

impl CallMsg {
    /// The host call, or why the message gives none.
    pub(crate) fn into_call(self) -> Result<HostCall, BadCall> {
        if self.function == "tool" {
            let (Some(name), Some(args), Some(kwargs)) = (self.name, self.args, self.kwargs) else {
                return Err(BadCall::Broken(
                    "a tool call without its name or arguments".into(),
                ));
            };
            let mut out = ToolArgs::default();
            for (i, arg) in args.into_iter().enumerate() {
                out.args.push(tool_arg(&name, &(i + 1).to_string(), arg)?);
            }
            for (key, arg) in kwargs {
                let value = tool_arg(&name, &format!("'{key}'"), arg)?;
                out.kwargs.insert(key, value);
            }
            return Ok(HostCall::Tool { name, args: out });
        }
        let model = self.model;
        let call = match (self.function.as_str(), self.prompt, self.prompts) {
            ("llm_query", Some(prompt), None) => Ok(HostCall::LlmQuery { prompt, model }),
            ("rlm_query", Some(prompt), None) => Ok(HostCall::RlmQuery { prompt, model }),
            ("llm_query_batched", None, Some(prompts)) => {
                Ok(HostCall::LlmQueryBatched { prompts, model })
            }
            ("rlm_query_batched", None, Some(prompts)) => {
                Ok(HostCall::RlmQueryBatched { prompts, model })
            }
            (function, ..) => Err(format!("not a valid call to {function:?}")),
        };
        call.map_err(BadCall::Broken)
    }
}

/// A finish, as the driver sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct FinishMsg {
    via: String,
    #[serde(default)]
    name: Option<String>,
    answer: String,
}

impl FinishMsg {
    /// The finish, or why the message is not one.
    pub(crate) fn into_finish(self) -> Result<FinalAnswer, String> {
        match self.via.as_str() {
            "final" => Ok(FinalAnswer::Final {
                answer: self.answer,
            }),
            "final_var" => Ok(FinalAnswer::FinalVar {
                name: self.name,
                answer: self.answer,
            }),
            other => Err(format!("unknown finish {other:?}")),
        }
    }
}

/// Output salvaged before a kill.
#[derive(Debug, Deserialize)]
pub(crate) struct Out {
    pub(crate) stdout: String,
    pub(crate) truncated: bool,
}

/// The end of a block.
#[derive(Debug, Deserialize)]
pub(crate) struct Done {
    pub(crate) stdout: String,
    pub(crate) truncated: bool,
    pub(crate) error: Option<String>,
    /// `str(answer["content"])` when the block left `answer["ready"]` truthy.
    pub(crate) answer: Option<String>,
    pub(crate) host_calls: u32,
}

/// Encodes a value for the driver.
///
/// # Errors
/// [`ReplError::Conversion`] for [`ReplValue::Other`], which carries only a `repr`.
pub(crate) fn to_wire(value: &ReplValue) -> Result<Value, ReplError> {
    let tagged = |tag: &str, body: Value| {
        let mut map = Map::new();
        map.insert(tag.to_string(), body);
        Value::Object(map)
    };
    Ok(match value {
        ReplValue::None => Value::Null,
        ReplValue::Bool(b) => Value::Bool(*b),
        ReplValue::Int(i) => Value::from(*i),
        ReplValue::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None => tagged("float", Value::String(python_float_name(*f).to_string())),
        },
        ReplValue::Str(s) => Value::String(s.clone()),
        ReplValue::Bytes(b) => tagged(
            "bytes",
            Value::String(b.iter().map(|&c| char::from(c)).collect()),
        ),
        ReplValue::List(items) => {
            Value::Array(items.iter().map(to_wire).collect::<Result<_, _>>()?)
        }
        ReplValue::Tuple(items) => tagged(
            "tuple",
            Value::Array(items.iter().map(to_wire).collect::<Result<_, _>>()?),
        ),
        ReplValue::Dict(pairs) => tagged(
            "dict",
            Value::Array(
                pairs
                    .iter()
                    .map(|(k, v)| Ok(Value::Array(vec![to_wire(k)?, to_wire(v)?])))
                    .collect::<Result<_, ReplError>>()?,
            ),
        ),
        ReplValue::Other { type_name, .. } => {
            return Err(ReplError::Conversion {
                message: format!(
                    "a {type_name} value has no plain-data form and cannot be injected"
                ),
            });
        }
    })
}

fn python_float_name(f: f64) -> &'static str {
    if f.is_nan() {
        "nan"
    } else if f > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

/// Decodes a value sent by the driver.
///
/// # Errors
/// [`ReplError::Conversion`] when the encoding is not one the driver produces.
pub(crate) fn from_wire(value: Value) -> Result<ReplValue, ReplError> {
    let bad = |what: &str| ReplError::Conversion {
        message: format!("the driver sent an invalid value: {what}"),
    };
    Ok(match value {
        Value::Null => ReplValue::None,
        Value::Bool(b) => ReplValue::Bool(b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) if !n.is_f64() => ReplValue::Int(i),
            (_, Some(f)) if n.is_f64() => ReplValue::Float(f),
            _ => ReplValue::Other {
                type_name: "int".to_string(),
                repr: n.to_string(),
            },
        },
        Value::String(s) => ReplValue::Str(s),
        Value::Array(items) => ReplValue::List(from_wire_all(items)?),
        Value::Object(map) => {
            let mut entries = map.into_iter();
            let (Some((tag, body)), None) = (entries.next(), entries.next()) else {
                return Err(bad("an object without exactly one tag"));
            };
            match (tag.as_str(), body) {
                ("tuple", Value::Array(items)) => ReplValue::Tuple(from_wire_all(items)?),
                ("dict", Value::Array(pairs)) => ReplValue::Dict(
                    pairs
                        .into_iter()
                        .map(|pair| match pair {
                            Value::Array(kv) if kv.len() == 2 => {
                                let mut kv = kv.into_iter();
                                match (kv.next(), kv.next()) {
                                    (Some(k), Some(v)) => Ok((from_wire(k)?, from_wire(v)?)),
                                    _ => Err(bad("a dict entry")),
                                }
                            }
                            _ => Err(bad("a dict entry")),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                ("bytes", Value::String(text)) => ReplValue::Bytes(
                    text.chars()
                        .map(|c| u8::try_from(u32::from(c)).map_err(|_| bad("a byte above 255")))
                        .collect::<Result<_, _>>()?,
                ),
                ("float", Value::String(name)) => ReplValue::Float(match name.as_str() {
                    "nan" => f64::NAN,
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    _ => return Err(bad("a float name")),
                }),
                ("other", Value::Array(pair)) => match <[Value; 2]>::try_from(pair) {
                    Ok([Value::String(type_name), Value::String(repr)]) => {
                        ReplValue::Other { type_name, repr }
                    }
                    _ => return Err(bad("an opaque value")),
                },
                (tag, _) => return Err(bad(&format!("the tag {tag:?}"))),
            }
        }
    })
}

fn from_wire_all(items: Vec<Value>) -> Result<Vec<ReplValue>, ReplError> {
    items.into_iter().map(from_wire).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: ReplValue) {
        let back = from_wire(to_wire(&value).unwrap()).unwrap();
        match (&value, &back) {
            (ReplValue::Float(a), ReplValue::Float(b)) if a.is_nan() => assert!(b.is_nan()),
            _ => assert_eq!(back, value),
        }
    }

    #[test]
    fn plain_data_round_trips() {
        for value in [
            ReplValue::None,
            ReplValue::Bool(true),
            ReplValue::Int(i64::MIN),
            ReplValue::Float(2.0),
            ReplValue::Float(f64::NAN),
            ReplValue::Float(f64::NEG_INFINITY),
            ReplValue::Str("héllo\u{1F600}".into()),
            ReplValue::Bytes(vec![0, 127, 128, 255]),
            ReplValue::List(vec![ReplValue::Int(1), ReplValue::Str("a".into())]),
            ReplValue::Tuple(vec![ReplValue::None]),
            ReplValue::Dict(vec![(ReplValue::Str("k".into()), ReplValue::List(vec![]))]),
        ] {
            round_trip(value);
        }
    }

    #[test]
    fn other_is_refused_on_the_way_in_and_kept_on_the_way_out() {
        let other = ReplValue::Other {
            type_name: "set".into(),
            repr: "{1}".into(),
        };
        assert!(matches!(to_wire(&other), Err(ReplError::Conversion { .. })));
        let wire = serde_json::json!({"other": ["set", "{1}"]});
        assert_eq!(from_wire(wire).unwrap(), other);
        assert_eq!(
            from_wire(serde_json::json!(18446744073709551615u64)).unwrap(),
            ReplValue::Other {
                type_name: "int".into(),
                repr: "18446744073709551615".into()
            }
        );
    }

    #[test]
    fn bad_encodings_are_conversion_errors() {
        for wire in [
            serde_json::json!({"a": 1, "b": 2}),
            serde_json::json!({"bytes": "\u{100}"}),
            serde_json::json!({"dict": [[1]]}),
            serde_json::json!({"float": "x"}),
            serde_json::json!({"set": []}),
        ] {
            assert!(matches!(from_wire(wire), Err(ReplError::Conversion { .. })));
        }
    }

    #[test]
    fn messages_decode_from_the_driver_shapes() {
        let call: Message = serde_json::from_str(
            r#"{"call":{"function":"llm_query_batched","prompts":["a"],"model":null}}"#,
        )
        .unwrap();
        let Message::Call(call) = call else {
            panic!("{call:?}")
        };
        assert_eq!(
            call.into_call(),
            Ok(HostCall::LlmQueryBatched {
                prompts: vec!["a".into()],
                model: None
            })
        );
        let ok: Message = serde_json::from_str(r#""ok""#).unwrap();
        assert!(matches!(ok, Message::Ok));
        let fin: Message =
            serde_json::from_str(r#"{"final":{"via":"final_var","name":"x","answer":"1"}}"#)
                .unwrap();
        let Message::Final(fin) = fin else {
            panic!("{fin:?}")
        };
        assert_eq!(
            fin.into_finish(),
            Ok(FinalAnswer::FinalVar {
                name: Some("x".into()),
                answer: "1".into()
            })
        );
        let request = serde_json::to_string(&Request::Reply(Reply {
            value: Some(serde_json::json!(["a"])),
            ..Reply::default()
        }))
        .unwrap();
        assert_eq!(request, r#"{"reply":{"value":["a"]}}"#);
        let request = serde_json::to_string(&Request::Reply(Reply {
            error: Some("boom"),
            exception: Some("ValueError"),
            ..Reply::default()
        }))
        .unwrap();
        assert_eq!(
            request,
            r#"{"reply":{"error":"boom","exception":"ValueError"}}"#
        );
        let tool: Message = serde_json::from_str(
            r#"{"call":{"function":"tool","name":"f","args":[1,{"tuple":["a"]}],"kwargs":{"k":{"dict":[["x",null]]}}}}"#,
        )
        .unwrap();
        let Message::Call(tool) = tool else {
            panic!("{tool:?}")
        };
        let HostCall::Tool { name, args } = tool.into_call().unwrap() else {
            panic!("not a tool call")
        };
        assert_eq!(name, "f");
        assert_eq!(args.args, [serde_json::json!(1), serde_json::json!(["a"])]);
        assert_eq!(args.kwargs["k"], serde_json::json!({"x": null}));
        let bad: Message = serde_json::from_str(
            r#"{"call":{"function":"tool","name":"f","args":[{"other":["set","{1}"]}],"kwargs":{}}}"#,
        )
        .unwrap();
        let Message::Call(bad) = bad else {
            panic!("{bad:?}")
        };
        assert_eq!(
            bad.into_call(),
            Err(BadCall::Arguments(
                "f() argument 1 is not JSON-like: a set value is not JSON-like".into()
            ))
        );
        assert_eq!(serde_json::to_string(&Request::Vars).unwrap(), r#""vars""#);
    }
}
