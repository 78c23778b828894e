"""Issue 14's remaining keywords of the official API against the fake server on 127.0.0.1:
custom tools (Python callables the REPL calls back into, and data), persistent sessions,
compaction and the full sampling settings."""

from __future__ import annotations

import asyncio
import threading

import pytest
from conftest import all_text, repl

from recursive_lm import RLM


def make(server, model="fake-model", **kw):
    kwargs = {"model_name": model, "base_url": server.base_url, "api_key": "sk-test"}
    return RLM(backend="openai", backend_kwargs=kwargs, **kw)


def system_prompt(server):
    return server.requests[0]["body"]["messages"][0]["content"]


def test_custom_tools_are_called_back_and_data_is_bound(server):
    seen = []

    def lookup(word, n=1):
        seen.append(threading.current_thread() is threading.main_thread())
        return {"hits": n, "pair": (1, 2), "word": word}

    def boom():
        raise ValueError("bad input")

    tools = {
        "double": lambda x: x * 2,
        "lookup": {"tool": lookup, "description": "Finds a word in the index."},
        "LIMITS": {"tool": {"max": 3}, "description": "The limits."},
        "SCALE": 10,
        "boom": boom,
    }
    code = (
        'r = [double(21), lookup("cat", n=2), LIMITS["max"], SCALE]\n'
        "try:\n    boom()\nexcept ValueError as e:\n    r.append('caught ' + str(e))\n"
        "FINAL(str(r))"
    )
    server.script = lambda m: repl(code)
    out = make(server, custom_tools=tools).completion("c", root_prompt="q")
    assert out.response == "[42, {'hits': 2, 'pair': [1, 2], 'word': 'cat'}, 3, 10, 'caught bad input']"
    assert seen == [False]  # called on the runtime's blocking pool, not the caller's thread
    prompt = system_prompt(server)
    assert "`lookup(...)`: Finds a word in the index." in prompt
    assert "`LIMITS` (dict): The limits." in prompt
    assert "`double(...)`: A custom function." in prompt


def test_a_tool_that_raises_is_an_error_the_model_sees(server):
    def broken(x):
        raise KeyError("no such key")

    def script(messages):
        if "KeyError" in all_text(messages[2:]):
            return "FINAL(saw the error)"
        return repl("broken(1)")

    server.script = script
    out = make(server, custom_tools={"broken": broken}).completion("c", root_prompt="q")
    assert out.response == "saw the error"
    assert out.metadata["iterations"] == 2


def test_a_tool_result_that_is_not_json_is_sent_as_text(server):
    server.script = lambda m: repl("FINAL(now())")
    out = make(server, custom_tools={"now": lambda: object.__new__(Opaque)}).completion("c", root_prompt="q")
    assert out.response == "opaque"


class Opaque:
    def __str__(self) -> str:
        return "opaque"


def test_child_rlms_get_the_same_tools(server):
    def script(messages):
        text = all_text(messages)
        if "CHILD-TASK" in text and "ROOT-TASK" not in text:
            return repl("FINAL(str(double(4)))")
        return repl('FINAL("child said " + rlm_query("CHILD-TASK"))')

    server.script = script
    out = make(server, max_depth=2, custom_tools={"double": lambda x: x * 2}).completion(
        "c", root_prompt="ROOT-TASK"
    )
    assert out.response == "child said 8"


def test_bad_tools_are_refused_at_construction(server):
    with pytest.raises(ValueError, match="llm_query"):
        make(server, custom_tools={"llm_query": len, "ok": len})
    with pytest.raises(TypeError, match="JSON-like"):
        make(server, custom_tools={"S": {1, 2}})
    with pytest.raises(ValueError, match="llm_query"):
        make(server, custom_tools={"f": len}, custom_sub_tools={"llm_query": len})
    # the same tools for children are fine (the official default when it is None)
    tools = {"f": len}
    make(server, custom_tools=tools, custom_sub_tools=dict(tools))


