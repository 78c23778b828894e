"""The exceptions of recursive_lm: one hierarchy for both APIs.

    RLMError
    ├── BudgetExceeded          (max_budget / max_tokens / max_llm_calls spent)
    ├── RLMTimeoutError         (also a builtin TimeoutError: max_timeout / timeout_s)
    ├── ProviderError           (the model endpoint failed: refused key, unreachable, ...)
    ├── ReplError               (the REPL backend failed)
    │   └── ErrorThresholdExceeded  (max_errors turns in a row raised)
    └── CancellationError       (the completion was cancelled)

Every one carries what the run had: ``partial_answer`` (``""`` when none), ``usage`` (the
usage summary so far), ``iterations`` and ``result`` (the raw result document). The official
``rlms`` names are aliases: ``BudgetExceededError``, ``TokenLimitExceededError``,
``TimeoutExceededError``, ``ErrorThresholdExceededError``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional


class RLMError(Exception):
    """A completion did not end with an answer."""

    def __init__(
        self,
        message: str,
        *,
        partial_answer: str = "",
        usage: Any = None,
        iterations: int = 0,
        result: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.partial_answer = partial_answer
        self.usage = usage
        self.iterations = iterations
        self.result = result or {}


class BudgetExceeded(RLMError):
    """A token, cost or call budget of the run was spent."""


class RLMTimeoutError(RLMError, TimeoutError):
    """The run's wall-clock limit passed."""


class ProviderError(RLMError):
    """A model call failed for good (refused key, exhausted quota, unreachable endpoint)."""

    @property
    def llm_error(self) -> Optional[str]:
        """The provider error's kind (``authentication``, ``connect``, ...)."""
        return self.result.get("llm_error")


class ReplError(RLMError):
    """The REPL backend failed."""


class ErrorThresholdExceeded(ReplError):
    """``max_errors`` turns in a row raised errors."""


class CancellationError(RLMError):
    """The completion was cancelled."""


BudgetExceededError = BudgetExceeded
TokenLimitExceededError = BudgetExceeded
TimeoutExceededError = RLMTimeoutError
ErrorThresholdExceededError = ErrorThresholdExceeded

_BY_KIND = {
    "budget": BudgetExceeded,
    "timeout": RLMTimeoutError,
    "error_limit": ErrorThresholdExceeded,
    "cancelled": CancellationError,
}


def error_for(result: Dict[str, Any], usage: Any) -> Optional[RLMError]:
    """The exception for a stopped run's result document; None for an answered one."""
    kind = result.get("kind")
    if kind in ("finished", "iteration_limit"):
        return None
    cls = _BY_KIND.get(kind)
    if cls is None:
        error_type = result.get("error_type")
        cls = ReplError if error_type == "repl" else ProviderError
        if error_type in ("config", "internal"):
            cls = RLMError
    return cls(
        result.get("error") or str(kind),
        partial_answer=result.get("answer") or "",
        usage=usage,
        iterations=result.get("iterations", 0),
        result=result,
    )


__all__ = [
    "RLMError",
    "BudgetExceeded",
    "RLMTimeoutError",
    "ProviderError",
    "ReplError",
    "ErrorThresholdExceeded",
    "CancellationError",
    "BudgetExceededError",
    "TokenLimitExceededError",
    "TimeoutExceededError",
    "ErrorThresholdExceededError",
]
