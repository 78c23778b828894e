//! What Python the sandbox runs: one snippet per construct, each marked supported or not.
//!
//! This table is the source of [`rlm_repl_monty::CAPABILITIES`] (the system prompt's paragraph)
//! and of README's "What the REPL supports": when Monty changes, this test fails on the rows
//! that moved, and the two texts are rewritten from the printed table. Every row's `phrase`
//! must appear in `CAPABILITIES`, in the "has" part for a supported row and after "It does NOT
//! have" for a missing one.

use rlm_repl_monty::CAPABILITIES;

use crate::support::{exec, repl};

/// Supported: the snippet prints `expected` without an error.
const YES: bool = true;
/// Not supported: the snippet raises, and its error's last line starts with `expected`.
const NO: bool = false;

/// `(phrase in CAPABILITIES, snippet, expected output or error prefix, supported)`.
type Row = (&'static str, &'static str, &'static str, bool);

const ROWS: &[Row] = &[
    // The language.
    (
        "closures",
        "def make(n):\n    def add(x):\n        return x + n\n    return add\nprint(make(2)(3))",
        "5\n",
        YES,
    ),
    (
        "classes",
        "class P:\n    def __init__(self, x):\n        self.x = x\n    def __repr__(self):\n        return f'P({self.x})'\nprint(P(1))",
        "P(1)\n",
        YES,
    ),
    (
        "@dataclass",
        "from dataclasses import dataclass, field\n@dataclass\nclass P:\n    x: int\n    tags: list = field(default_factory=list)\nprint(P(1))",
        "P(x=1, tags=[])\n",
        YES,
    ),
    (
        "f-strings",
        "x = 3.14159\nprint(f'{x:.2f} {x!r} {\"s\":>3}')",
        "3.14 3.14159   s\n",
        YES,
    ),
    (
        "str.format",
        "print('{} {:03d}'.format('a', 7))",
        "a 007\n",
        YES,
    ),
    (
        "% string formatting",
        "print('%d items, %s, %.1f' % (5, 'x', 2.25))",
        "5 items, x, 2.2\n",
        YES,
    ),
    (
        "match",
        "def kind(v):\n    match v:\n        case {'k': x}:\n            return f'dict {x}'\n        case [a, *rest]:\n            return f'list {a} {len(rest)}'\n        case _:\n            return 'other'\nprint(kind({'k': 1}), kind([1, 2, 3]), kind(0))",
        "dict 1 list 1 2 other\n",
        YES,
    ),
    (
        "slice assignment",
        "l = [1, 2, 3, 4]\nl[1:3] = [9]\nprint(l)",
        "[1, 9, 4]\n",
        YES,
    ),
    (
        "try/except/finally",
        "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    print('caught', e)\nfinally:\n    print('done')",
        "caught division by zero\ndone\n",
        YES,
    ),
    (
        "comprehensions",
        "print([x * x for x in range(4) if x], {k: v for k, v in [('a', 1)]}, {c for c in 'aa'})",
        "[1, 4, 9] {'a': 1} {'a'}\n",
        YES,
    ),
    (
        "async/await",
        "import asyncio\nasync def two(x):\n    return x * 2\nasync def main():\n    return await asyncio.gather(two(1), two(2))\nprint(asyncio.run(main()))",
        "[2, 4]\n",
        YES,
    ),
    ("eval()", "print(eval('1 + 2'))", "3\n", YES),
    ("exec()", "exec('y = 2')\nprint(y)", "2\n", YES),
    ("format()", "print(format(3.14159, '.2f'))", "3.14\n", YES),
    ("callable()", "print(callable(len))", "NameError", NO),
    (
        "locals()",
        "def f():\n    a = 1\n    return locals()\nprint(f())",
        "{'a': 1}\n",
        YES,
    ),
    (
        "__lt__",
        "class V:\n    def __lt__(self, o):\n        return True\nprint(V() < V())",
        "TypeError",
        NO,
    ),
    (
        "__add__",
        "class V:\n    def __add__(self, o):\n        return 7\nprint(V() + V())",
        "7\n",
        YES,
    ),
    (
        "__getitem__",
        "class V:\n    def __getitem__(self, i):\n        return i * 2\nprint(V()[3])",
        "6\n",
        YES,
    ),
    (
        "__len__",
        "class V:\n    def __len__(self):\n        return 3\nprint(len(V()))",
        "TypeError",
        NO,
    ),
    (
        "class inheritance",
        "class A:\n    def hi(self):\n        return 'a'\nclass B(A):\n    pass\nprint(B().hi())",
        "NotImplementedError",
        NO,
    ),
    (
        "class E(Exception)",
        "class E(Exception):\n    pass\nraise E('x')",
        "NotImplementedError",
        NO,
    ),
    (
        "@property",
        "class C:\n    @property\n    def x(self):\n        return 1\nprint(C().x)",
        "NotImplementedError",
        NO,
    ),
    (
        "yield",
        "def g():\n    yield 1\nprint(list(g()))",
        "NotImplementedError",
        NO,
    ),
    (
        "next(x for x in ...)",
        "print(next(x for x in [1, 2]))",
        "TypeError",
        NO,
    ),
    ("del", "x = 1\ndel x", "NotImplementedError", NO),
    ("dir()", "print(dir())", "NameError", NO),
    ("globals()", "print(len(globals()))", "NameError", NO),
    (
        "re.sub with a function",
        "import re\nprint(re.sub(r'\\d', lambda m: 'N', 'a1'))",
        "TypeError",
        NO,
    ),
    // Modules.
    (
        "re",
        "import re\nm = re.search(r'(?P<k>\\w+)=(\\d+)', 'a b=12')\nprint(m.group('k'), re.findall(r'\\d', 'x1y2'))",
        "b ['1', '2']\n",
        YES,
    ),
    (
        "json",
        "import json\nprint(json.dumps(json.loads('{\"a\": [1, null]}'), sort_keys=True))",
        "{\"a\": [1, null]}\n",
        YES,
    ),
    (
        "math",
        "import math\nprint(math.sqrt(16), math.fsum([0.1] * 10))",
        "4.0 1.0\n",
        YES,
    ),
    (
        "collections",
        "from collections import Counter, defaultdict, deque\nd = defaultdict(int)\nd['a'] += 1\nprint(Counter('abca').most_common(1), dict(d), list(deque([1, 2, 3], maxlen=2)))",
        "[('a', 2)] {'a': 1} [2, 3]\n",
        YES,
    ),
    (
        "OrderedDict",
        "from collections import OrderedDict\nprint(OrderedDict(a=1))",
        "ImportError",
        NO,
    ),
    (
        "itertools",
        "import itertools as it\nprint(list(it.product('ab', repeat=2))[:2], list(it.combinations([1, 2, 3], 2))[0], len(list(it.permutations('abc'))), [(k, len(list(g))) for k, g in it.groupby('aab')])",
        "[('a', 'a'), ('a', 'b')] (1, 2) 6 [('a', 2), ('b', 1)]\n",
        YES,
    ),
    (
        "functools",
        "from functools import lru_cache, reduce, partial\n@lru_cache(maxsize=None)\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nprint(fib(50), reduce(lambda a, b: a + b, [1, 2]), partial(pow, 2)(3))",
        "12586269025 3 8\n",
        YES,
    ),
    (
        "random",
        "import random\nrandom.seed(1)\nx = random.random()\nrandom.seed(1)\nprint(x == random.random(), 1 <= random.randint(1, 6) <= 6, len(random.sample(range(10), 3)))",
        "True True 3\n",
        YES,
    ),
    (
        "hashlib",
        "import hashlib\nprint(hashlib.sha256(b'abc').hexdigest()[:16], hashlib.md5('x'.encode()).hexdigest()[:8])",
        "ba7816bf8f01cfea 9dd4e461\n",
        YES,
    ),
    (
        "time",
        "import time\ntime.sleep(0.01)\nprint('slept')",
        "slept\n",
        YES,
    ),
    (
        "decimal",
        "from decimal import Decimal\nprint(Decimal('0.1') + Decimal('0.2'))",
        "0.3\n",
        YES,
    ),
    ("vars()", "print(vars())", "NameError", NO),
    (
        "asyncio.create_task",
        "import asyncio\nasync def one():\n    return 1\nasync def main():\n    return await asyncio.create_task(one())\nprint(asyncio.run(main()))",
        "AttributeError",
        NO,
    ),
    (
        "csv",
        "import csv\nprint(list(csv.reader(['a,b', '\"c,d\",e'])))",
        "[['a', 'b'], ['c,d', 'e']]\n",
        YES,
    ),
    (
        "copy",
        "import copy\na = [[1]]\nb = copy.deepcopy(a)\nb[0].append(2)\nprint(a, copy.copy(b))",
        "[[1]] [[1, 2]]\n",
        YES,
    ),
    (
        "bisect",
        "import bisect\nl = [1, 3, 5]\nbisect.insort(l, 4)\nprint(l, bisect.bisect_left(l, 3))",
        "[1, 3, 4, 5] 1\n",
        YES,
    ),
    (
        "datetime",
        "from datetime import date, timedelta\nprint((date(2024, 1, 31) + timedelta(days=1)).isoformat())",
        "2024-02-01\n",
        YES,
    ),
    (
        "typing",
        "from typing import Optional\nx: Optional[int] = None\nprint(x)",
        "None\n",
        YES,
    ),
    (
        "base64",
        "import base64\nprint(base64.b64encode(b'hi').decode())",
        "aGk=\n",
        YES,
    ),
    (
        "textwrap",
        "import textwrap\nprint(textwrap.shorten('a b c', 3))",
        "ModuleNotFoundError",
        NO,
    ),
    (
        "statistics",
        "import statistics\nprint(statistics.mean([1, 2]))",
        "ModuleNotFoundError",
        NO,
    ),
    (
        "string",
        "import string\nprint(string.ascii_lowercase[:3])",
        "ModuleNotFoundError",
        NO,
    ),
    (
        "heapq",
        "import heapq\nprint(heapq.nsmallest(1, [3, 1]))",
        "ModuleNotFoundError",
        NO,
    ),
    (
        "io",
        "import io\nprint(io.StringIO('x').read())",
        "ModuleNotFoundError",
        NO,
    ),
    // The sandbox.
    (
        "clock",
        "from datetime import datetime\nprint(datetime.now())",
        "PermissionError",
        NO,
    ),
    (
        "time.time()",
        "import time\nprint(time.time())",
        "PermissionError",
        NO,
    ),
    (
        "file",
        "print(open('/etc/hostname').read())",
        "PermissionError",
        NO,
    ),
];

/// Runs one row: `Ok(stdout)` or `Err(last line of the error)`.
async fn run(code: &str) -> Result<String, String> {
    let out = exec(&mut repl(), code).await;
    match out.error {
        None => Ok(out.stdout),
        Some(error) => Err(error.lines().last().unwrap_or_default().to_string()),
    }
}

#[tokio::test]
async fn each_construct_is_supported_or_not_as_the_capabilities_say() {
    let (has, lacks) = CAPABILITIES
        .split_once("It does NOT have")
        .expect("CAPABILITIES has a 'does NOT have' part");
    let mut table = String::new();
    let mut wrong = Vec::new();
    for (phrase, code, expected, supported) in ROWS {
        let got = run(code).await;
        let ok = match &got {
            Ok(stdout) => *supported && stdout == expected,
            Err(line) => !*supported && line.starts_with(expected),
        };
        let status = if got.is_ok() { "supported" } else { "missing" };
        table.push_str(&format!("{status:9} | {phrase:24} | {got:?}\n"));
        if !ok {
            wrong.push(format!("{phrase}: expected {expected:?}, got {got:?}"));
        }
        let part = if *supported { has } else { lacks };
        if !part.contains(phrase) {
            wrong.push(format!(
                "{phrase}: not in the {} part of CAPABILITIES",
                if *supported { "supported" } else { "missing" }
            ));
        }
    }
    println!("{table}");
    assert!(wrong.is_empty(), "{}\n{table}", wrong.join("\n"));
}
