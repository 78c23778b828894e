"""Shared plumbing of both APIs: settings to the native engine, contexts, results, async."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _native


def encode_context(context: Any) -> Tuple[str, bool]:
    """A context as the engine takes it: text as is, anything else as JSON."""
    if isinstance(context, str):
        return context, False
    return json.dumps(context), True


def _raised(exc: BaseException) -> Tuple[bool, str]:
    return False, json.dumps([type(exc).__name__, str(exc)])


def tool_adapter(func: Callable[..., Any]) -> Callable[[str], Tuple[bool, str]]:
    """The adapter the engine calls for a custom tool: ``{"args", "kwargs"}`` as JSON in,
    ``(True, result_json)`` or ``(False, [exception, message])`` out. A result that is not
    JSON-like is sent as its ``str`` (tuples become lists)."""

    def call(payload: str) -> Tuple[bool, str]:
        data = json.loads(payload)
        try:
            out = func(*data.get("args", []), **data.get("kwargs", {}))
        except Exception as exc:  # the model's code gets the exception, never a crash
            return _raised(exc)
        try:
            return True, json.dumps(out, default=str)
        except (TypeError, ValueError) as exc:
            return _raised(exc)

    return call


def backend_adapter(backend: Any) -> Callable[[str], Tuple[bool, str]]:
    """The adapter of a ``repl_env`` backend object: the REPL's four sub-calls, as JSON, go to
    ``query``, ``query_batched``, ``recursive_query`` and ``recursive_query_batched``."""
    methods = {
        "llm_query": ("query", "prompt"),
        "llm_query_batched": ("query_batched", "prompts"),
        "rlm_query": ("recursive_query", "prompt"),
        "rlm_query_batched": ("recursive_query_batched", "prompts"),
    }

    def call(payload: str) -> Tuple[bool, str]:
        data = json.loads(payload)
        method, arg = methods[data["function"]]
        try:
            out = getattr(backend, method)(data[arg], data.get("model"))
        except Exception as exc:  # raised in the calling code, as repl_env does
            return _raised(exc)
        try:
            return True, json.dumps(out, default=str)
        except (TypeError, ValueError) as exc:
            return _raised(exc)

    return call


def make_engine(
    settings: Dict[str, Any],
    chat_fn: Optional[Callable[..., str]] = None,
    on_event: Optional[Callable[[str, Any], None]] = None,
    tools: Optional[List[Tuple[str, str, Callable[..., Any]]]] = None,
    backend: Any = None,
    sub_tools: Optional[List[Tuple[str, str, Callable[..., Any]]]] = None,
) -> "_native.Engine":
    """``sub_tools``: the custom tools of child RLMs when they differ from ``tools`` (an empty
    list gives children none); ``None``: children get ``tools``."""
    clean = {k: v for k, v in settings.items() if v is not None}
    adapters = [(name, desc, tool_adapter(f)) for name, desc, f in tools or []]
    sub_adapters = (
        None
        if sub_tools is None
        else [(name, desc, tool_adapter(f)) for name, desc, f in sub_tools]
    )
    return _native.Engine(
        json.dumps(clean),
        chat_fn,
        on_event,
        adapters or None,
        backend_adapter(backend) if backend is not None else None,
        sub_adapters,
    )


def run(engine: Any, context: Any, query: str, **trajectory: Any) -> Dict[str, Any]:
    """Runs a completion in Rust (the GIL released; Ctrl-C cancels) and decodes its result.
    ``engine`` is an ``Engine`` or a ``Session`` (which takes no trajectory)."""
    text, is_json = encode_context(context)
    return json.loads(engine.run(text, query, is_json, **trajectory))


async def run_async(
    engine: Any, context: Any, query: str, **trajectory: Any
) -> Dict[str, Any]:
    """The asyncio form: the completion runs on the Rust runtime (no thread of the event
    loop's executor is held), and cancelling the awaiting task cancels the run."""
    loop = asyncio.get_running_loop()
    future: "asyncio.Future[str]" = loop.create_future()

    def on_done(result: str) -> None:
        def settle() -> None:
            if not future.done():
                future.set_result(result)

        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed
            pass

    text, is_json = encode_context(context)
    job = engine.start(text, query, on_done, is_json, **trajectory)
    try:
        return json.loads(await asyncio.shield(future))
    except asyncio.CancelledError:
        job.cancel()
        raise
