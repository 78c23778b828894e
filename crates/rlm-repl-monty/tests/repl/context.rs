//! Injecting and reading values: conversions, reserved names, a large context.

use rlm_core::{Repl, ReplValue};

use crate::support::{exec, exec_ok, repl};

fn s(text: &str) -> ReplValue {
    ReplValue::Str(text.into())
}

#[tokio::test]
async fn injected_values_arrive_as_python_values() {
    let cases: Vec<(ReplValue, &str)> = vec![
        (ReplValue::None, "NoneType None"),
        (ReplValue::Bool(true), "bool True"),
        (ReplValue::Int(-5), "int -5"),
        (ReplValue::Float(1.5), "float 1.5"),
        (s("it's"), "str \"it's\""),
        (ReplValue::Bytes(b"a\x00".to_vec()), "bytes b'a\\x00'"),
        (
            ReplValue::List(vec![ReplValue::Int(1), s("x")]),
            "list [1, 'x']",
        ),
        (ReplValue::Tuple(vec![ReplValue::Int(1)]), "tuple (1,)"),
        (
            ReplValue::Dict(vec![(s("k"), ReplValue::List(vec![ReplValue::None]))]),
            "dict {'k': [None]}",
        ),
    ];
    let mut r = repl();
    for (value, expected) in cases {
        r.set_variable("v", value.clone()).await.unwrap();
        exec_ok(
            &mut r,
            "print(type(v).__name__, repr(v))",
            &format!("{expected}\n"),
        )
        .await;
        assert_eq!(r.get_variable("v").await.unwrap(), Some(value));
    }
}

#[tokio::test]
async fn values_read_back_convert_to_plain_data_or_other() {
    let mut r = repl();
    exec_ok(
        &mut r,
        "a = {'n': 42, 'items': [1, 2.5, None, True], 't': ('x', b'y')}\nb = {1, 2}\nc = 2 ** 70\nimport re\nclass P:\n    pass\np = P()",
        "",
    )
    .await;
    let a = r.get_variable("a").await.unwrap().unwrap();
    assert_eq!(
        a.repr(),
        "{'n': 42, 'items': [1, 2.5, None, True], 't': ('x', b'y')}"
    );
    let other = |type_name: &str, repr: &str| {
        Some(ReplValue::Other {
            type_name: type_name.into(),
            repr: repr.into(),
        })
    };
    assert_eq!(r.get_variable("b").await.unwrap(), other("set", "{1, 2}"));
    assert_eq!(
        r.get_variable("c").await.unwrap(),
        other("int", "1180591620717411303424")
    );
    assert_eq!(
        r.get_variable("re").await.unwrap(),
        other("module", "<module 're'>")
    );
    let Some(ReplValue::Other { type_name, .. }) = r.get_variable("p").await.unwrap() else {
        panic!("p")
    };
    assert_eq!(type_name, "P");
    assert_eq!(r.get_variable("nothing_here").await.unwrap(), None);
}

#[tokio::test]
async fn reinjecting_a_name_replaces_its_value() {
    let mut r = repl();
    r.set_variable("context", s("first")).await.unwrap();
    r.set_variable("context", s("second")).await.unwrap();
    exec_ok(&mut r, "print(context)", "second\n").await;
}

#[tokio::test]
async fn a_ten_megabyte_context_works_across_many_executions() {
    let line = "2024-01-01 INFO request served in 12ms\n";
    let big: String = line.repeat(10 * 1024 * 1024 / line.len());
    let len = big.chars().count();
    let lines = big.lines().count();
    let mut r = repl();
    r.set_variable("context", ReplValue::Str(big))
        .await
        .unwrap();
    for i in 0..20 {
        let out = exec(
            &mut r,
            &format!("n{i} = len(context)\nprint(n{i}, context[:4])"),
        )
        .await;
        assert_eq!(out.error, None);
        assert_eq!(out.stdout, format!("{len} 2024\n"));
    }
    exec_ok(
        &mut r,
        "print(context.count('INFO'), 'ERROR' in context)",
        &format!("{lines} False\n"),
    )
    .await;
    let vars = r.variables().await.unwrap();
    assert!(
        vars.iter()
            .any(|v| v.name == "context" && v.type_name == "str")
    );
    assert_eq!(vars.iter().filter(|v| v.name.starts_with('n')).count(), 20);
}
