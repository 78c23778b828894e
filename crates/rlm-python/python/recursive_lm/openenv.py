"""OpenEnv ``repl_env``'s recursive runner API, run by the Rust runtime.

``LocalRLMRunner``, ``RLMRunResult``, ``BackendLimits``, ``ChildTrace``, ``DirectLMBackend`` and
``LocalChildRLMBackend`` keep ``repl_env``'s constructor keywords, defaults and result fields,
so code written for ``repl_env.runner`` runs unchanged::

    from recursive_lm.openenv import LocalRLMRunner

    def chat(messages, model=None):      # any callable; your client, or a test mock
        ...

    result = LocalRLMRunner(chat, max_depth=2).run(context, "What is the answer?")
    print(result.final_answer, result.iterations, result.child_traces)

``llm_chat_fn`` is called ``llm_chat_fn(messages, model)`` (and ``llm_chat_fn(messages)`` when it
does not take a model, as the seed does) for every model call of the tree: root turns, child
turns and ``llm_query``. The loop, the REPL (Monty) and the recursion run in Rust; Python is
entered for ``llm_chat_fn`` and the callbacks only. Differences from ``repl_env`` are listed in
docs/python.md.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from . import _engine
from .errors import error_for

ChatFn = Callable[..., str]

__all__ = [
    "BackendLimits",
    "ChildTrace",
    "DirectLMBackend",
    "LocalChildRLMBackend",
    "LocalRLMRunner",
    "RLMRunResult",
]


@dataclass
class BackendLimits:
    """The seed's recursion limits (same fields and defaults)."""

    max_depth: int = 1
    max_batch_workers: int = 8
    max_children_total: Optional[int] = None
    max_children_per_batch: Optional[int] = None
    result_truncation_limit: Optional[int] = None
    per_child_timeout_s: Optional[float] = None
    _children_spawned: int = field(default=0, init=False, repr=False)
    _children_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False
    )


@dataclass
class ChildTrace:
    """One child RLM run: the seed's five fields, plus the child's own ``children``."""

    depth: int
    duration_s: float
    prompt_preview: str
    result_preview: Optional[str]
    error: Optional[str]
    children: List["ChildTrace"] = field(default_factory=list)


@dataclass
class RLMRunResult:
    """What ``LocalRLMRunner.run`` returns (the seed's fields)."""

    final_answer: Optional[str]
    messages: List[Dict[str, str]]
    iterations: int
    depth: int
    child_traces: List[Any]


def _trace(doc: Dict[str, Any]) -> ChildTrace:
    return ChildTrace(
        depth=doc["depth"],
        duration_s=doc["duration_s"],
        prompt_preview=doc["prompt_preview"],
        result_preview=doc.get("result_preview"),
        error=doc.get("error"),
        children=[_trace(c) for c in doc.get("children", [])],
    )


# The name the engine reports a chat function under when run() got no model.
_DEFAULT_MODEL = "default"


def _chat_adapter(
    llm_chat_fn: ChatFn, default: Optional[str] = None
) -> Callable[[List[Dict[str, str]], Optional[str]], str]:
    """Calls ``llm_chat_fn(messages, model)``, or ``llm_chat_fn(messages)`` when it does not
    take a model (the seed's fallback on ``TypeError``). ``model`` is the one the code asked
    for (``llm_query(..., model=...)``), else ``run``'s ``model`` (None when not given)."""

    def chat(messages: List[Dict[str, str]], asked: Optional[str]) -> str:
        model = default if asked in (None, _DEFAULT_MODEL, default) else asked
        try:
            out = llm_chat_fn(messages, model)
        except TypeError:
            out = llm_chat_fn(messages)
        return out if isinstance(out, str) else str(out)

    return chat


