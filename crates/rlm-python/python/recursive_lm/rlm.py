"""The official ``rlms`` library's ``RLM`` API, run by the Rust runtime.

    from recursive_lm import RLM
    rlm = RLM(backend="openai", backend_kwargs={"model_name": "gpt-5-mini"}, max_depth=1)
    completion = rlm.completion(long_document, root_prompt="Who is the murderer?")
    print(completion.response, completion.usage_summary.to_dict())

Keywords follow ``rlm.RLM``; see docs/python.md for what differs.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from . import _engine, _native
from .errors import error_for

__all__ = ["RLM", "RLMChatCompletion", "RLMLogger", "UsageSummary", "ModelUsageSummary"]

# backend -> (provider, default base URL, variable holding the key)
_BACKENDS = {
    "openai": ("openai", None, None),
    "vllm": ("openai", None, None),
    "openrouter": ("openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "azure_openai": ("azure", None, None),
    "anthropic": ("anthropic", None, None),
    "gemini": ("gemini", None, None),
}
_MODEL_KEYS = {
    "model_name", "base_url", "api_key", "api_version", "azure_endpoint",
    "azure_deployment", "timeout", "max_retries",
}


@dataclass
class ModelUsageSummary:
    """Usage of one model (the official fields)."""

    total_calls: int
    total_input_tokens: int
    total_output_tokens: int
    total_cost: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "total_calls": self.total_calls,
            "total_input_tokens": self.total_input_tokens,
            "total_output_tokens": self.total_output_tokens,
        }
        if self.total_cost is not None:
            out["total_cost"] = self.total_cost
        return out


@dataclass
class UsageSummary:
    """Usage per model of a completion (the official ``UsageSummary``)."""

    model_usage_summaries: Dict[str, ModelUsageSummary] = field(default_factory=dict)

    @property
    def total_cost(self) -> Optional[float]:
        costs = [m.total_cost for m in self.model_usage_summaries.values() if m.total_cost is not None]
        return sum(costs) if costs else None

    @property
    def total_input_tokens(self) -> int:
        return sum(m.total_input_tokens for m in self.model_usage_summaries.values())

    @property
    def total_output_tokens(self) -> int:
        return sum(m.total_output_tokens for m in self.model_usage_summaries.values())

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "model_usage_summaries": {k: v.to_dict() for k, v in self.model_usage_summaries.items()}
        }
        if self.total_cost is not None:
            out["total_cost"] = self.total_cost
        return out

    @classmethod
    def from_result(cls, doc: Dict[str, Any]) -> "UsageSummary":
        return cls(
            {
                model: ModelUsageSummary(u["calls"], u["input_tokens"], u["output_tokens"], u.get("cost"))
                for model, u in doc.get("usage", {}).items()
            }
        )


@dataclass
class RLMChatCompletion:
    """The result of ``RLM.completion`` (the official fields). ``metadata`` holds our extras:
    ``outcome`` (``finished`` or ``iteration_limit``), ``iterations``, ``child_traces``,
    ``budget`` and ``messages``."""

    root_model: str
    prompt: Any
    response: str
    usage_summary: UsageSummary
    execution_time: float
    metadata: Optional[Dict[str, Any]] = None

    def to_dict(self) -> Dict[str, Any]:
        return {
            "root_model": self.root_model,
            "prompt": self.prompt,
            "response": self.response,
            "usage_summary": self.usage_summary.to_dict(),
            "execution_time": self.execution_time,
            "metadata": self.metadata,
        }


class RLMLogger:
    """Writes every completion of the ``RLM`` it is given to ``log_dir`` in the official
    ``RLMLogger`` JSON Lines format (a ``metadata`` line, then one ``iteration`` line per root
    turn, sub-calls under ``rlm_calls``), which the official visualizer opens."""

    def __init__(self, log_dir: str, file_name: str = "rlm") -> None:
        os.makedirs(log_dir, exist_ok=True)
        self.log_dir = log_dir
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
        self.log_file_path = os.path.join(log_dir, f"{file_name}_{stamp}_{uuid.uuid4().hex[:8]}.jsonl")

    def _trajectory(self) -> str:
        fd, path = tempfile.mkstemp(prefix=".rlm-trajectory-", suffix=".jsonl", dir=self.log_dir)
        os.close(fd)
        return path

    def _export(self, trajectory: str, keep: bool = False) -> None:
        """Appends the completion logged in ``trajectory``; ``keep``: a session's trajectory,
        of which the last question is appended and the file kept for the next one."""
        try:
            _native.export_official(trajectory, self.log_file_path, keep)
        finally:
            if not keep:
                _remove(trajectory)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _model_settings(backend: str, kwargs: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if backend not in _BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: one of {sorted(_BACKENDS)}")
    kwargs = dict(kwargs or {})
    unknown = sorted(set(kwargs) - _MODEL_KEYS)
    if unknown:
        warnings.warn(f"backend_kwargs ignored by recursive_lm: {unknown}", stacklevel=3)
    provider, default_url, key_var = _BACKENDS[backend]
    model = kwargs.get("model_name") or kwargs.get("azure_deployment")
    if not model:
        raise ValueError(f"backend_kwargs for {backend!r} need a 'model_name'")
    if backend == "vllm" and not kwargs.get("base_url"):
        raise ValueError("the vllm backend needs backend_kwargs['base_url']")
    api_key = kwargs.get("api_key") or (os.environ.get(key_var) if key_var else None)
    return {
        "provider": provider,
        "model_name": model,
        "base_url": kwargs.get("base_url") or kwargs.get("azure_endpoint") or default_url,
        "api_key": api_key,
        "api_version": kwargs.get("api_version"),
        "timeout": kwargs.get("timeout"),
        "max_retries": kwargs.get("max_retries"),
    }


class RLM:
    """A Recursive Language Model with the official library's keywords. Each ``completion``
    runs in Rust with the GIL released; instances are safe to share between threads."""

    def __init__(
        self,
        backend: str = "openai",
        backend_kwargs: Optional[Dict[str, Any]] = None,
        environment: str = "monty",
        environment_kwargs: Optional[Dict[str, Any]] = None,
        depth: int = 0,
        max_depth: int = 1,
        max_iterations: int = 30,
        max_budget: Optional[float] = None,
        max_timeout: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_errors: Optional[int] = None,
        custom_system_prompt: Optional[str] = None,
        other_backends: Optional[List[str]] = None,
        other_backend_kwargs: Optional[List[Dict[str, Any]]] = None,
        logger: Optional[RLMLogger] = None,
        verbose: bool = False,
        persistent: bool = False,
        custom_tools: Optional[Dict[str, Any]] = None,
        custom_sub_tools: Optional[Dict[str, Any]] = None,
        compaction: bool = False,
        compaction_threshold_pct: float = 0.85,
        sampling_args: Optional[Dict[str, Any]] = None,
        sub_sampling_args: Optional[Dict[str, Any]] = None,
        on_subcall_start: Optional[Callable[[int, str, str], None]] = None,
        on_subcall_complete: Optional[Callable[[int, str, float, Optional[str]], None]] = None,
        on_iteration_start: Optional[Callable[[int, int], None]] = None,
        on_iteration_complete: Optional[Callable[[int, int, float], None]] = None,
    ) -> None:
        functions, data = _tools(custom_tools)
        # Children get custom_tools unless custom_sub_tools says otherwise (`{}`: none).
        sub_functions: Optional[List[Any]] = None
        sub_data: Optional[List[Dict[str, Any]]] = None
        if custom_sub_tools is not None and not _same_tools(custom_sub_tools, custom_tools or {}):
            sub_functions, sub_data = _tools(custom_sub_tools)
        if not 0 < compaction_threshold_pct <= 1:
            raise ValueError(
                f"compaction_threshold_pct must be above 0 and at most 1, got {compaction_threshold_pct}"
            )
        sampling = _sampling(sampling_args, "sampling_args")
        sub_sampling = _sampling(sub_sampling_args, "sub_sampling_args")
        env = {"local": "python"}.get(environment, environment)
        if env not in ("monty", "python"):
            raise ValueError(
                f"unknown environment {environment!r}: \"monty\" (embedded sandbox) or "
                "\"python\"/\"local\" (an isolated CPython subprocess)"
            )
        if environment_kwargs:
            warnings.warn("environment_kwargs are ignored by recursive_lm", stacklevel=2)
        self.backend = backend
        self.backend_kwargs = dict(backend_kwargs or {})
        self.environment = environment
        self.depth = depth
        self.max_depth = max_depth
        self.max_iterations = max_iterations
        self.logger = logger
        self.verbose = verbose
        self.persistent = persistent
        self.custom_tools = custom_tools
        self.custom_sub_tools = custom_sub_tools if custom_sub_tools is not None else custom_tools
        self.compaction = compaction
        self.compaction_threshold_pct = compaction_threshold_pct
        self._session: Any = None
        self._session_trajectory: Optional[str] = None
        self._session_lock = threading.Lock()
        self.on_subcall_start = on_subcall_start
        self.on_subcall_complete = on_subcall_complete
        self.on_iteration_start = on_iteration_start
        self.on_iteration_complete = on_iteration_complete
        root = _model_settings(backend, backend_kwargs)
        others = [
            _model_settings(b, k)
            for b, k in zip(other_backends or [], other_backend_kwargs or [])
        ]
        self.root_model: str = root["model_name"]
        self._settings: Dict[str, Any] = {
            "root": root,
            "sub": others[0] if others else None,
            "named": others[1:],
            "environment": env,
            "system_prompt": custom_system_prompt,
            "max_depth": max(0, max_depth - depth),
            "max_iterations": max_iterations,
            "max_cost": max_budget,
            "timeout_s": max_timeout,
            "max_tokens": max_tokens,
            "max_errors": max_errors,
            "sampling": sampling or None,
            "sub_sampling": sub_sampling or None,
            "compaction": {"enabled": bool(compaction), "threshold": compaction_threshold_pct},
            "tool_data": data,
            "sub_tool_data": sub_data,
        }
        callbacks = (on_subcall_start, on_subcall_complete, on_iteration_start, on_iteration_complete)
        self._engine = _engine.make_engine(
            self._settings,
            None,
            self._on_event if any(callbacks) or verbose else None,
            tools=functions,
            sub_tools=sub_functions,
        )
        self._trajectory_extra = json.dumps({"provider": backend, "repl_backend": env})

    def _on_event(self, name: str, args: Any) -> None:
        try:
            if name == "subcall_start" and self.on_subcall_start:
                self.on_subcall_start(*args)
            elif name == "subcall_complete" and self.on_subcall_complete:
                self.on_subcall_complete(*args)
            elif name == "iteration_start":
                if self.on_iteration_start:
                    self.on_iteration_start(*args)
            elif name == "iteration_complete":
                if self.on_iteration_complete:
                    self.on_iteration_complete(*args)
                if self.verbose:
                    print(f"[rlm] depth={args[0]} iteration={args[1]} ({args[2]:.2f}s)")
        except Exception:  # a callback never breaks the run
            pass

    def _session_for(self) -> Any:
        with self._session_lock:
            if self._session is None:
                trajectory = self._trajectory()
                self._session_trajectory = trajectory.get("trajectory")
                self._session = self._engine.session(**trajectory)
            return self._session

    def _export_session(self) -> None:
        if self.logger is not None and self._session_trajectory is not None:
            self.logger._export(self._session_trajectory, keep=True)

    def close(self) -> None:
        """Ends a persistent session (its REPL is dropped); the next completion starts anew."""
        with self._session_lock:
            session, self._session = self._session, None
            trajectory, self._session_trajectory = self._session_trajectory, None
        if session is not None:
            session.close()
        if trajectory is not None:
            _remove(trajectory)

    def __enter__(self) -> "RLM":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _query(self, prompt: Any, root_prompt: Optional[str]) -> str:
        return root_prompt if root_prompt is not None else ""

    def _finish(self, prompt: Any, doc: Dict[str, Any]) -> RLMChatCompletion:
        usage = UsageSummary.from_result(doc)
        error = error_for(doc, usage)
        if error is not None:
            raise error
        return RLMChatCompletion(
            root_model=self.root_model,
            prompt=prompt,
            response=doc["answer"],
            usage_summary=usage,
            execution_time=doc["duration_s"],
            metadata={
                "outcome": doc["kind"],
                "iterations": doc["iterations"],
                "child_traces": doc["child_traces"],
                "budget": doc.get("budget"),
                "messages": doc.get("messages"),
            },
        )

    def _trajectory(self) -> Dict[str, Any]:
        if self.logger is None:
            return {}
        return {"trajectory": self.logger._trajectory(), "trajectory_extra": self._trajectory_extra}

    def completion(self, prompt: Any, root_prompt: Optional[str] = None) -> RLMChatCompletion:
        """Answers over ``prompt`` (the context: text, a list, or JSON-like data) with
        ``root_prompt`` as the question the root model sees. Raises an ``RLMError`` subclass
        when a limit, the provider or the REPL stops the run; Ctrl-C cancels it. With
        ``persistent=True`` every call adds ``prompt`` as the next ``context_N`` of one REPL."""
        if self.persistent:
            session = self._session_for()
            try:
                doc = _engine.run(session, prompt, self._query(prompt, root_prompt))
            finally:
                self._export_session()
            return self._finish(prompt, doc)
        trajectory = self._trajectory()
        try:
            doc = _engine.run(self._engine, prompt, self._query(prompt, root_prompt), **trajectory)
        finally:
            if trajectory and self.logger is not None:
                self.logger._export(trajectory["trajectory"])
        return self._finish(prompt, doc)

    async def acompletion(self, prompt: Any, root_prompt: Optional[str] = None) -> RLMChatCompletion:
        """The asyncio form of ``completion``: awaiting holds no thread; cancelling the task
        cancels the run (a persistent session stays usable)."""
        if self.persistent:
            session = self._session_for()
            try:
                doc = await _engine.run_async(session, prompt, self._query(prompt, root_prompt))
            finally:
                self._export_session()
            return self._finish(prompt, doc)
        trajectory = self._trajectory()
        try:
            doc = await _engine.run_async(
                self._engine, prompt, self._query(prompt, root_prompt), **trajectory
            )
        finally:
            if trajectory and self.logger is not None:
                self.logger._export(trajectory["trajectory"])
        return self._finish(prompt, doc)


_EFFORTS = ("low", "medium", "high")


def _sampling(args: Optional[Dict[str, Any]], name: str) -> Dict[str, Any]:
    """``sampling_args`` as the runtime's ``Sampling``: the known fields by name, every other
    key (a provider's own keyword, ``extra_body``'s content) merged into the request body."""
    out: Dict[str, Any] = {}
    args = dict(args or {})
    extra: Dict[str, Any] = dict(args.pop("extra_body", None) or {})
    for key, value in args.items():
        if value is None:
            continue
        if key in ("temperature", "top_p"):
            out[key] = float(value)
        elif key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
            out["max_tokens"] = int(value)
        elif key == "stop":
            out["stop"] = [value] if isinstance(value, str) else list(value)
        elif key == "seed":
            out["seed"] = int(value)
        elif key == "reasoning_effort" and str(value).lower() in _EFFORTS:
            out["reasoning_effort"] = str(value).lower()
        else:
            extra[key] = value
    if extra:
        try:
            json.dumps(extra)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: provider keywords must be JSON-like ({exc})") from None
        out["extra_body"] = extra
    return out


def _tool_entry(entry: Any) -> "tuple[Any, str]":
    if isinstance(entry, dict) and "tool" in entry:
        return entry["tool"], str(entry.get("description") or "")
    return entry, ""


def _tools(tools: Optional[Dict[str, Any]]) -> "tuple[List[Any], List[Dict[str, Any]]]":
    """``custom_tools`` in the official format: ``{"name": callable_or_value}`` or
    ``{"name": {"tool": callable_or_value, "description": "..."}}``. Callables become
    functions the REPL calls back into; other values are bound as variables (JSON-like)."""
    functions: List[Any] = []
    data: List[Dict[str, Any]] = []
    for name, entry in (tools or {}).items():
        value, description = _tool_entry(entry)
        if callable(value):
            functions.append((name, description, value))
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"custom tool {name!r}: a data value must be JSON-like ({exc})") from None
        data.append({"name": name, "description": description, "value": value})
    return functions, data


def _same_tools(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for name in a:
        (va, da), (vb, db) = _tool_entry(a[name]), _tool_entry(b[name])
        if da != db or not (va is vb or (not callable(va) and va == vb)):
            return False
    return True
