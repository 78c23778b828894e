//! Provider extras ([`rlm_core::Sampling::extra_body`]) applied to an encoded request body as a
//! JSON Merge Patch (RFC 7396): objects merge key by key, `null` deletes a key, anything else
//! replaces the value. The body keeps its key order (the codec's fields first, new keys after,
//! in the patch's order), whatever `serde_json`'s map features, so golden bodies are stable.
//!
//! ```
//! use rlm_http::merge_patch::encode_json_with_extra;
//! use serde_json::json;
//!
//! let body = json!({"model": "m", "generationConfig": {"temperature": 0.5, "seed": 1}});
//! let extra = json!({"generationConfig": {"seed": null, "topK": 40}, "labels": {"team": "a"}});
//! let out = encode_json_with_extra(&body, extra.as_object().unwrap()).unwrap();
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     r#"{"generationConfig":{"temperature":0.5,"topK":40},"model":"m","labels":{"team":"a"}}"#
//! );
//! ```

use std::fmt;

use rlm_core::LlmError;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value};

use crate::codec::{config_error, encode_json};

/// `wire` as a JSON body with `extra` merged in as a JSON Merge Patch (see the module doc).
/// With no extras this is [`encode_json`], byte for byte.
pub fn encode_json_with_extra(
    wire: &impl Serialize,
    extra: &Map<String, Value>,
) -> Result<Vec<u8>, LlmError> {
    let body = encode_json(wire)?;
    if extra.is_empty() {
        return Ok(body);
    }
    let mut node: Node = serde_json::from_slice(&body)
        .map_err(|e| config_error(format!("could not re-read the request body: {e}")))?;
    for (key, value) in extra {
        node.set(key, value);
    }
    encode_json(&node)
}

/// A JSON value whose objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    /// RFC 7396 `MergePatch(self, patch)`.
    fn merge(&mut self, patch: &Value) {
        let Value::Object(entries) = patch else {
            *self = Node::from(patch);
            return;
        };
        if !matches!(self, Node::Object(_)) {
            *self = Node::Object(Vec::new());
        }
        for (key, value) in entries {
            self.set(key, value);
        }
    }

    /// One member of a merge patch: `null` removes `key`, anything else merges into it.
    /// Only called on objects (after [`Node::merge`] made `self` one).
    fn set(&mut self, key: &str, value: &Value) {
        let Node::Object(members) = self else {
            *self = Node::Object(Vec::new());
            return self.set(key, value);
        };
        let at = members.iter().position(|(k, _)| k == key);
        match (at, value) {
            (Some(i), Value::Null) => {
                members.remove(i);
            }
            (None, Value::Null) => {}
            (Some(i), value) => members[i].1.merge(value),
            (None, value) => {
                let mut node = Node::Null;
                node.merge(value);
                members.push((key.to_string(), node));
            }
        }
    }
}

impl From<&Value> for Node {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n.clone()),
            Value::String(s) => Node::String(s.clone()),
            Value::Array(items) => Node::Array(items.iter().map(Node::from).collect()),
            Value::Object(map) => Node::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Node::from(v)))
                    .collect(),
            ),
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => serializer.serialize_unit(),
            Node::Bool(b) => serializer.serialize_bool(*b),
            Node::Number(n) => n.serialize(serializer),
            Node::String(s) => serializer.serialize_str(s),
            Node::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Node, E> {
        Number::from_f64(n)
            .map(Node::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node, E> {
        Ok(Node::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Node, E> {
        Ok(Node::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members: Vec<(String, Node)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Node>()? {
            // A repeated key: the last one wins, in the first one's place (as serde_json does).
            match members.iter_mut().find(|(k, _)| *k == key) {
                Some(member) => member.1 = value,
                None => members.push((key, value)),
            }
        }
        Ok(Node::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patched(body: Value, patch: Value) -> String {
        let Value::Object(extra) = patch else {
            panic!("patch must be an object")
        };
        String::from_utf8(encode_json_with_extra(&body, &extra).unwrap()).unwrap()
    }

    /// The examples of RFC 7396, appendix A (objects only at the top, as extras are).
    #[test]
    fn rfc_7396_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (body, patch, want) in cases {
            let got: Value = serde_json::from_str(&patched(body.clone(), patch.clone())).unwrap();
            assert_eq!(got, want, "{body} + {patch}");
        }
    }

    #[derive(serde::Serialize)]
    struct Wire {
        model: &'static str,
        messages: Vec<Msg>,
        temperature: f32,
    }

    #[derive(serde::Serialize)]
    struct Msg {
        role: &'static str,
        content: &'static str,
    }

    #[test]
    fn key_order_is_kept_and_new_keys_come_last() {
        let wire = Wire {
            model: "m",
            messages: vec![Msg {
                role: "user",
                content: "hi",
            }],
            temperature: 0.2,
        };
        assert_eq!(
            String::from_utf8(encode_json_with_extra(&wire, &Map::new()).unwrap()).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.2}"#
        );
        let extra = json!({"temperature": null, "user": "u-1", "model": "other"});
        let Value::Object(extra) = extra else {
            unreachable!()
        };
        assert_eq!(
            String::from_utf8(encode_json_with_extra(&wire, &extra).unwrap()).unwrap(),
            r#"{"model":"other","messages":[{"role":"user","content":"hi"}],"user":"u-1"}"#
        );
    }

    #[test]
    fn numbers_survive_the_round_trip() {
        let body = json!({"a": 0.1, "b": u64::MAX, "c": -5, "d": 1e300, "e": "\u{1}☃"});
        let out = patched(body.clone(), json!({"f": true}));
        let back: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["a"], body["a"]);
        assert_eq!(back["b"], body["b"]);
        assert_eq!(back["c"], body["c"]);
        assert_eq!(back["d"], body["d"]);
        assert_eq!(back["e"], body["e"]);
        assert_eq!(back["f"], true);
    }
}
