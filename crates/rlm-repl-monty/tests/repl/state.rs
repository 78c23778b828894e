//! Session state, errors and output capture.

use rlm_core::{Repl, ReplConfig, ReplFactory, VariableInfo};
use rlm_repl_monty::{BACKEND_NAME, CAPABILITIES, MontyReplFactory};

use crate::support::{exec, exec_ok, repl, repl_with};

#[tokio::test]
async fn variables_functions_and_classes_persist() {
    let mut r = repl();
    exec_ok(&mut r, "x = 40\ndef add(a, b=2):\n    return a + b\nclass Box:\n    def __init__(self, v):\n        self.v = v", "").await;
    exec_ok(&mut r, "b = Box(add(x))\nprint(b.v)", "42\n").await;
    exec_ok(
        &mut r,
        "print(x, add(1, 1), type(b).__name__)",
        "40 2 Box\n",
    )
    .await;
}

#[tokio::test]
async fn a_runtime_error_keeps_prior_and_partial_state() {
    let mut r = repl();
    exec_ok(&mut r, "a = 1", "").await;
    let out = exec(&mut r, "b = 2\nprint('before')\nc = 1 / 0\nd = 4").await;
    assert_eq!(out.stdout, "before\n");
    let error = out.error.unwrap();
    assert!(
        error.starts_with("Traceback (most recent call last):"),
        "{error}"
    );
    assert!(error.contains("line 3"), "{error}");
    assert!(
        error.ends_with("ZeroDivisionError: division by zero"),
        "{error}"
    );
    exec_ok(
        &mut r,
        "print(a, b)\nprint(\"'d':\" in SHOW_VARS())",
        "1 2\nFalse\n",
    )
    .await;
}

#[tokio::test]
async fn syntax_errors_are_reported_and_the_session_survives() {
    let mut r = repl();
    exec_ok(&mut r, "keep = 'me'", "").await;
    let out = exec(&mut r, "print(keep\n").await;
    let error = out.error.unwrap();
    assert!(error.contains("SyntaxError"), "{error}");
    assert!(error.contains("File \"<python-input-"), "{error}");
    let out = exec(&mut r, "```python\nprint(1)").await;
    assert!(out.error.unwrap().contains("SyntaxError"));
    exec_ok(&mut r, "print(keep)", "me\n").await;
}

#[tokio::test]
async fn errors_raised_in_functions_from_earlier_blocks_show_both_frames() {
    let mut r = repl();
    exec_ok(&mut r, "def bad(x):\n    return x['missing']", "").await;
    let error = exec(&mut r, "bad({})").await.error.unwrap();
    assert!(error.contains("in bad"), "{error}");
    // Monty prints `KeyError: missing` where CPython prints `KeyError: 'missing'`.
    assert!(
        error.lines().last().unwrap().starts_with("KeyError: "),
        "{error}"
    );
}

#[tokio::test]
async fn output_past_the_cap_is_dropped_and_flagged_and_the_code_goes_on() {
    let mut r = repl_with(ReplConfig {
        max_output_bytes: 10,
        ..ReplConfig::default()
    });
    let out = exec(&mut r, "for i in range(100):\n    print(i)\ndone = True").await;
    assert_eq!(out.error, None);
    assert_eq!(out.stdout, "0\n1\n2\n3\n4\n");
    assert!(out.output_truncated);
    let out = exec(&mut r, "print(done)").await;
    assert_eq!(
        (out.stdout.as_str(), out.output_truncated),
        ("True\n", false)
    );
}

/// Once listed, the variables are listed again at the end of every block (on the block's own
/// trip to the interpreter): each listing must still be the state of that moment, after blocks
/// that bind, rebind, fail half-way or finish, and after `set_variable`.
#[tokio::test]
async fn variables_stay_current_after_every_kind_of_change() {
    let mut r = repl();
    let names = |vars: Vec<VariableInfo>| -> Vec<String> {
        vars.into_iter()
            .map(|v| format!("{}:{}", v.name, v.type_name))
            .collect()
    };
    assert_eq!(names(r.variables().await.unwrap()), ["answer:dict"]);
    exec_ok(&mut r, "a = 1", "").await;
    assert_eq!(
        names(r.variables().await.unwrap()),
        ["a:int", "answer:dict"]
    );
    assert_eq!(
        names(r.variables().await.unwrap()),
        ["a:int", "answer:dict"]
    );
    exec_ok(&mut r, "a = 'x'\nb = [a]", "").await;
    assert_eq!(
        names(r.variables().await.unwrap()),
        ["a:str", "answer:dict", "b:list"]
    );
    let failed = exec(&mut r, "c = 2\nraise ValueError('half-way')").await;
    assert!(failed.error.unwrap().contains("ValueError"));
    assert_eq!(
        names(r.variables().await.unwrap()),
        ["a:str", "answer:dict", "b:list", "c:int"]
    );
    r.set_variable("d", rlm_core::ReplValue::Int(4))
        .await
        .unwrap();
    assert_eq!(
        r.get_variable("d").await.unwrap(),
        Some(rlm_core::ReplValue::Int(4))
    );
    assert_eq!(
        names(r.variables().await.unwrap()),
        ["a:str", "answer:dict", "b:list", "c:int", "d:int"]
    );
    // A ready answer is read and the dict reset; a rebound `answer` is reset too.
    exec_ok(&mut r, "answer = 5\ne = None", "").await;
    assert_eq!(
        names(r.variables().await.unwrap()),
        [
            "a:str",
            "answer:dict",
            "b:list",
            "c:int",
            "d:int",
            "e:NoneType"
        ]
    );
}