def test_custom_sub_tools_replace_the_tools_of_child_rlms(server):
    def script(messages):
        text = all_text(messages)
        if "CHILD-TASK" in text and "ROOT-TASK" not in text:
            assert "`triple(...)`" in messages[0]["content"]
            assert "`double(...)`" not in messages[0]["content"]
            return repl(
                "try:\n    double(1)\n    seen = 'double'\nexcept NameError:\n    seen = 'no double'\n"
                "FINAL(seen + ' ' + str(triple(4)) + ' ' + str(SUB_ONLY))"
            )
        assert "`triple(...)`" not in messages[0]["content"]
        return repl('FINAL(str(double(4)) + " / " + rlm_query("CHILD-TASK"))')

    server.script = script
    out = make(
        server,
        max_depth=2,
        custom_tools={"double": lambda x: x * 2},
        custom_sub_tools={"triple": lambda x: x * 3, "SUB_ONLY": 7},
    ).completion("c", root_prompt="ROOT-TASK")
    assert out.response == "8 / no double 12 7"

    # {} gives children no tools at all
    def bare(messages):
        text = all_text(messages)
        if "CHILD-TASK" in text and "ROOT-TASK" not in text:
            return repl("try:\n    double(1)\n    FINAL('has double')\nexcept NameError:\n    FINAL('bare')")
        return repl('FINAL(rlm_query("CHILD-TASK"))')

    server.script = bare
    out = make(
        server, max_depth=2, custom_tools={"double": lambda x: x * 2}, custom_sub_tools={}
    ).completion("c", root_prompt="ROOT-TASK")
    assert out.response == "bare"


def _turns(messages):
    text = all_text(messages)
    if "QUESTION-ONE" in text:
        return repl("saved = len(context)\nFINAL(str(saved))")
    if "QUESTION-TWO" in text:
        return repl('FINAL(str(saved) + "|" + context_1 + "|" + context + "|" + str(len(history_0) > 0))')
    return repl('try:\n    FINAL(str(saved))\nexcept NameError:\n    FINAL("fresh")')


def test_persistent_completions_share_the_repl(server):
    server.script = _turns
    with make(server, persistent=True) as rlm:
        assert rlm.completion("first ctx", root_prompt="QUESTION-ONE").response == "9"
        second = rlm.completion("second", root_prompt="QUESTION-TWO")
        assert second.response == "9|second|first ctx|True"
        assert "context_1" in all_text(server.requests[-1]["body"]["messages"])
        rlm.close()
        assert rlm.completion("third", root_prompt="QUESTION-THREE").response == "fresh"


def test_without_persistent_nothing_carries_over(server):
    server.script = _turns
    rlm = make(server)
    assert rlm.completion("first ctx", root_prompt="QUESTION-ONE").response == "9"
    assert rlm.completion("x", root_prompt="QUESTION-THREE").response == "fresh"


def test_persistent_acompletion(server):
    server.script = _turns

    async def main():
        rlm = make(server, persistent=True)
        first = await rlm.acompletion("first ctx", root_prompt="QUESTION-ONE")
        second = await rlm.acompletion("second", root_prompt="QUESTION-TWO")
        rlm.close()
        return first.response, second.response

    assert asyncio.run(main()) == ("9", "9|second|first ctx|True")


PAD = "#" + "p" * 8000


def _long_script(messages):
    text = all_text(messages)
    if "about to be compacted" in messages[-1]["content"]:
        return "SUMMARY-OF-PROGRESS"
    if "has been compacted" in text:
        return repl('FINAL("after compaction")')
    return repl(PAD + "\nprint(1)")


