"""The native module: the RLM loop, HTTP calls and REPL in Rust (crates/rlm-python)."""

from typing import Any, Callable, List, Optional, Tuple

__version__: str

class Job:
    def cancel(self) -> None: ...

class Session:
    def run(self, context: str, query: str, context_json: bool = False) -> str: ...
    def start(
        self,
        context: str,
        query: str,
        on_done: Callable[[str], None],
        context_json: bool = False,
    ) -> Job: ...
    def close(self) -> None: ...

class Engine:
    def __init__(
        self,
        settings: str,
        chat_fn: Optional[Callable[..., str]] = None,
        on_event: Optional[Callable[[str, Any], None]] = None,
        tools: Optional[List[Tuple[str, str, Callable[[str], Tuple[bool, str]]]]] = None,
        backend: Optional[Callable[[str], Tuple[bool, str]]] = None,
        sub_tools: Optional[List[Tuple[str, str, Callable[[str], Tuple[bool, str]]]]] = None,
    ) -> None: ...
    def session(
        self, trajectory: Optional[str] = None, trajectory_extra: Optional[str] = None
    ) -> Session: ...
    def run(
        self,
        context: str,
        query: str,
        context_json: bool = False,
        trajectory: Optional[str] = None,
        trajectory_extra: Optional[str] = None,
    ) -> str: ...
    def start(
        self,
        context: str,
        query: str,
        on_done: Callable[[str], None],
        context_json: bool = False,
        trajectory: Optional[str] = None,
        trajectory_extra: Optional[str] = None,
    ) -> Job: ...

def export_official(trajectory: str, out: str, last_run: bool = False) -> None: ...
