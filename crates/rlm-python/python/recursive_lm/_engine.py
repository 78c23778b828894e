"""Shared plumbing of both APIs: settings to the native engine, contexts, results, async."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, Optional, Tuple

from . import _native


def encode_context(context: Any) -> Tuple[str, bool]:
    """A context as the engine takes it: text as is, anything else as JSON."""
    if isinstance(context, str):
        return context, False
    return json.dumps(context), True


def make_engine(
    settings: Dict[str, Any],
    chat_fn: Optional[Callable[..., str]] = None,
    on_event: Optional[Callable[[str, Any], None]] = None,
) -> "_native.Engine":
    clean = {k: v for k, v in settings.items() if v is not None}
    return _native.Engine(json.dumps(clean), chat_fn, on_event)


def run(engine: "_native.Engine", context: Any, query: str, **trajectory: Any) -> Dict[str, Any]:
    """Runs a completion in Rust (the GIL released; Ctrl-C cancels) and decodes its result."""
    text, is_json = encode_context(context)
    return json.loads(engine.run(text, query, is_json, **trajectory))


async def run_async(
    engine: "_native.Engine", context: Any, query: str, **trajectory: Any
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
