//! Values that cross the REPL boundary.

use serde::{Deserialize, Serialize};

/// A Python value as seen from Rust: what `FINAL(x)` hands back, what a host call receives,
/// and what the runtime injects (`context`).
///
/// Python objects with no plain-data equivalent (functions, class instances) travel as
/// [`ReplValue::Other`] with their type name and `repr`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ReplValue {
    /// `None`.
    None,
    /// `bool`.
    Bool(bool),
    /// `int` (values beyond `i64` travel as [`ReplValue::Other`]).
    Int(i64),
    /// `float`.
    Float(f64),
    /// `str`.
    Str(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `list`.
    List(Vec<ReplValue>),
    /// `tuple`.
    Tuple(Vec<ReplValue>),
    /// `dict`, in insertion order.
    Dict(Vec<(ReplValue, ReplValue)>),
    /// Anything else: its Python type name and `repr`.
    Other {
        /// `type(x).__name__`.
        type_name: String,
        /// `repr(x)`.
        repr: String,
    },
}

impl ReplValue {
    /// Python's `type(x).__name__`.
    pub fn type_name(&self) -> &str {
        match self {
            ReplValue::None => "NoneType",
            ReplValue::Bool(_) => "bool",
            ReplValue::Int(_) => "int",
            ReplValue::Float(_) => "float",
            ReplValue::Str(_) => "str",
            ReplValue::Bytes(_) => "bytes",
            ReplValue::List(_) => "list",
            ReplValue::Tuple(_) => "tuple",
            ReplValue::Dict(_) => "dict",
            ReplValue::Other { type_name, .. } => type_name,
        }
    }

    /// Python's `str(x)`: a string is itself, everything else its `repr`.
    pub fn to_python_str(&self) -> String {
        match self {
            ReplValue::Str(s) => s.clone(),
            ReplValue::Other { repr, .. } => repr.clone(),
            other => other.repr(),
        }
    }

    /// Python's `repr(x)` for plain data.
    pub fn repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }

    fn write_repr(&self, out: &mut String) {
        match self {
            ReplValue::None => out.push_str("None"),
            ReplValue::Bool(true) => out.push_str("True"),
            ReplValue::Bool(false) => out.push_str("False"),
            ReplValue::Int(i) => out.push_str(&i.to_string()),
            ReplValue::Float(f) => out.push_str(&python_float(*f)),
            ReplValue::Str(s) => out.push_str(&python_str_repr(s)),
            ReplValue::Bytes(b) => {
                out.push_str("b'");
                for &byte in b {
                    match byte {
                        b'\\' => out.push_str("\\\\"),
                        b'\'' => out.push_str("\\'"),
                        b'\n' => out.push_str("\\n"),
                        b'\r' => out.push_str("\\r"),
                        b'\t' => out.push_str("\\t"),
                        0x20..=0x7e => out.push(byte as char),
                        _ => out.push_str(&format!("\\x{byte:02x}")),
                    }
                }
                out.push('\'');
            }
            ReplValue::List(items) => write_seq(out, "[", "]", items, false),
            ReplValue::Tuple(items) => write_seq(out, "(", ")", items, items.len() == 1),
            ReplValue::Dict(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_repr(out);
                    out.push_str(": ");
                    v.write_repr(out);
                }
                out.push('}');
            }
            ReplValue::Other { repr, .. } => out.push_str(repr),
        }
    }

    /// Length in characters of `str(x)` for strings, or of the JSON-ish rendering otherwise;
    /// used for the context metadata the root model sees.
    pub fn char_len(&self) -> usize {
        match self {
            ReplValue::Str(s) => s.chars().count(),
            other => other.repr().chars().count(),
        }
    }

    /// Converts JSON into a Python value (objects become dicts with string keys).
    pub fn from_json(value: serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Null => ReplValue::None,
            Value::Bool(b) => ReplValue::Bool(b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => ReplValue::Int(i),
                None => ReplValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => ReplValue::Str(s),
            Value::Array(items) => {
                ReplValue::List(items.into_iter().map(Self::from_json).collect())
            }
            Value::Object(map) => ReplValue::Dict(
                map.into_iter()
                    .map(|(k, v)| (ReplValue::Str(k), Self::from_json(v)))
                    .collect(),
            ),
        }
    }
}

