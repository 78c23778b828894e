"""The official library's API against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import _thread
import asyncio
import glob
import json
import os
import threading
import time

import pytest
from conftest import all_text, last_user, repl

import recursive_lm
from recursive_lm import (
    RLM,
    BudgetExceeded,
    ErrorThresholdExceeded,
    ProviderError,
    RLMChatCompletion,
    RLMError,
    RLMLogger,
    RLMTimeoutError,
)


def make(server, **kw):
    kwargs = {"model_name": "fake-model", "base_url": server.base_url, "api_key": "sk-test-secret"}
    return RLM(backend="openai", backend_kwargs=kwargs, **kw)


def finishing(messages):
    if len(messages) == 1:  # an llm_query sub-call
        return "sub:" + messages[0]["content"]
    return repl('x = llm_query("hello")\nFINAL(x + "|" + str(len(context)))')


def test_completion_returns_the_official_fields(server):
    server.script = finishing
    out = make(server).completion("abcdef", root_prompt="what?")
    assert isinstance(out, RLMChatCompletion)
    assert out.response == "sub:hello|6"
    assert out.root_model == "fake-model"
    assert out.prompt == "abcdef"
    usage = out.usage_summary.to_dict()["model_usage_summaries"]["fake-model"]
    assert usage["total_calls"] == 2
    assert usage["total_input_tokens"] == 20 and usage["total_output_tokens"] == 10
    assert out.execution_time > 0
    assert out.metadata["outcome"] == "finished"
    assert set(out.to_dict()) >= {"root_model", "prompt", "response", "usage_summary", "execution_time"}
    assert server.requests[0]["auth"] == "Bearer sk-test-secret"
    assert "what?" in all_text(server.requests[0]["body"]["messages"])


def test_a_list_or_dict_context_is_data_in_the_repl(server):
    server.script = lambda m: repl('FINAL(str(context["n"] + len(context["items"])))')
    assert make(server).completion({"n": 40, "items": [1, 2]}, root_prompt="q").response == "42"


def test_acompletion_and_many_at_once(server):
    server.script = finishing

    async def main():
        rlm = make(server)
        outs = await asyncio.gather(*[rlm.acompletion("c" * i, root_prompt="q") for i in range(1, 21)])
        return [o.response for o in outs]

    assert asyncio.run(main()) == [f"sub:hello|{i}" for i in range(1, 21)]


def test_acompletion_cancel_cancels_the_run(server):
    server.latency = 0.3
    server.script = lambda m: repl("print(1)")

    async def main():
        task = asyncio.ensure_future(make(server, max_iterations=50).acompletion("c", root_prompt="q"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_threads_share_one_rlm(server):
    server.script = finishing
    rlm = make(server)
    results = {}

    def work(i):
        results[i] = rlm.completion("x" * i, root_prompt="q").response

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, 11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"sub:hello|{i}" for i in range(1, 11)}


def test_logger_writes_the_official_format(server, tmp_path):
    server.script = finishing
    logger = RLMLogger(log_dir=str(tmp_path))
    make(server, logger=logger).completion("abc", root_prompt="q")
    files = glob.glob(str(tmp_path / "*.jsonl"))
    assert files == [logger.log_file_path]
    lines = [json.loads(l) for l in open(files[0])]
    assert lines[0]["type"] == "metadata"
    assert lines[0]["root_model"] == "fake-model"
    assert lines[0]["backend"] == "openai"
    assert lines[1]["type"] == "iteration"
    assert lines[1]["final_answer"] == "sub:hello|3"
    calls = lines[1]["code_blocks"][0]["result"]["rlm_calls"]
    assert calls[0]["response"] == "sub:hello"
    assert "sk-test-secret" not in open(files[0]).read()


def test_callbacks(server):
    server.script = finishing
    events = []
    make(
        server,
        on_iteration_start=lambda depth, i: events.append(("start", depth, i)),
        on_iteration_complete=lambda depth, i, secs: events.append(("done", depth, i)),
    ).completion("c", root_prompt="q")
    assert events == [("start", 0, 1), ("done", 0, 1)]


def test_refused_key_is_a_provider_error(server):
    server.script = lambda m: (401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
    with pytest.raises(ProviderError) as info:
        make(server).completion("c", root_prompt="q")
    assert info.value.llm_error == "authentication"
    assert isinstance(info.value, RLMError)
    assert "sk-test-secret" not in str(info.value)


def test_budget_carries_partial_answer_and_usage(server):
    server.script = lambda m: repl('answer["content"] = "half"\nprint(1)')
    with pytest.raises(BudgetExceeded) as info:
        make(server, max_tokens=300).completion("c", root_prompt="q")
    err = info.value
    assert err.partial_answer in ("", "half")
    assert err.usage is not None
    assert err.result["kind"] == "budget"


def test_timeout_is_a_timeout_error(server):
    server.latency = 1.0
    server.script = lambda m: repl("print(1)")
    with pytest.raises(RLMTimeoutError) as info:
        make(server, max_timeout=0.2).completion("c", root_prompt="q")
    assert isinstance(info.value, TimeoutError)


def test_error_threshold(server):
    server.script = lambda m: repl("1/0")
    with pytest.raises(ErrorThresholdExceeded):
        make(server, max_errors=2).completion("c", root_prompt="q")


def test_ctrl_c_cancels_a_running_completion(server):
    server.latency = 0.2
    server.script = lambda m: repl("print(1)")
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        make(server, max_iterations=1000).completion("c", root_prompt="q")
    timer.join()


def test_features_of_issue_12_are_built(server):
    """These keywords raised NotImplementedError before issue 14; each now builds (their
    behaviour is tested in test_tools_sessions.py)."""
    server.script = finishing
    for kw in (
        {"persistent": True},
        {"custom_tools": {"f": len}},
        {"custom_sub_tools": {}, "custom_tools": {}},
        {"compaction": True},
        {"sampling_args": {"top_p": 0.5}},
    ):
        with make(server, **kw) as rlm:
            assert rlm.completion("c", root_prompt="q").response == "sub:hello|1"


def test_sampling_temperature_and_max_tokens_are_sent(server):
    server.script = finishing
    make(server, sampling_args={"temperature": 0.25, "max_tokens": 77}).completion("c", root_prompt="q")
    body = server.requests[0]["body"]
    assert body["temperature"] == 0.25
    assert 77 in (body.get("max_tokens"), body.get("max_completion_tokens"))


def test_bad_settings_are_value_errors(server):
    with pytest.raises(ValueError):
        RLM(backend="nope", backend_kwargs={"model_name": "m"})
    with pytest.raises(ValueError):
        make(server, environment="docker")


def test_package_metadata():
    assert recursive_lm.__version__
    root = os.path.dirname(recursive_lm.__file__)
    assert os.path.exists(os.path.join(root, "py.typed"))
    assert os.path.exists(os.path.join(root, "_native.pyi"))
    # The tests run against the installed wheel, not the source tree.
    assert "site-packages" in root
