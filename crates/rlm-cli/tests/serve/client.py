"""Drives `rlm serve` with OpenEnv's own client (openenv-core's GenericEnvClient and its sync
wrapper), for crates/rlm-cli/tests/serve.rs. Usage: client.py BASE_URL SCENARIO; prints one
JSON object on stdout with what the scenario saw; the Rust test asserts on it."""

import json
import sys
import time
import urllib.error
import urllib.request

from openenv.core.generic_client import GenericEnvClient

BASE = sys.argv[1]
SCENARIO = sys.argv[2]
ARG = sys.argv[3] if len(sys.argv) > 3 else None


def env():
    return GenericEnvClient(base_url=BASE).sync()


def result(r):
    return {"observation": r.observation, "reward": r.reward, "done": r.done}


def error_of(fn):
    try:
        fn()
    except Exception as e:  # the client raises RuntimeError for error frames
        return f"{type(e).__name__}: {e}"
    return None


def http(method, path, body=None, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def metrics():
    return http("GET", "/metrics")[1]


def episode():
    out = {}
    with env() as e:
        out["reset"] = result(e.reset(
            context="hello world", task_prompt="Say the context", expected_answer="Hello World",
            hf_token="hf_SENTINEL_TOKEN", seed=7, episode_id="ep-1", unknown_key=[1, 2]))
        out["count"] = result(e.step({"code": "n = len(context)\nprint(n)"}))
        out["sub"] = result(e.step({"code": "r = llm_query('ping')\nprint(r)"}))
        out["batch"] = result(e.step({"code": "print(llm_query_batched(['a', 'b']))\nprint(llm_batch(['c']))"}))
        out["rlm"] = result(e.step({"code": "print(rlm_query('q'))\nprint(rlm_query_batched(['x', 'y']))"}))
        out["vars"] = result(e.step({"code": "print(SHOW_VARS())"}))
        out["raise"] = result(e.step({"code": "1/0"}))
        out["final"] = result(e.step({"code": "print(f'FINAL({context})')"}))
        out["state"] = e.state()
        out["after_done"] = error_of(lambda: e.step({"code": "print(1)"}))
    return out


FINISHES = {
    "final_fn": "FINAL('Paris')",
    "final_fn_expr": "x = 'Par' + 'is'\nFINAL(x)",
    "final_var_fn": "city = 'Paris'\nFINAL_VAR('city')",
    "printed_final": "print('The answer is FINAL(Paris)')",
    "printed_final_var": "city = 'Paris'\nprint('FINAL_VAR(city)')",
    "answer_dict": "answer['content'] = 'Paris'\nanswer['ready'] = True",
    "wrong": "FINAL('Lyon')",
    "printed_missing_var": "print('FINAL_VAR(nowhere)')",
}


def finishes():
    out = {}
    with env() as e:
        for name, code in FINISHES.items():
            e.reset(expected_answer="paris")
            out[name] = result(e.step({"code": code}))
        e.reset(expected_answer="paris")
        out["is_final"] = result(e.step({"code": "", "is_final": True, "final_answer": " PARIS "}))
        e.reset()
        out["no_expected"] = result(e.step({"code": "FINAL('Paris')"}))
    return out


def max_iterations():
    out = {}
    with env() as e:
        e.reset(expected_answer="42", max_iterations=2)
        out["first"] = result(e.step({"code": "x = 1"}))
        out["last"] = result(e.step({"code": "print('still going')"}))
        e.reset(expected_answer="42", max_iterations=1)
        out["partial"] = result(e.step({"code": "answer['content'] = '42'"}))
    return out


def errors():
    out = {}
    with env() as e:
        out["step_before_reset"] = error_of(lambda: e.step({"code": "print(1)"}))
        out["state_before_reset"] = error_of(lambda: e.state())
        e.reset(context="abc")
        e.step({"code": "keep = 41"})
        # The client's own WebSocket and event loop, for frames the client cannot produce.
        out["frames"] = e._run(_malformed(e._async._ws))
        out["bad_action"] = error_of(lambda: e.step({"code": "1", "bogus": True}))
        out["survives"] = result(e.step({"code": "print(keep + 1)"}))
    return out


async def _malformed(ws):
    frames = []
    for text in ["{not json", json.dumps({"type": "fly"}), json.dumps({"type": "step"}), json.dumps([1]),
                 json.dumps({"type": "step", "data": {"code": "x" * 5000}})]:
        await ws.send(text)
        frames.append(json.loads(await ws.recv()))
    return frames


def http_api():
    out = {}
    out["health"] = http("GET", "/health")
    out["schema"] = http("GET", "/schema")
    out["metadata"] = http("GET", "/metadata")
    out["state"] = http("GET", "/state")
    out["reset"] = http("POST", "/reset", {"context": "abc", "task_prompt": "t", "hf_token": "hf_SENTINEL_TOKEN"})
    out["step"] = http("POST", "/step", {"action": {"code": "print(6 * 7)"}})
    out["bad_step"] = http("POST", "/step", {"action": {"code": "1", "nope": 1}})
    out["bad_json"] = http("POST", "/reset", b"{nope")
    out["too_big"] = http("POST", "/reset", {"context": "x" * 5000})
    from openenv.cli._validation import validate_running_environment
    out["validate"] = validate_running_environment(BASE, timeout_s=30)
    return out


def disconnect():
    import asyncio
    import websockets

    async def go():
        ws_url = BASE.replace("http://", "ws://") + "/ws"
        ws = await websockets.connect(ws_url)
        await ws.send(json.dumps({"type": "reset", "data": {}}))
        await ws.recv()
        await ws.send(json.dumps({"type": "step", "data": {"code": "print(llm_query('SLOW please'))"}}))
        # Wait until the server is running the step, then leave without a close frame.
        for _ in range(500):
            if metrics()["busy_sessions"] == 1:
                break
            await asyncio.sleep(0.01)
        busy = metrics()["busy_sessions"]
        ws.transport.abort()
        left = time.monotonic()
        while metrics()["active_sessions"] != 0 and time.monotonic() - left < 20:
            await asyncio.sleep(0.01)
        return {"busy_before": busy, "freed_after_s": time.monotonic() - left, "metrics": metrics()}

    return asyncio.run(go())


def capacity():
    out = {}
    first = env()
    first.connect()
    first.reset()
    second = env()
    out["refused"] = error_of(lambda: (second.connect(), second.reset()))
    first.close()
    try:
        second.close()
    except Exception:
        pass
    for _ in range(500):
        if metrics()["active_sessions"] == 0:
            break
        time.sleep(0.01)
    with env() as third:
        out["after_free"] = result(third.reset())
    out["metrics"] = metrics()
    return out


def token():
    out = {}
    out["no_token_ws"] = error_of(lambda: env().connect())
    out["no_token_http"] = http("GET", "/metrics")
    out["wrong_token_http"] = http("GET", "/metrics", headers={"Authorization": "Bearer wrong"})
    out["bearer_http"] = http("GET", "/metrics", headers={"Authorization": f"Bearer {ARG}"})
    out["health"] = http("GET", "/health")
    host = BASE.split("://", 1)[1]
    with GenericEnvClient(base_url=f"http://rlm:{ARG}@{host}").sync() as e:
        out["with_token"] = result(e.reset(context="c"))
        out["step"] = result(e.step({"code": "print(1 + 1)"}))
    return out


def idle():
    out = {}
    with env() as e:
        e.reset()
        deadline = time.monotonic() + 20
        while metrics()["sessions_reaped"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        out["metrics"] = metrics()
        out["step_after_reap"] = error_of(lambda: e.step({"code": "print(1)"}))
    return out


def drain():
    """A step whose sub-call takes a while; the test sends SIGTERM meanwhile."""
    with env() as e:
        e.reset()
        sys.stdout.write(json.dumps({"ready": True}) + "\n")
        sys.stdout.flush()
        try:
            return {"step": result(e.step({"code": "print(llm_query(%r))" % ARG}))}
        except Exception as ex:
            return {"error": f"{type(ex).__name__}: {ex}"}


def load():
    """Several episodes at once from threads: each must see only its own state."""
    import concurrent.futures

    def one(i):
        with env() as e:
            e.reset(context=f"ctx-{i}", expected_answer=f"ctx-{i}")
            e.step({"code": f"mine = {i}"})
            r = e.step({"code": "print(mine)\nFINAL(context)"})
            return r.observation["result"]["stdout"].strip() == str(i) and r.reward == 1.0

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return {"ok": sum(pool.map(one, range(16)))}


print(json.dumps(globals()[SCENARIO]()))