impl ReplValue {
    /// Converts plain data into JSON (how a custom tool receives its arguments): tuples become
    /// arrays, dicts need `str` keys.
    ///
    /// # Errors
    /// Why the value is not JSON-like (bytes, a non-finite float, a non-`str` dict key, or a
    /// value with no plain-data form), in Python's words.
    pub fn to_json(&self) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        Ok(match self {
            ReplValue::None => Value::Null,
            ReplValue::Bool(b) => Value::Bool(*b),
            ReplValue::Int(i) => Value::from(*i),
            ReplValue::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => Value::Number(n),
                None => return Err(format!("float {} is not JSON-like", self.repr())),
            },
            ReplValue::Str(s) => Value::String(s.clone()),
            ReplValue::List(items) | ReplValue::Tuple(items) => {
                Value::Array(items.iter().map(Self::to_json).collect::<Result<_, _>>()?)
            }
            ReplValue::Dict(pairs) => {
                let mut map = serde_json::Map::new();
                for (key, value) in pairs {
                    let ReplValue::Str(key) = key else {
                        return Err(format!("dict keys must be str, not {}", key.type_name()));
                    };
                    map.insert(key.clone(), value.to_json()?);
                }
                Value::Object(map)
            }
            ReplValue::Bytes(_) | ReplValue::Other { .. } => {
                return Err(format!("a {} value is not JSON-like", self.type_name()));
            }
        })
    }
}

impl From<serde_json::Value> for ReplValue {
    fn from(value: serde_json::Value) -> Self {
        ReplValue::from_json(value)
    }
}

impl From<String> for ReplValue {
    fn from(s: String) -> Self {
        ReplValue::Str(s)
    }
}

impl From<&str> for ReplValue {
    fn from(s: &str) -> Self {
        ReplValue::Str(s.to_string())
    }
}

fn write_seq(out: &mut String, open: &str, close: &str, items: &[ReplValue], trailing_comma: bool) {
    out.push_str(open);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        item.write_repr(out);
    }
    if trailing_comma {
        out.push(',');
    }
    out.push_str(close);
}

fn python_float(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".into() } else { "-inf".into() }
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Python's `repr` of a string: single quotes unless the text holds one and no double quote.
pub(crate) fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: ReplValue, repr: &str, s: &str) {
        assert_eq!(value.repr(), repr);
        assert_eq!(value.to_python_str(), s);
    }

    #[test]
    fn repr_and_str_match_python() {
        check(ReplValue::None, "None", "None");
        check(ReplValue::Bool(true), "True", "True");
        check(ReplValue::Int(-3), "-3", "-3");
        check(ReplValue::Float(2.0), "2.0", "2.0");
        check(ReplValue::Float(0.5), "0.5", "0.5");
        check(ReplValue::Str("it's".into()), "\"it's\"", "it's");
        check(ReplValue::Str("a\nb".into()), "'a\\nb'", "a\nb");
        check(ReplValue::Tuple(vec![ReplValue::Int(1)]), "(1,)", "(1,)");
        check(
            ReplValue::Dict(vec![(
                ReplValue::Str("n".into()),
                ReplValue::List(vec![ReplValue::Int(1), ReplValue::None]),
            )]),
            "{'n': [1, None]}",
            "{'n': [1, None]}",
        );
        check(
            ReplValue::Bytes(b"a'\x00".to_vec()),
            "b'a\\'\\x00'",
            "b'a\\'\\x00'",
        );
    }

    #[test]
    fn plain_data_becomes_json() {
        let v = ReplValue::from_json(serde_json::json!({"a": [1, 2.5, null, true, "x"]}));
        assert_eq!(
            v.to_json(),
            Ok(serde_json::json!({"a": [1, 2.5, null, true, "x"]}))
        );
        let tuple = ReplValue::Tuple(vec![ReplValue::Int(1), ReplValue::Str("b".into())]);
        assert_eq!(tuple.to_json(), Ok(serde_json::json!([1, "b"])));
        let check = |v: ReplValue, why: &str| assert_eq!(v.to_json(), Err(why.to_string()));
        check(ReplValue::Bytes(vec![1]), "a bytes value is not JSON-like");
        check(ReplValue::Float(f64::NAN), "float nan is not JSON-like");
        check(
            ReplValue::Dict(vec![(ReplValue::Int(1), ReplValue::None)]),
            "dict keys must be str, not int",
        );
        check(
            ReplValue::List(vec![ReplValue::Other {
                type_name: "set".into(),
                repr: "{1}".into(),
            }]),
            "a set value is not JSON-like",
        );
    }

    #[test]
    fn json_becomes_python_data() {
        let v = ReplValue::from_json(serde_json::json!({"a": [1, 2.5, null, true, "x"]}));
        assert_eq!(v.repr(), "{'a': [1, 2.5, None, True, 'x']}");
        assert_eq!(v.type_name(), "dict");
    }
}
