//! Conversions between [`ReplValue`] (the runtime's values) and Monty's [`MontyObject`].
//!
//! Into Monty, values move: a `ReplValue::Str` hands its `String` over without copying, which is
//! how a large `context` is injected for free. Out of Monty, plain data maps one to one and
//! everything else (sets, big ints, class instances, functions, modules) becomes
//! [`ReplValue::Other`] with its Python type name and `repr`.

use monty_types::MontyObject;
use monty_types::ObjectRef;
use monty_types::unstable::{self, MontyNode};
use rlm_core::{ReplError, ReplValue};

/// Converts a value for injection into the interpreter, moving strings and buffers.
///
/// # Errors
/// [`ReplError::Conversion`] for [`ReplValue::Other`], which carries only a `repr`.
pub(crate) fn to_monty(value: ReplValue) -> Result<MontyObject, ReplError> {
    Ok(match value {
        ReplValue::None => MontyObject::none(),
        ReplValue::Bool(b) => MontyObject::bool(b),
        ReplValue::Int(i) => MontyObject::int(i),
        ReplValue::Float(f) => MontyObject::float(f),
        ReplValue::Str(s) => MontyObject::string(s),
        ReplValue::Bytes(b) => MontyObject::bytes(b),
        ReplValue::List(items) => MontyObject::list(to_monty_all(items)?),
        ReplValue::Tuple(items) => MontyObject::tuple(to_monty_all(items)?),
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

/// Converts a value read from the interpreter. A top-level string (the usual case: a large
/// `FINAL_VAR` or `context`) is moved out, not copied.
pub(crate) fn from_monty(value: MontyObject) -> ReplValue {
    if value.as_ref().as_str().is_some() {
        let (graph, root) = unstable::into_graph_parts(value);
        let mut nodes = graph.into_nodes();
        if root.index() < nodes.len()
            && let MontyNode::String(s) = nodes.swap_remove(root.index())
        {
            return ReplValue::Str(s);
        }
        return ReplValue::Str(String::new());
    }
    from_ref(value.as_ref())
}

/// Converts a borrowed value, copying its data.
pub(crate) fn from_ref(value: ObjectRef<'_>) -> ReplValue {
    let all = |ids: &[unstable::NodeId]| {
        ids.iter()
            .map(|id| from_ref(unstable::child(value, *id)))
            .collect()
    };
    match unstable::node(value) {
        MontyNode::None => ReplValue::None,
        MontyNode::Bool(b) => ReplValue::Bool(*b),
        MontyNode::Int(i) => ReplValue::Int(*i),
        MontyNode::Float(f) => ReplValue::Float(*f),
        MontyNode::String(s) => ReplValue::Str(s.clone()),
        MontyNode::Bytes(b) => ReplValue::Bytes(b.clone()),
        MontyNode::List(ids) => ReplValue::List(all(ids)),
        MontyNode::Tuple(ids) => ReplValue::Tuple(all(ids)),
        MontyNode::Dict(pairs) => ReplValue::Dict(
            pairs
                .iter()
                .map(|(k, v)| {
                    (
                        from_ref(unstable::child(value, *k)),
                        from_ref(unstable::child(value, *v)),
                    )
                })
                .collect(),
        ),
        other => ReplValue::Other {
            type_name: type_name(value, other),
            repr: repr(value, other),
        },
    }
}

/// Python's `type(x).__name__` for a value that crossed the boundary.
fn type_name(value: ObjectRef<'_>, node: &MontyNode) -> String {
    match node {
        MontyNode::Exception { exc_type, .. } => exc_type.to_string(),
        MontyNode::NamedTuple { type_name, .. } => type_name
            .rsplit('.')
            .next()
            .unwrap_or(type_name)
            .to_string(),
        // Opaque objects arrive as their repr: `<module 're'>`, `<function 'f' at 0x1>`,
        // `<list_iterator object>`; the first word names the type.
        MontyNode::Repr(text) => text
            .strip_prefix('<')
            .and_then(|rest| rest.split([' ', '>']).next())
            .filter(|word| !word.is_empty())
            .unwrap_or("object")
            .to_string(),
        _ => value.type_name().to_string(),
    }
}

/// Python's `repr(x)`.
fn repr(value: ObjectRef<'_>, node: &MontyNode) -> String {
    match node {
        MontyNode::Repr(text) => text.clone(),
        MontyNode::Function { name, .. } => format!("<function {name}>"),
        _ => value.py_repr(),
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
        check(MontyObject::set([MontyObject::int(1)]), "set", "{1}");
        check(
            MontyObject::repr("<module 're'>"),
            "module",
            "<module 're'>",
        );
        check(
            MontyObject::repr("<function 'f' at 0x1>"),
            "function",
            "<function 'f' at 0x1>",
        );
        check(
            MontyObject::exception(monty_types::ExcType::ValueError, Some("x".into())),
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
