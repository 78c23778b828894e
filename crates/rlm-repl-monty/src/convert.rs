//! Conversions between [`ReplValue`] (the runtime's values) and Monty's [`MontyObject`].
//!
//! Into Monty, values move: a `ReplValue::Str` hands its `String` over without copying, which is
//! how a large `context` is injected for free. Out of Monty, plain data maps one to one and
//! everything else (sets, big ints, class instances, functions, modules) becomes
//! [`ReplValue::Other`] with its Python type name and `repr`.

use monty_types::MontyObject;
use rlm_core::{ReplError, ReplValue};

/// Converts a value for injection into the interpreter, moving strings and buffers.
///
/// # Errors
/// [`ReplError::Conversion`] for [`ReplValue::Other`], which carries only a `repr`.
pub(crate) fn to_monty(value: ReplValue) -> Result<MontyObject, ReplError> {
    Ok(match value {
        ReplValue::None => MontyObject::None,
        ReplValue::Bool(b) => MontyObject::Bool(b),
        ReplValue::Int(i) => MontyObject::Int(i),
        ReplValue::Float(f) => MontyObject::Float(f),
        ReplValue::Str(s) => MontyObject::String(s),
        ReplValue::Bytes(b) => MontyObject::Bytes(b),
        ReplValue::List(items) => MontyObject::List(to_monty_all(items)?),
        ReplValue::Tuple(items) => MontyObject::Tuple(to_monty_all(items)?),
        ReplValue::Dict(pairs) => MontyObject::dict(
            pairs
                .into_iter()
                .map(|(k, v)| Ok((to_monty(k)?, to_monty(v)?)))
                .collect::<Result<Vec<_>, ReplError>>()?,
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

fn to_monty_all(items: Vec<ReplValue>) -> Result<Vec<MontyObject>, ReplError> {
    items.into_iter().map(to_monty).collect()
}

/// Converts a value read from the interpreter.
pub(crate) fn from_monty(value: MontyObject) -> ReplValue {
    match value {
        MontyObject::None => ReplValue::None,
        MontyObject::Bool(b) => ReplValue::Bool(b),
        MontyObject::Int(i) => ReplValue::Int(i),
        MontyObject::Float(f) => ReplValue::Float(f),
        MontyObject::String(s) => ReplValue::Str(s),
        MontyObject::Bytes(b) => ReplValue::Bytes(b),
        MontyObject::List(items) => ReplValue::List(items.into_iter().map(from_monty).collect()),
        MontyObject::Tuple(items) => ReplValue::Tuple(items.into_iter().map(from_monty).collect()),
        MontyObject::Dict(pairs) => ReplValue::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (from_monty(k), from_monty(v)))
                .collect(),
        ),
        other => ReplValue::Other {
            type_name: type_name(&other),
            repr: repr(&other),
        },
    }
}

/// Python's `type(x).__name__` for a value that crossed the boundary.
fn type_name(value: &MontyObject) -> String {
    match value {
        MontyObject::Exception { exc_type, .. } => exc_type.to_string(),
        MontyObject::NamedTuple { type_name, .. } => type_name
            .rsplit('.')
            .next()
            .unwrap_or(type_name)
            .to_string(),
        // Opaque objects arrive as their repr: `<module 're'>`, `<function 'f' at 0x1>`,
        // `<list_iterator object>`; the first word names the type.
        MontyObject::Repr(text) => text
            .strip_prefix('<')
            .and_then(|rest| rest.split([' ', '>']).next())
            .filter(|word| !word.is_empty())
            .unwrap_or("object")
            .to_string(),
        other => other.type_name().to_string(),
    }
}

/// Python's `repr(x)`.
fn repr(value: &MontyObject) -> String {
    match value {
        MontyObject::Repr(text) => text.clone(),
        MontyObject::Function { name, .. } => format!("<function {name}>"),
        other => other.py_repr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: ReplValue) {
        let back = from_monty(to_monty(value.clone()).unwrap());
        assert_eq!(back, value);
    }

    #[test]
    fn plain_data_round_trips() {
        round_trip(ReplValue::None);
        round_trip(ReplValue::Bool(true));
        round_trip(ReplValue::Int(-7));
        round_trip(ReplValue::Float(2.5));
        round_trip(ReplValue::Str("héllo".into()));
        round_trip(ReplValue::Bytes(vec![0, 255]));
        round_trip(ReplValue::List(vec![
            ReplValue::Int(1),
            ReplValue::Str("a".into()),
        ]));
        round_trip(ReplValue::Tuple(vec![ReplValue::None]));
        round_trip(ReplValue::Dict(vec![(
            ReplValue::Str("k".into()),
            ReplValue::List(vec![]),
        )]));
    }

    #[test]
    fn other_values_keep_type_and_repr() {
        let check = |value: MontyObject, type_name: &str, repr: &str| {
            assert_eq!(
                from_monty(value),
                ReplValue::Other {
                    type_name: type_name.into(),
                    repr: repr.into()
                }
            );
        };
        check(MontyObject::Set(vec![MontyObject::Int(1)]), "set", "{1}");
        check(
            MontyObject::Repr("<module 're'>".into()),
            "module",
            "<module 're'>",
        );
        check(
            MontyObject::Repr("<function 'f' at 0x1>".into()),
            "function",
            "<function 'f' at 0x1>",
        );
        check(
            MontyObject::Exception {
                exc_type: monty_types::ExcType::ValueError,
                arg: Some("x".into()),
            },
            "ValueError",
            "ValueError('x')",
        );
    }

    #[test]
    fn other_cannot_be_injected() {
        let err = to_monty(ReplValue::Other {
            type_name: "set".into(),
            repr: "{1}".into(),
        })
        .unwrap_err();
        assert!(matches!(err, ReplError::Conversion { .. }));
    }
}
