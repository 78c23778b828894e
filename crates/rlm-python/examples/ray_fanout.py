"""Fan a task file out over a Ray cluster, one RLM completion per task.

    python ray_fanout.py tasks.jsonl results.jsonl --model gpt-5-mini [--base-url URL]

``tasks.jsonl`` holds one JSON object per line: ``{"id": ..., "context": ..., "query": ...}``.
Each task runs as a Ray task calling ``recursive_lm.RLM``; inside it the loop, the HTTP calls
and the REPL run in Rust with the GIL released, so one worker can also run many completions
from threads. ``ray.init()`` joins the cluster named by ``RAY_ADDRESS``, or starts a local one.
The same function works with Ray Data: ``ray.data.read_json(path).map(solve)``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List, Optional

import ray

from recursive_lm import RLM, RLMError


def solve(task: Dict[str, Any], backend_kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """One task: the answer and usage, or the error with the partial answer."""
    rlm = RLM(backend="openai", backend_kwargs=backend_kwargs, max_iterations=20)
    try:
        out = rlm.completion(task["context"], root_prompt=task["query"])
        return {"id": task["id"], "answer": out.response, "usage": out.usage_summary.to_dict()}
    except RLMError as err:
        return {"id": task["id"], "error": str(err), "partial_answer": err.partial_answer}


solve_remote = ray.remote(solve)


def fan_out(tasks: List[Dict[str, Any]], backend_kwargs: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Runs every task as a Ray task; results in task order."""
    return ray.get([solve_remote.remote(t, backend_kwargs) for t in tasks])


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tasks")
    ap.add_argument("results")
    ap.add_argument("--model", required=True)
    ap.add_argument("--base-url")
    args = ap.parse_args(argv)
    kwargs = {"model_name": args.model}
    if args.base_url:
        kwargs["base_url"] = args.base_url
    with open(args.tasks) as f:
        tasks = [json.loads(line) for line in f if line.strip()]
    ray.init()
    with open(args.results, "w") as out:
        for result in fan_out(tasks, kwargs):
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
