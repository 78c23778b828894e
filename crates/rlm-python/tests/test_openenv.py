"""The seed's contract: OpenEnv's TestLocalRLMRunner cases, ported (anchors.md §3.2).

Mock chat functions route by what only one kind of call contains: a child run is asked its
prompt (``CHILD-...``), which the root never sees before its code runs.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
from conftest import all_text, repl

from recursive_lm.openenv import (
    BackendLimits,
    ChildTrace,
    DirectLMBackend,
    LocalChildRLMBackend,
    LocalRLMRunner,
    RLMRunResult,
)


def child_name(messages):
    found = re.search(r"CHILD-([A-Za-z0-9]+)", "\n".join(m["content"] for m in messages if m["role"] != "assistant"))
    return found.group(1) if found else None


def routed(root_code, child=lambda name: repl(f"FINAL({name!r})")):
    """A chat function: children answer ``child(name)``, the root runs ``root_code``."""

    def chat(messages, model=None):
        if "ROOT-TASK" in all_text(messages):
            return repl(root_code)
        return child(child_name(messages))

    return chat


def run(chat, **kw):
    return LocalRLMRunner(chat, **kw).run("some context", "ROOT-TASK")


def test_rlm_query_spawns_a_child_that_answers():
    result = run(routed('FINAL(rlm_query("CHILD-42"))', child=lambda n: repl(f"FINAL({n!r})")))
    assert isinstance(result, RLMRunResult)
    assert result.final_answer == "42"
    assert result.depth == 0 and result.iterations == 1


def test_rlm_query_batched_keeps_order():
    result = run(routed('FINAL("".join(rlm_query_batched(["CHILD-A", "CHILD-B"])))'))
    assert result.final_answer == "AB"


def test_all_blocks_of_a_reply_run_before_final():
    def chat(messages, model=None):
        return repl("a = 10") + "\n" + repl("b = a * 3\nFINAL(str(b))")

    assert run(chat).final_answer == "30"


def test_max_children_total_refuses_the_second_child():
    result = run(
        routed('a = rlm_query("CHILD-A")\nb = rlm_query("CHILD-B")\nFINAL(a + "|" + b)'),
        max_children_total=1,
    )
    first, second = result.final_answer.split("|", 1)
    assert first == "A"
    assert second.startswith("Error: max_children_total exceeded")


def test_max_children_per_batch_shortens_the_list_as_repl_env_does():
    result = run(
        routed('r = rlm_query_batched(["CHILD-A", "CHILD-B", "CHILD-C"])\nFINAL("".join(r) + "|" + str(len(r)))'),
        max_children_per_batch=2,
    )
    assert result.final_answer == "AB|2"


def test_a_printed_final_finishes_as_in_repl_env():
    calls = []

    def chat(messages, model=None):
        calls.append(1)
        return repl("x = 6 * 7\nprint(f'FINAL({x})')")

    result = run(chat)
    assert result.final_answer == "42"
    assert len(calls) == 1


def test_result_truncation_limit_cuts_child_results():
    result = run(
        routed('FINAL(rlm_query("CHILD-X"))', child=lambda n: repl('FINAL("abcdefghij")')),
        result_truncation_limit=5,
    )
    assert result.final_answer == "abcde"


def test_a_child_leaves_a_trace():
    result = run(routed('FINAL(rlm_query("CHILD-7"))'))
    assert len(result.child_traces) == 1
    trace = result.child_traces[0]
    assert isinstance(trace, ChildTrace)
    assert trace.depth == 1
    assert "CHILD-7" in trace.prompt_preview
    assert trace.result_preview == "7"
    assert trace.error is None
    assert trace.duration_s >= 0


def test_per_child_timeout_stops_a_slow_child():
    def slow(name):
        time.sleep(2)
        return repl("FINAL('late')")

    result = run(routed('FINAL(rlm_query("CHILD-S"))', child=slow), per_child_timeout_s=0.05)
    assert "child timeout" in result.final_answer


def test_subcall_callbacks_fire_once_with_depth_one():
    started, completed = [], []
    result = run(
        routed('FINAL(rlm_query("CHILD-C"))'),
        on_subcall_start=lambda depth, model, preview: started.append((depth, model, preview)),
        on_subcall_complete=lambda depth, model, duration, error: completed.append((depth, model, duration, error)),
    )
    assert result.final_answer == "C"
    assert len(started) == 1 and len(completed) == 1
    assert started[0][0] == 1 and "CHILD-C" in started[0][2]
    assert completed[0][0] == 1 and completed[0][3] is None
    assert isinstance(completed[0][2], float)


def test_default_answer_when_iterations_run_out():
    calls = []

    def chat(messages, model=None):
        calls.append(1)
        if len(calls) <= 2:
            return repl("print('still working')")
        return "FINAL(fallback-answer)"

    result = run(chat, max_iterations=2)
    assert result.final_answer == "fallback-answer"
    assert result.iterations == 2


def test_chat_function_without_model_parameter_and_with_model():
    seen = []

    def no_model(messages):
        return repl("FINAL('plain')")

    assert run(no_model).final_answer == "plain"

    def with_model(messages, model=None):
        seen.append(model)
        return repl("FINAL('m')")

    assert LocalRLMRunner(with_model).run("c", "t").final_answer == "m"
    assert LocalRLMRunner(with_model).run("c", "t", model="my-model").final_answer == "m"
    assert seen == [None, "my-model"]


def test_llm_query_uses_the_chat_function():
    def chat(messages, model=None):
        if "SUB-Q" in messages[-1]["content"] and len(messages) == 1:
            return "sub-answer"
        return repl('FINAL(llm_query("SUB-Q"))')

    assert run(chat).final_answer == "sub-answer"


def test_callbacks_errors_are_ignored_and_the_gil_is_free_while_running():
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()

    def chat(messages, model=None):
        time.sleep(0.05)
        return repl("FINAL('done')")

    def bad(*args):
        raise RuntimeError("callback bug")

    result = run(chat, on_subcall_start=bad)
    stop.set()
    t.join()
    assert result.final_answer == "done"
    assert ticks  # another Python thread ran during the completion


def test_backend_limits_and_direct_backend_keep_the_seed_fields():
    limits = BackendLimits()
    assert (limits.max_depth, limits.max_batch_workers) == (1, 8)
    assert limits.max_children_total is None and limits.per_child_timeout_s is None
    backend = DirectLMBackend(lambda m, model=None: "x" * 10, limits=BackendLimits(result_truncation_limit=3))
    assert backend.query("hi") == "xxx"
    assert backend.query_batched(["a", "b"]) == ["xxx", "xxx"]
    child = LocalChildRLMBackend(
        lambda m, model=None: repl("FINAL('kid')"), limits=BackendLimits(max_depth=2)
    )
    assert child.recursive_query("CHILD-K") == "kid"
    assert child.child_traces[0].depth == 1


def test_backend_factory_answers_every_sub_call():
    """repl_env's backend_factory: called with the chat function and the runner's settings;
    its backend answers the four sub-calls, and its child_traces are the result's."""
    made = []

    class Backend:
        def __init__(self, chat, **kw):
            made.append(kw)
            self.child_traces = [ChildTrace(1, 0.5, "p", "r", None)]

        def query(self, prompt, model=None):
            return f"q:{prompt}:{model}"

        def query_batched(self, prompts, model=None):
            return [f"qb:{p}" for p in prompts]

        def recursive_query(self, prompt, model=None):
            if prompt == "boom":
                raise ValueError("backend failed")
            return f"r:{prompt}"

        def recursive_query_batched(self, prompts, model=None):
            return [f"rb:{p}" for p in prompts]

    code = (
        'parts = [llm_query("a", model="m1"), *llm_query_batched(["b", "c"]), rlm_query("d"), '
        '*rlm_query_batched(["e"])]\n'
        'try:\n    rlm_query("boom")\nexcept ValueError as e:\n    parts.append("caught:" + str(e))\n'
        'FINAL("|".join(parts))'
    )
    runner = LocalRLMRunner(routed(code), max_iterations=7, backend_factory=Backend)
    result = runner.run("some context", "ROOT-TASK")
    assert result.final_answer == "q:a:m1|qb:b|qb:c|r:d|rb:e|caught:backend failed"
    assert made == [
        {"system_prompt": None, "max_iterations": 7, "depth": 0, "env_max_iterations_multiplier": 5}
    ]
    assert result.child_traces == [ChildTrace(1, 0.5, "p", "r", None)]