#[tokio::test]
async fn variables_lists_user_state_but_not_runtime_or_modules() {
    let mut r = repl();
    r.set_variable("context", "abc".into()).await.unwrap();
    exec_ok(&mut r, "import re\nn = 3\n_hidden = 1\ndef f():\n    local = 1\n    return local\nsum = 0\nlen([1])", "").await;
    let vars = r.variables().await.unwrap();
    let var = |n: &str, t: &str| VariableInfo {
        name: n.into(),
        type_name: t.into(),
    };
    assert_eq!(
        vars,
        [
            var("answer", "dict"),
            var("context", "str"),
            var("f", "function"),
            var("n", "int"),
            var("sum", "int")
        ]
    );
}

#[tokio::test]
async fn execution_reports_duration_and_host_calls() {
    let mut r = repl();
    let out = exec(
        &mut r,
        "a = llm_query('x')\nb = llm_query_batched(['y', 'z'])\nc = rlm_query('w')",
    )
    .await;
    assert_eq!(out.host_calls, 3);
    assert!(out.duration > std::time::Duration::ZERO);
    assert_eq!(exec(&mut r, "pass").await.host_calls, 0);
}

#[tokio::test]
async fn the_factory_creates_sessions_and_describes_them() {
    let factory = MontyReplFactory::new();
    assert_eq!(factory.backend_name(), BACKEND_NAME);
    let mut r = factory.create(&ReplConfig::default()).await.unwrap();
    assert_eq!(r.backend_name(), "monty");
    let out = r
        .execute("print(1 + 1)", crate::support::TestHost::echo())
        .await
        .unwrap();
    assert_eq!(out.stdout, "2\n");
    let caps = factory.capabilities();
    assert_eq!(caps, CAPABILITIES);
    for needle in [
        "class inheritance",
        "yield",
        "% string formatting",
        "OrderedDict",
        "groupby",
        "re, json, math",
    ] {
        assert!(
            caps.contains(needle),
            "capabilities should mention {needle}"
        );
    }
}

/// `variables()` names types from the heap (a vendored Monty patch), without running code; it
/// must say what `type(v).__name__` says in Python, and what the in-block probe (`SHOW_VARS`)
/// says, for every kind of value a block can bind.
#[tokio::test]
async fn listed_type_names_are_python_s_own() {
    let values = [
        "1",
        "10 ** 30",
        "1.5",
        "True",
        "None",
        "'text'",
        "b'raw'",
        "[1]",
        "(1,)",
        "{'k': 1}",
        "{1}",
        "frozenset({1})",
        "range(3)",
        "slice(1, 2)",
        "1j",
        "...",
        "len",
        "print",
        "int",
        "str.upper",
        "'a'.upper",
        "lambda q: q",
        "iter([1])",
        "iter('ab')",
        "iter({1: 2})",
        "{1: 2}.keys()",
        "{1: 2}.items()",
        "zip([1], [2])",
        "map(str, [1])",
        "enumerate([1])",
        "reversed([1])",
        "ValueError('bad')",
        "ValueError",
        "Point(1, 2)",
        "Point",
        "Box()",
        "Box",
        "Box().method",
        "json",
        "json.dumps",
        "re.compile('a')",
        "re.match('a', 'a')",
        "collections.deque([1])",
        "collections.Counter('aab')",
        "collections.OrderedDict()",
        "collections.defaultdict(list)",
        "functools.partial(max, 1)",
        "datetime.date(2026, 1, 1)",
        "datetime.datetime(2026, 1, 1)",
        "datetime.timedelta(1)",
        "decimal.Decimal('1.5')",
        "random.Random(1)",
        "itertools.count()",
        "hashlib.sha256(b'')",
        "type(None)",
        "NotImplemented",
    ];
    let mut r = repl();
    exec_ok(
        &mut r,
        "import json, re, collections, functools, datetime, decimal, random, itertools, hashlib\n\
         Point = collections.namedtuple('Point', 'x y')\n\
         class Box:\n    def method(self):\n        return 1",
        "",
    )
    .await;
    let mut code = String::new();
    for (i, value) in values.iter().enumerate() {
        // A value this interpreter cannot make is skipped (printed as `-`).
        code.push_str(&format!(
            "try:\n    v{i} = {value}\n    print(type(v{i}).__name__)\nexcept Exception:\n    print('-')\n"
        ));
    }
    let out = exec(&mut r, &code).await;
    assert_eq!(out.error, None);
    let python: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(python.len(), values.len());
    let listed = r.variables().await.unwrap();
    let shown = exec(&mut r, "print(SHOW_VARS())").await.stdout;
    let mut checked = 0;
    for (i, value) in values.iter().enumerate() {
        let name = format!("v{i}");
        let expected = python[i];
        if expected == "-" {
            continue;
        }
        checked += 1;
        let found = listed.iter().find(|v| v.name == name);
        if expected == "module" {
            assert_eq!(found, None, "modules are not variables ({value})");
            continue;
        }
        assert_eq!(
            found.map(|v| v.type_name.as_str()),
            Some(expected),
            "{value}"
        );
        assert!(
            shown.contains(&format!("'{name}': '{expected}'")),
            "SHOW_VARS and variables() disagree on {value}: {shown}"
        );
    }
    assert!(
        checked >= 50,
        "only {checked} values could be made: {python:?}"
    );
}
