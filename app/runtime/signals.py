"""Exceptions a host function raises to unwind the guest (they cross the sandbox as themselves).

None of them is seen by workflow code: the wasmtime runner re-raises them after the guest call returns,
and the executor turns each into a run state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.errors import FatalError


class Suspend(BaseException):
    """The run must wait (timer, approval, child run): persist it as waiting; resume is replay."""

    def __init__(self, *, wake_at: datetime | None, waiting_for: dict[str, Any]):
        super().__init__(waiting_for.get("kind", "wait"))
        self.wake_at = wake_at
        self.waiting_for = waiting_for


class Released(BaseException):
    """This process is stopping: the run goes back to the queue at this host call, its lease released, so
    another process resumes it by replay at once (nothing is lost: what it did is journaled)."""


class Cancelled(BaseException):
    """Cancellation was requested; the run stops at this host call."""


class LimitExceeded(FatalError):
    """A run limit was hit; ``details["limit"]`` names it (timeout_seconds, memory_mb, output_bytes ...)."""

    code = "limit_exceeded"