class DirectLMBackend:
    """Plain LLM calls through ``llm_chat_fn`` (the seed's direct backend), for code that
    uses the backend on its own. ``LocalRLMRunner`` does not need one: its sub-calls run in
    Rust."""

    def __init__(
        self,
        llm_chat_fn: ChatFn,
        *,
        depth: int = 0,
        limits: Optional[BackendLimits] = None,
    ) -> None:
        self.llm_chat_fn = llm_chat_fn
        self.depth = depth
        self.limits = limits or BackendLimits()
        self.max_depth = self.limits.max_depth
        self.child_traces: List[ChildTrace] = []
        self._chat = _chat_adapter(llm_chat_fn)

    def query(self, prompt: str, model: Optional[str] = None) -> str:
        return self._truncate(self._chat([{"role": "user", "content": prompt}], model))

    def query_batched(self, prompts: List[str], model: Optional[str] = None) -> List[str]:
        from concurrent.futures import ThreadPoolExecutor

        if not prompts:
            return []
        workers = max(1, min(len(prompts), self.limits.max_batch_workers))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self.query, p, model) for p in prompts]
        out = []
        for f in futures:
            try:
                out.append(f.result())
            except Exception as exc:  # the seed's per-slot error string
                out.append(f"Error: {exc}")
        return out

    def recursive_query(self, prompt: str, model: Optional[str] = None) -> str:
        return self.query(prompt, model)

    def recursive_query_batched(
        self, prompts: List[str], model: Optional[str] = None
    ) -> List[str]:
        return self.query_batched(prompts, model)

    def _truncate(self, result: str) -> str:
        limit = self.limits.result_truncation_limit
        if limit is not None and len(result) > limit:
            return result[:limit]
        return result


class LocalChildRLMBackend(DirectLMBackend):
    """The seed's child-spawning backend: ``recursive_query`` runs a child RLM (in Rust, with
    the same limits) and records a ``ChildTrace``."""

    def __init__(
        self,
        llm_chat_fn: ChatFn,
        *,
        runner_factory: Optional[Callable[..., Any]] = None,
        system_prompt: Optional[str] = None,
        max_iterations: int = 30,
        env_max_iterations_multiplier: int = 5,
        depth: int = 0,
        limits: Optional[BackendLimits] = None,
        on_subcall_start: Optional[Callable[[int, str, str], None]] = None,
        on_subcall_complete: Optional[
            Callable[[int, str, float, Optional[str]], None]
        ] = None,
    ) -> None:
        super().__init__(llm_chat_fn, depth=depth, limits=limits)
        self.runner_factory = runner_factory
        self.system_prompt = system_prompt
        self.max_iterations = max_iterations
        self.env_max_iterations_multiplier = env_max_iterations_multiplier
        self.on_subcall_start = on_subcall_start
        self.on_subcall_complete = on_subcall_complete

    def recursive_query(self, prompt: str, model: Optional[str] = None) -> str:
        next_depth = self.depth + 1
        if next_depth >= self.max_depth:
            return self.query(prompt, model)
        with self.limits._children_lock:
            total = self.limits.max_children_total
            if total is not None and self.limits._children_spawned >= total:
                return "Error: max_children_total exceeded"
            self.limits._children_spawned += 1
        model_name = str(model or _DEFAULT_MODEL)
        if self.on_subcall_start is not None:
            try:
                self.on_subcall_start(next_depth, model_name, prompt[:80])
            except Exception:
                pass
        started = time.perf_counter()
        text, error = "", None
        try:
            runner = LocalRLMRunner(
                self.llm_chat_fn,
                system_prompt=self.system_prompt,
                max_iterations=self.max_iterations,
                max_depth=self.max_depth,
                depth=next_depth,
                max_batch_workers=self.limits.max_batch_workers,
                result_truncation_limit=self.limits.result_truncation_limit,
                on_subcall_start=self.on_subcall_start,
                on_subcall_complete=self.on_subcall_complete,
            )
            result = runner.run(
                prompt, prompt, model=model, timeout_s=self.limits.per_child_timeout_s
            )
            text = self._truncate(result.final_answer or "")
            return text
        except Exception as exc:
            error = str(exc)
            raise
        finally:
            duration = time.perf_counter() - started
            self.child_traces.append(
                ChildTrace(next_depth, duration, prompt[:80], text[:80] or None, error)
            )
            if self.on_subcall_complete is not None:
                try:
                    self.on_subcall_complete(next_depth, model_name, duration, error)
                except Exception:
                    pass


