//! A small JSON Schema checker for the project's own schema files, so tests can validate what
//! the runtime writes without a heavy dependency (the `jsonschema` crate pulls in a regex
//! engine, an HTTP client and dozens of crates).
//!
//! It implements the subset of draft 2020-12 our schemas use, exactly: `type` (one name or a
//! list), `const`, `enum`, `required`, `properties`, `additionalProperties` (a boolean or a
//! schema), `items`, `oneOf`, `anyOf`, `allOf`, local `$ref` (`#/$defs/NAME`), `minimum`, `minItems`,
//! `maximum`, `maxLength` (in characters). Annotations (`$schema`, `$id`, `title`, `description`, `$comment`, `$defs`,
//! `examples`, `default`) are ignored. Any other keyword is reported as an error, so a schema
//! can never rely on a rule this checker silently skips.

use serde_json::Value;

const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "description",
    "$comment",
    "$defs",
    "examples",
    "default",
];

/// Checks `instance` against `schema` (whose `$defs` resolve `$ref`s). Returns every violation
/// as `path: message`; empty means valid.
pub fn validate(schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, instance, "$", &mut errors);
    errors
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let name = reference.strip_prefix("#/$defs/")?;
    root.get("$defs")?.get(name)
}

fn check(root: &Value, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{path}: no value is allowed here"));
        }
        return;
    };
    for (key, rule) in map {
        match key.as_str() {
            "$ref" => match rule.as_str().and_then(|r| resolve(root, r)) {
                Some(target) => check(root, target, v, path, errors),
                None => errors.push(format!("{path}: unresolvable $ref {rule}")),
            },
            "type" => {
                let names: Vec<&str> = match rule {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                if !names.iter().any(|n| type_matches(n, v)) {
                    errors.push(format!("{path}: expected type {rule}, got {}", short(v)));
                }
            }
            "const" => {
                if v != rule {
                    errors.push(format!("{path}: expected {rule}, got {}", short(v)));
                }
            }
            "enum" => {
                let allowed = rule.as_array().map(Vec::as_slice).unwrap_or(&[]);
                if !allowed.contains(v) {
                    errors.push(format!("{path}: {} is not one of {rule}", short(v)));
                }
            }
            "required" => {
                if let Some(obj) = v.as_object() {
                    for name in rule
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        if !obj.contains_key(name) {
                            errors.push(format!("{path}: missing required field `{name}`"));
                        }
                    }
                }
            }
            "properties" => {
                if let (Some(obj), Some(props)) = (v.as_object(), rule.as_object()) {
                    for (name, sub) in props {
                        if let Some(field) = obj.get(name) {
                            check(root, sub, field, &format!("{path}.{name}"), errors);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(obj) = v.as_object() {
                    let known = map.get("properties").and_then(Value::as_object);
                    for (name, field) in obj {
                        if known.is_some_and(|k| k.contains_key(name)) {
                            continue;
                        }
                        match rule {
                            Value::Bool(false) => {
                                errors.push(format!("{path}: unexpected field `{name}`"))
                            }
                            Value::Bool(true) => {}
                            sub => check(root, sub, field, &format!("{path}.{name}"), errors),
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = v.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        check(root, rule, item, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            "minItems" => {
                if let (Some(items), Some(min)) = (v.as_array(), rule.as_u64())
                    && (items.len() as u64) < min
                {
                    errors.push(format!(
                        "{path}: {} item(s), fewer than minItems {min}",
                        items.len()
                    ));
                }
            }
            "maxLength" => {
                if let (Some(text), Some(max)) = (v.as_str(), rule.as_u64())
                    && text.chars().count() as u64 > max
                {
                    errors.push(format!(
                        "{path}: {} characters, more than maxLength {max}",
                        text.chars().count()
                    ));
                }
            }
            "minimum" | "maximum" => {
                if let (Some(x), Some(bound)) = (v.as_f64(), rule.as_f64()) {
                    let bad = if key == "minimum" {
                        x < bound
                    } else {
                        x > bound
                    };
                    if bad {
                        errors.push(format!("{path}: {x} is outside the {key} {bound}"));
                    }
                }
            }
            "oneOf" | "anyOf" | "allOf" => {
                let subs = rule.as_array().map(Vec::as_slice).unwrap_or(&[]);
                let results: Vec<Vec<String>> =
                    subs.iter().map(|s| validate_at(root, s, v, path)).collect();
                let passing = results.iter().filter(|r| r.is_empty()).count();
                let ok = match key.as_str() {
                    "oneOf" => passing == 1,
                    "anyOf" => passing >= 1,
                    _ => passing == subs.len(),
                };
                if !ok {
                    // The closest alternative's errors say most about what is wrong.
                    let closest = results
                        .iter()
                        .filter(|r| !r.is_empty())
                        .min_by_key(|r| r.len())
                        .map(|r| r.join("; "))
                        .unwrap_or_default();
                    errors.push(format!(
                        "{path}: {passing} of {} alternatives of {key} match (closest: {closest})",
                        subs.len()
                    ));
                }
            }
            other if ANNOTATIONS.contains(&other) => {}
            other => errors.push(format!(
                "{path}: schema keyword `{other}` is not supported by this checker"
            )),
        }
    }
}

fn validate_at(root: &Value, schema: &Value, v: &Value, path: &str) -> Vec<String> {
    let mut errors = Vec::new();
    check(root, schema, v, path, &mut errors);
    errors
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn check_case(schema: Value, instance: Value, expected: &[&str]) {
        let errors = validate(&schema, &instance);
        assert_eq!(errors, expected, "instance {instance}");
    }

    #[test]
    fn keywords() {
        let schema = json!({
            "$defs": {"n": {"type": "integer", "minimum": 1}},
            "type": "object",
            "required": ["a", "k"],
            "properties": {"a": {"$ref": "#/$defs/n"}, "k": {"enum": ["x", "y"]},
                           "l": {"type": "array", "items": {"type": ["string", "null"]}}},
            "additionalProperties": false
        });
        check_case(
            schema.clone(),
            json!({"a": 2, "k": "x", "l": ["s", null]}),
            &[],
        );
        check_case(
            schema.clone(),
            json!({"a": 0, "k": "z", "l": [1], "extra": true}),
            &[
                "$: unexpected field `extra`",
                "$.a: 0 is outside the minimum 1",
                "$.k: \"z\" is not one of [\"x\",\"y\"]",
                "$.l[0]: expected type [\"string\",\"null\"], got 1",
            ],
        );
        check_case(
            json!({"type": "array", "minItems": 1}),
            json!([]),
            &["$: 0 item(s), fewer than minItems 1"],
        );
        check_case(json!({"type": "array", "minItems": 1}), json!([0]), &[]);
        check_case(json!({"maxLength": 2}), json!("éé"), &[]);
        check_case(
            json!({"maxLength": 2}),
            json!("abc"),
            &["$: 3 characters, more than maxLength 2"],
        );
        check_case(
            schema,
            json!({}),
            &[
                "$: missing required field `a`",
                "$: missing required field `k`",
            ],
        );
        let one = json!({"oneOf": [{"const": 1}, {"type": "integer"}]});
        check_case(
            one.clone(),
            json!("s"),
            &["$: 0 of 2 alternatives of oneOf match (closest: $: expected 1, got \"s\")"],
        );
        assert_eq!(validate(&one, &json!(1)).len(), 1, "two alternatives match");
        check_case(
            json!({"pattern": "x"}),
            json!("x"),
            &["$: schema keyword `pattern` is not supported by this checker"],
        );
        check_case(
            json!({"type": "object", "additionalProperties": {"type": "integer"}}),
            json!({"a": 1, "b": "2"}),
            &["$.b: expected type \"integer\", got \"2\""],
        );
    }
}
