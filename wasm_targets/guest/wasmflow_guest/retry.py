"""Retry policies: which errors to retry, and how long to wait before the next attempt.

Waits go through the ``timer.wait`` capability and jitter through ``random.bytes``: the guest has neither
a clock nor entropy, and both answers are journaled so a replay waits and jitters the same way.
"""

from __future__ import annotations

from .hostcall import Call

NETWORK_CODES = frozenset({"network", "connection", "connection_error", "dns", "connect", "tls"})


class Retry:
    """A node's retry policy (DSL ``retry``), with the DSL defaults."""

    __slots__ = ("max_attempts", "initial_seconds", "multiplier", "max_seconds", "jitter", "retry_on")

    def __init__(
        self,
        max_attempts: int = 3,
        *,
        initial_seconds: float = 1,
        multiplier: float = 2,
        max_seconds: float = 300,
        jitter: bool = True,
        retry_on: tuple = ("5xx", "429", "timeout", "network"),
    ):
        self.max_attempts = max_attempts
        self.initial_seconds = initial_seconds
        self.multiplier = multiplier
        self.max_seconds = max_seconds
        self.jitter = jitter
        self.retry_on = tuple(retry_on)

    def matches(self, error: dict) -> bool:
        """Whether the error document (from an outside failure) falls in one of the ``retry_on`` classes."""
        code = str(error.get("code", ""))
        status = (error.get("details") or {}).get("status")
        status = status if isinstance(status, int) else None
        for cls in self.retry_on:
            if cls == "any":
                return True
            if cls == "timeout" and code == "timeout":
                return True
            if cls == "network" and (code in NETWORK_CODES or code.startswith("network")):
                return True
            if status is not None:
                if cls == "429" and status == 429:
                    return True
                if cls == "4xx" and 400 <= status < 500:
                    return True
                if cls == "5xx" and 500 <= status < 600:
                    return True
        return False

    def delay(self, attempt: int, unit: float | None) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): exponential, capped, then jittered into
        [50%, 100%] of that by ``unit`` in [0, 1) when jitter is on."""
        base = min(float(self.max_seconds), float(self.initial_seconds) * float(self.multiplier) ** (attempt - 1))
        if self.jitter and unit is not None:
            base *= 0.5 + 0.5 * unit
        return round(base, 3)


def backoff(policy: Retry, attempt: int, node: str):
    """Generator: draw jitter if needed and wait before the next attempt; returns the seconds waited."""
    unit = None
    if policy.jitter:
        resp = yield Call("random.bytes", {"n": 4})
        unit = int(resp["hex"][:8], 16) / 2**32
    seconds = policy.delay(attempt, unit)
    if seconds > 0:
        yield Call("timer.wait", {"seconds": seconds, "node": node})
    return seconds