class LocalRLMRunner:
    """The seed's ``LocalRLMRunner``: same keywords and defaults; the loop runs in Rust."""

    def __init__(
        self,
        llm_chat_fn: ChatFn,
        *,
        system_prompt: Optional[str] = None,
        max_iterations: int = 30,
        max_depth: int = 2,
        depth: int = 0,
        env_max_iterations_multiplier: int = 5,
        max_batch_workers: int = 8,
        backend_factory: Optional[Callable[..., Any]] = None,
        max_children_total: Optional[int] = None,
        max_children_per_batch: Optional[int] = None,
        result_truncation_limit: Optional[int] = None,
        per_child_timeout_s: Optional[float] = None,
        on_subcall_start: Optional[Callable[[int, str, str], None]] = None,
        on_subcall_complete: Optional[
            Callable[[int, str, float, Optional[str]], None]
        ] = None,
        verbose: bool = False,
    ) -> None:
        self.backend_factory = backend_factory
        self.llm_chat_fn = llm_chat_fn
        self.system_prompt = system_prompt
        self.max_iterations = max_iterations
        self.max_depth = max_depth
        self.depth = depth
        self.env_max_iterations_multiplier = env_max_iterations_multiplier
        self.max_batch_workers = max_batch_workers
        self.max_children_total = max_children_total
        self.max_children_per_batch = max_children_per_batch
        self.result_truncation_limit = result_truncation_limit
        self.per_child_timeout_s = per_child_timeout_s
        self.on_subcall_start = on_subcall_start
        self.on_subcall_complete = on_subcall_complete
        self.verbose = verbose
        self._engines: Dict[Optional[float], Any] = {}

    def _on_event(self, name: str, args: Any) -> None:
        try:
            if name == "subcall_start" and self.on_subcall_start is not None:
                depth, model, preview = args
                self.on_subcall_start(depth, model, preview)
            elif name == "subcall_complete" and self.on_subcall_complete is not None:
                depth, model, duration, error = args
                self.on_subcall_complete(depth, model, duration, error)
            elif name == "iteration_complete" and self.verbose:
                depth, iteration, _ = args
                print(f"[depth={self.depth + depth}] iteration={iteration}")
        except Exception:  # the seed ignores callback errors
            pass

    def _engine(
        self, timeout_s: Optional[float], model: Optional[str], backend: Any = None
    ) -> Any:
        key = (timeout_s, model)
        engine = self._engines.get(key) if backend is None else None
        if engine is None:
            wants_events = bool(self.on_subcall_start or self.on_subcall_complete or self.verbose)
            engine = _engine.make_engine(
                {
                    "chat_model_name": model or _DEFAULT_MODEL,
                    "seed_compat": True,
                    "system_prompt": self.system_prompt,
                    "max_iterations": self.max_iterations,
                    "max_depth": max(1, self.max_depth - self.depth),
                    "max_batch_workers": self.max_batch_workers,
                    "max_children_total": self.max_children_total,
                    "max_children_per_batch": self.max_children_per_batch,
                    "result_truncation_limit": self.result_truncation_limit,
                    "per_child_timeout_s": self.per_child_timeout_s,
                    "timeout_s": timeout_s,
                },
                _chat_adapter(self.llm_chat_fn, model),
                self._on_event if wants_events else None,
                backend=backend,
            )
            if backend is None:
                self._engines[key] = engine
        return engine

    def _backend(self) -> Any:
        """The backend of one run from ``backend_factory``, called as ``repl_env`` calls it."""
        if self.backend_factory is None:
            return None
        return self.backend_factory(
            self.llm_chat_fn,
            system_prompt=self.system_prompt,
            max_iterations=self.max_iterations,
            depth=self.depth,
            env_max_iterations_multiplier=self.env_max_iterations_multiplier,
        )

    def run(
        self,
        context: str,
        task_prompt: str,
        *,
        model: Optional[str] = None,
        timeout_s: Optional[float] = None,
    ) -> RLMRunResult:
        """Runs the RLM over ``context`` for ``task_prompt``. ``model`` is passed to
        ``llm_chat_fn`` as its ``model`` argument; ``timeout_s`` bounds the whole tree (the
        run is stopped mid-call, not only between iterations) and raises ``RLMTimeoutError``
        (a ``TimeoutError``) with the partial answer. With ``backend_factory``, its backend
        answers ``llm_query``, ``llm_query_batched``, ``rlm_query`` and ``rlm_query_batched``
        (``query``, ``query_batched``, ``recursive_query``, ``recursive_query_batched``), and
        ``child_traces`` are the backend's."""
        backend = self._backend()
        engine = self._engine(timeout_s, model, backend)
        doc = _engine.run(engine, context, task_prompt)
        error = error_for(doc, doc.get("total_usage"))
        if error is not None:
            raise error
        answer = doc.get("answer")
        return RLMRunResult(
            final_answer=answer if answer != "" or doc["kind"] == "finished" else None,
            messages=doc.get("messages", []),
            iterations=doc.get("iterations", 0),
            depth=self.depth,
            child_traces=(
                [_trace(t) for t in doc.get("child_traces", [])]
                if backend is None
                else list(getattr(backend, "child_traces", []))
            ),
        )
