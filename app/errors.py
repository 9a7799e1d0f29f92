"""One error hierarchy, grouped by what the caller does (ARCHITECTURE.md, contract 7).

- ``UserError``: the request or document is wrong; 4xx with the place (JSON pointer, node id, field).
- ``RetriableError``: the world failed transiently; trying again may work.
- ``FatalError``: something broke that retrying will not fix.

Every error serializes to a dict (``to_dict``) for the journal, the API and the editor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One located problem: a JSON pointer into the document and/or a node id, and a plain message."""

    path: str
    message: str
    code: str = "invalid"
    node: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "node": self.node, "message": self.message, "code": self.code}

    def line(self) -> str:
        where = self.path or "/"
        return f"{where}: {self.message}" if not self.node else f"{where} (node {self.node}): {self.message}"


class WasmflowError(Exception):
    """Base of every error wasmflow raises on purpose."""

    code = "error"
    kind = "fatal"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "code": self.code, "message": self.message}
        if self.details:
            data["details"] = self.details
        return data


class UserError(WasmflowError):
    kind = "user"
    code = "bad_request"
    http_status = 400


class ValidationFailed(UserError):
    """A document failed validation; carries every problem found, not just the first."""

    code = "invalid_workflow"
    http_status = 422

    def __init__(self, problems: list[Problem], message: str | None = None):
        self.problems = problems
        n = len(problems)
        super().__init__(message or f"workflow is invalid: {n} problem{'s' if n != 1 else ''}")

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "errors": [p.to_dict() for p in self.problems]}


class InvalidJson(ValidationFailed):
    """A request body (API, webhook, ``--input``) is not JSON we accept; its problems name the place."""

    code = "invalid_json"
    http_status = 400

    def __init__(self, problems: list[Problem], message: str | None = None):
        super().__init__(problems, message)
        self.details = {"field": problems[0].path or "body"}


class InvalidRequest(ValidationFailed):
    """A request's parameters (query string, body fields) are invalid; each problem names one."""

    code = "invalid_request"


class InvalidInput(ValidationFailed):
    """A run input breaks the workflow's ``inputs`` JSON Schema; each problem has a pointer under /input."""

    code = "invalid_input"


class DocumentTooLarge(UserError):
    code = "too_large"
    http_status = 413


class UnsupportedMediaType(UserError):
    code = "unsupported_media_type"
    http_status = 415


class NotFound(UserError):
    code = "not_found"
    http_status = 404


class Conflict(UserError):
    code = "conflict"
    http_status = 409


class RetriableError(WasmflowError):
    kind = "retriable"
    code = "retriable"
    http_status = 503


class FatalError(WasmflowError):
    kind = "fatal"
    code = "fatal"
    http_status = 500


class CompileError(FatalError):
    """The toolchain (componentize-py, jco, wasmtime) refused a workflow; the message says which step and why."""

    code = "compile_failed"
