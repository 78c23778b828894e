//! The standard-library modules RLM code commonly imports, and the documented gaps. Monty 1.4
//! closed two gaps this test used to assert (`%` formatting, `random`): `language.rs` now
//! asserts that both work.

use crate::support::{check, error_line};

#[tokio::test]
async fn common_modules_work() {
    let cases = [
        (
            "import re\nm = re.search(r'(?P<k>\\w+)=(\\d+)', 'a b=12 c')\nprint(m.group('k'), m.group(2), re.findall(r'\\d+', 'x1y22'), re.sub(r'\\s+', ' ', 'a   b'))",
            "b 12 ['1', '22'] a b\n",
        ),
        (
            "import json\nd = json.loads('{\"a\": [1, 2], \"b\": null}')\nprint(d['a'], d['b'], json.dumps({'k': 1}, sort_keys=True))",
            "[1, 2] None {\"k\": 1}\n",
        ),
        (
            "import math\nprint(math.sqrt(16), math.ceil(2.1), math.gcd(12, 18), round(math.pi, 2))",
            "4.0 3 6 3.14\n",
        ),
        (
            "from collections import Counter, defaultdict, deque\nc = Counter('abca')\nd = defaultdict(list)\nd['k'].append(1)\nq = deque([1, 2], maxlen=2)\nq.append(3)\nprint(c.most_common(1), dict(d), list(q))",
            "[('a', 2)] {'k': [1]} [2, 3]\n",
        ),
        (
            "import itertools\nprint(list(itertools.islice(itertools.count(5), 3)), list(itertools.chain([1], [2])), list(itertools.accumulate([1, 2, 3])))",
            "[5, 6, 7] [1, 2] [1, 3, 6]\n",
        ),
        (
            "from functools import reduce, partial\nadd = lambda a, b: a + b\nprint(reduce(add, [1, 2, 3]), partial(add, 10)(5))",
            "6 15\n",
        ),
        (
            "from datetime import date, timedelta\nd = date(2024, 1, 31) + timedelta(days=1)\nprint(d.isoformat(), d.year)",
            "2024-02-01 2024\n",
        ),
        (
            "from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\n    y: int = 0\np = P(1)\nprint(p, p.x + p.y)",
            "P(x=1, y=0) 1\n",
        ),
        (
            "import asyncio\nasync def double(x):\n    return x * 2\nasync def main():\n    return await asyncio.gather(double(1), double(2))\nprint(asyncio.run(main()))",
            "[2, 4]\n",
        ),
    ];
    for (code, expected) in cases {
        check(code, expected).await;
    }
}

#[tokio::test]
async fn the_documented_gaps_are_real() {
    let cases = [
        ("class E(Exception):\n    pass", "NotImplementedError"),
        ("def g():\n    yield 1", "NotImplementedError"),
        ("x = 1\ndel x", "NotImplementedError"),
        ("import textwrap", "ModuleNotFoundError"),
        ("from collections import OrderedDict", "ImportError"),
        ("print(dir())", "NameError"),
    ];
    for (code, kind) in cases {
        let line = error_line(code).await;
        assert!(line.starts_with(kind), "{code}: {line}");
    }
}