def test_compaction_summarises_and_the_model_sees_the_summary(server):
    server.script = _long_script
    # gpt-4o: a 128k-token window; 5 % of it is about 25,600 characters.
    out = make(server, model="gpt-4o-test", compaction=True, compaction_threshold_pct=0.05).completion(
        "c", root_prompt="q"
    )
    assert out.response == "after compaction"
    bodies = [r["body"]["messages"] for r in server.requests]
    assert any("about to be compacted" in b[-1]["content"] for b in bodies)
    after = bodies[-1]
    assert any(m["content"] == "SUMMARY-OF-PROGRESS" for m in after)
    assert "has been compacted 1 time" in all_text(after)
    assert all(sum(len(m["content"]) for m in b) < 40_000 for b in bodies)


def test_compaction_is_off_by_default_as_in_rlms(server):
    server.script = _long_script
    out = make(server, model="gpt-4o-test", max_iterations=5).completion("c", root_prompt="q")
    assert out.metadata["outcome"] == "iteration_limit"
    assert not any("about to be compacted" in all_text(r["body"]["messages"]) for r in server.requests)
    with pytest.raises(ValueError, match="compaction_threshold_pct"):
        make(server, compaction=True, compaction_threshold_pct=1.5)


def test_every_sampling_field_reaches_the_wire(server):
    def script(messages):
        if len(messages) == 1:
            return "sub"
        return repl('FINAL(llm_query("x"))')

    server.script = script
    make(
        server,
        sampling_args={
            "temperature": 0.3,
            "top_p": 0.9,
            "seed": 7,
            "stop": "END",
            "max_tokens": 55,
            "reasoning_effort": "low",
            "presence_penalty": 0.5,
            "extra_body": {"custom": {"a": 1}},
        },
        sub_sampling_args={"temperature": 0.0, "seed": 9, "stop": ["S1", "S2"]},
    ).completion("c", root_prompt="q")
    root = server.requests[0]["body"]
    assert root["temperature"] == pytest.approx(0.3)
    assert root["top_p"] == pytest.approx(0.9)
    assert root["seed"] == 7
    assert root["stop"] == ["END"]
    assert 55 in (root.get("max_tokens"), root.get("max_completion_tokens"))
    assert root["reasoning_effort"] == "low"
    assert root["presence_penalty"] == 0.5
    assert root["custom"] == {"a": 1}
    sub = [r["body"] for r in server.requests if len(r["body"]["messages"]) == 1][0]
    assert sub["temperature"] == 0.0 and sub["seed"] == 9 and sub["stop"] == ["S1", "S2"]
    assert "reasoning_effort" not in sub and "custom" not in sub


def test_bad_sampling_is_a_value_error(server):
    with pytest.raises(ValueError, match="temperature"):
        make(server, sampling_args={"temperature": 5})


def test_persistent_mode_logs_each_question(server, tmp_path):
    import glob
    import json

    from recursive_lm import RLMLogger

    server.script = _turns
    logger = RLMLogger(log_dir=str(tmp_path))
    with make(server, persistent=True, logger=logger) as rlm:
        rlm.completion("first ctx", root_prompt="QUESTION-ONE")
        rlm.completion("second", root_prompt="QUESTION-TWO")
    lines = [json.loads(l) for l in open(logger.log_file_path)]
    assert [l["type"] for l in lines] == ["metadata", "iteration", "metadata", "iteration"]
    assert [l["final_answer"] for l in lines if l["type"] == "iteration"] == ["9", "9|second|first ctx|True"]
    # the session's own trajectory is removed when the session ends
    assert glob.glob(str(tmp_path / "*")) == [logger.log_file_path]


def test_the_cpython_environment_has_tools_and_sessions(server):
    def script(messages):
        if "QUESTION-ONE" in all_text(messages):
            return repl("saved = double(len(context))\nFINAL(str(saved))")
        return repl("FINAL(str(saved) + context_1)")

    server.script = script
    with make(server, environment="python", persistent=True, custom_tools={"double": lambda x: 2 * x}) as rlm:
        assert rlm.completion("first ctx", root_prompt="QUESTION-ONE").response == "18"
        assert rlm.completion("second", root_prompt="QUESTION-TWO").response == "18second"
