"""Errors inside the guest: what a host call, a node or the whole run can fail with.

Every error becomes the same JSON shape for node outputs ({"error": ...}), node events and the run
error: {"code", "message", "node", "retriable", "details"}.
"""

from __future__ import annotations


class SandboxViolation(RuntimeError):
    """A workflow called something the sandbox does not offer (clock, entropy, files, sockets, processes)."""

    code = "sandbox_violation"


class SandboxImportError(ModuleNotFoundError):
    """An import of a module that is not in the component's snapshot (there are no files to load it from)."""

    code = "sandbox_violation"


class HostError(Exception):
    """A capability call answered `err`: the host's {"code", "message", "retriable"} document."""

    def __init__(self, code: str, message: str, retriable: bool = False, *, details: dict | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retriable = bool(retriable)
        self.details = dict(details or {})


class NodeError(Exception):
    """A node's own failure (unexpected status, bad output, approval timed out...).

    ``outside`` marks failures of the outside world, the only ones a retry policy may retry.
    """

    def __init__(self, code: str, message: str, *, retriable: bool = False, details: dict | None = None, outside=False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retriable = retriable
        self.details = dict(details or {})
        self.outside = outside


class NodeFailed(Exception):
    """A node failed and its on_error is "fail": the enclosing graph stops (a map turns it into its own failure)."""

    def __init__(self, error: dict):
        super().__init__(error.get("message", ""))
        self.error = error


class RunFailure(Exception):
    """The run ends now with ``error`` (a `fail` node): no on_error mode catches it."""

    def __init__(self, error: dict):
        super().__init__(error.get("message", ""))
        self.error = error


def error_dict(exc: BaseException, node: str) -> dict:
    """The JSON error document of any exception raised while ``node`` ran."""
    if isinstance(exc, HostError | NodeError):
        code, message, retriable, details = exc.code, exc.message, exc.retriable, exc.details
    elif isinstance(exc, SandboxViolation | SandboxImportError):
        code, message, retriable, details = SandboxViolation.code, str(exc), False, {}
    elif isinstance(exc, NodeFailed | RunFailure):
        return dict(exc.error)
    else:
        code, message, retriable, details = "expression_error", f"{type(exc).__name__}: {exc}", False, {}
    return {"code": code, "message": message, "node": node, "retriable": retriable, "details": details}


def is_outside(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the outside world (retry may help) rather than of the workflow's own logic."""
    return isinstance(exc, HostError) or (isinstance(exc, NodeError) and exc.outside)
