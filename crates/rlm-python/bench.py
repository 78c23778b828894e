"""Benchmark of the Python package (run by hand; nothing here is asserted in a test).

    python crates/rlm-python/bench.py --server target/debug/rlm-demo-server --cli target/debug/rlm

Starts rlm-testkit's demo server (an OpenAI-compatible fake on 127.0.0.1 whose scripted model
greps the context, asks llm_query_batched about three lines and finishes; 20 ms per request)
and measures, over the same task:

1. overhead per completion: the wall time of ``RLM.completion`` minus the run's own duration
   measured in Rust (``execution_time``), i.e. what the binding adds (settings, context copy,
   result JSON, thread hand-off); and the same completion through ``rlm run --json``
   (its ``duration_ms``, and the process's wall time, start-up included);
2. 100 concurrent completions from 100 Python threads, and from 100 asyncio tasks, against
   one completion alone: serialising on the GIL would make them ~100x slower.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from recursive_lm import RLM



def make_context(lines: int) -> str:
    return "\n".join(
        [f"line {i}: filler text about nothing in particular" for i in range(lines)]
        + ["The fake server lives in the crate rlm-testkit."]
    )
QUERY = "Which crate holds the fake server?"
CONTEXT = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the demo server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="path of the rlm-demo-server binary")
    ap.add_argument("--cli", help="path of the rlm binary (optional)")
    ap.add_argument("-n", type=int, default=50, help="sequential completions")
    ap.add_argument("--concurrent", type=int, default=100)
    ap.add_argument(
        "--lines", type=int, default=2000,
        help="filler lines of the context (the scripted model scores each line in the REPL)",
    )
    args = ap.parse_args()
    global CONTEXT
    CONTEXT = make_context(args.lines)

    port = free_port()
    server = subprocess.Popen([args.server, str(port)], stderr=subprocess.DEVNULL)
    try:
        wait_for(port)
        base = f"http://127.0.0.1:{port}/v1"
        rlm = RLM(backend="openai", backend_kwargs={"model_name": "demo", "base_url": base, "api_key": "x"})
        rlm.completion(CONTEXT, root_prompt=QUERY)  # warm-up

        walls, inner = [], []
        for _ in range(args.n):
            t = time.perf_counter()
            out = rlm.completion(CONTEXT, root_prompt=QUERY)
            walls.append(time.perf_counter() - t)
            inner.append(out.execution_time)
        overhead = [w - i for w, i in zip(walls, inner)]
        print(f"answer: {out.response!r}")
        print(
            f"python completion: median wall {statistics.median(walls)*1e3:.2f} ms, "
            f"median run (Rust) {statistics.median(inner)*1e3:.2f} ms, "
            f"overhead median {statistics.median(overhead)*1e3:.3f} ms, "
            f"p90 {sorted(overhead)[int(0.9*len(overhead))]*1e3:.3f} ms"
        )

        if args.cli:
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
                f.write(CONTEXT)
            cli_walls, cli_inner = [], []
            env = dict(os.environ, OPENAI_API_KEY="x")
            for _ in range(min(args.n, 20)):
                t = time.perf_counter()
                done = subprocess.run(
                    [args.cli, "run", "--context-file", f.name, "--query", QUERY, "--model", "demo",
                     "--base-url", base, "--json", "--quiet"],
                    capture_output=True, text=True, env=env, check=True,
                )
                cli_walls.append(time.perf_counter() - t)
                cli_inner.append(json.loads(done.stdout)["duration_ms"] / 1e3)
            os.unlink(f.name)
            print(
                f"rlm run --json: median run {statistics.median(cli_inner)*1e3:.2f} ms, "
                f"median process wall {statistics.median(cli_walls)*1e3:.2f} ms; "
                f"python wall - CLI run = {(statistics.median(walls) - statistics.median(cli_inner))*1e3:.2f} ms"
            )

        single = statistics.median(walls)
        results = []

        def work() -> None:
            results.append(rlm.completion(CONTEXT, root_prompt=QUERY).response)

        threads = [threading.Thread(target=work) for _ in range(args.concurrent)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
        print(
            f"{args.concurrent} threads: wall {wall*1e3:.0f} ms = {wall/single:.1f}x one completion "
            f"(serialised would be ~{args.concurrent}x); all answered: {len(results) == args.concurrent}"
        )

        async def many() -> list:
            return await asyncio.gather(*[rlm.acompletion(CONTEXT, root_prompt=QUERY) for _ in range(args.concurrent)])

        t = time.perf_counter()
        outs = asyncio.run(many())
        wall = time.perf_counter() - t
        print(
            f"{args.concurrent} asyncio tasks: wall {wall*1e3:.0f} ms = {wall/single:.1f}x one completion; "
            f"all answered: {len(outs) == args.concurrent}"
        )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