def test_backend_factory_with_the_seed_child_backend_recurses_in_python():
    """The seed's own LocalChildRLMBackend as the factory's product: rlm_query runs a child
    LocalRLMRunner and the trace comes from the Python backend."""

    def factory(chat, **kw):
        return LocalChildRLMBackend(
            chat,
            runner_factory=LocalRLMRunner,
            system_prompt=kw["system_prompt"],
            max_iterations=kw["max_iterations"],
            env_max_iterations_multiplier=kw["env_max_iterations_multiplier"],
            depth=kw["depth"],
            limits=BackendLimits(max_depth=2),
        )

    result = run(routed('FINAL(rlm_query("CHILD-7"))'), backend_factory=factory)
    assert result.final_answer == "7"
    assert len(result.child_traces) == 1 and result.child_traces[0].result_preview == "7"


def test_timeout_raises_timeout_error_with_partial_answer():
    from recursive_lm import RLMTimeoutError

    def chat(messages, model=None):
        time.sleep(1)
        return repl("print(1)")

    with pytest.raises(TimeoutError) as info:
        LocalRLMRunner(chat).run("c", "t", timeout_s=0.1)
    assert isinstance(info.value, RLMTimeoutError)
    assert info.value.partial_answer == ""


def test_a_runner_below_the_root_counts_depth_from_its_own():
    # A runner made at depth 1 of max_depth 2 (as the seed's child runners are) makes plain
    # LLM calls for rlm_query, not children.
    def chat(messages, model=None):
        if len(messages) == 1:
            return "plain:" + messages[0]["content"]
        return repl('FINAL(rlm_query("CHILD-Z"))')

    result = LocalRLMRunner(chat, max_depth=2, depth=1).run("c", "t")
    assert result.final_answer == "plain:CHILD-Z"
    assert result.depth == 1
    assert result.child_traces == []


def test_child_backend_fires_the_callbacks_and_times_the_child():
    seen = []
    child = LocalChildRLMBackend(
        lambda m, model=None: repl("FINAL('kid')"),
        limits=BackendLimits(max_depth=2),
        on_subcall_start=lambda d, m, p: seen.append(("start", d, m)),
        on_subcall_complete=lambda d, m, secs, err: seen.append(("done", d, m, err)),
    )
    assert child.recursive_query("CHILD-K") == "kid"
    assert seen == [("start", 1, "default"), ("done", 1, "default", None)]
    assert child.child_traces[0].duration_s > 0
