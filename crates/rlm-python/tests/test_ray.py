"""The README's Ray fan-out example, on a local Ray instance. Ray is not in the pinned test
venv (it is large), so this runs where Ray is installed and is skipped elsewhere."""

from __future__ import annotations

import os
import sys

import pytest
from conftest import repl

ray = pytest.importorskip("ray")

EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "examples"))
sys.path.insert(0, EXAMPLES)


def test_fan_out_on_local_ray(server):
    import ray_fanout

    server.script = lambda m: repl('FINAL(context.upper())')
    # Workers import the example module by name: put its folder on their path.
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": EXAMPLES}},
    )
    try:
        tasks = [{"id": i, "context": f"text {i}", "query": "shout"} for i in range(6)]
        results = ray_fanout.fan_out(tasks, {"model_name": "m", "base_url": server.base_url, "api_key": "k"})
    finally:
        ray.shutdown()
    assert [r["answer"] for r in results] == [f"TEXT {i}" for i in range(6)]
