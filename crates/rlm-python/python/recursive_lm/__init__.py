"""recursive_lm: Recursive Language Models with the loop, HTTP calls and REPL in Rust.

Two APIs: ``recursive_lm.RLM`` (the official ``rlms`` library's) and ``recursive_lm.openenv``
(OpenEnv ``repl_env``'s ``LocalRLMRunner``). Errors are ``recursive_lm.RLMError`` subclasses.
"""

from . import openenv
from ._native import __version__
from .errors import (
    BudgetExceeded,
    BudgetExceededError,
    CancellationError,
    ErrorThresholdExceeded,
    ErrorThresholdExceededError,
    ProviderError,
    ReplError,
    RLMError,
    RLMTimeoutError,
    TimeoutExceededError,
    TokenLimitExceededError,
)
from .rlm import RLM, ModelUsageSummary, RLMChatCompletion, RLMLogger, UsageSummary

__all__ = [
    "__version__",
    "openenv",
    "RLM",
    "RLMChatCompletion",
    "RLMLogger",
    "UsageSummary",
    "ModelUsageSummary",
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
