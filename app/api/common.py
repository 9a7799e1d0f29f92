"""Edge helpers shared by the blueprints: JSON bodies, schema loading with located errors, the engine and
compile pool of the app, and the ``operation`` decorator whose metadata the OpenAPI document is built from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, request
from marshmallow import Schema
from marshmallow import ValidationError as MarshmallowError

from app.dsl import parse_json
from app.errors import InvalidRequest, Problem, UnsupportedMediaType


def json_body() -> Any:
    """The request body parsed as JSON like ``wasmflow validate`` parses a file; 415 for another content
    type, 400 ``invalid_json`` naming the place (a duplicate key's pointer, ``too_deep``, line and column)."""
    if not request.is_json:
        raise UnsupportedMediaType(
            f"send JSON with Content-Type: application/json (got {request.mimetype or 'none'})",
            details={"field": "Content-Type"},
        )
    return parse_json(request.get_data() or b"null")


def _problems(messages: Any, prefix: str) -> list[Problem]:
    if isinstance(messages, dict):
        out: list[Problem] = []
        for key, value in messages.items():
            out.extend(_problems(value, f"{prefix}/{key}"))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [Problem(prefix, m, "invalid") for m in messages]
    if isinstance(messages, list):
        return [p for m in messages for p in _problems(m, prefix)]
    return [Problem(prefix, str(messages), "invalid")]


def load(schema: type[Schema], data: Any, *, where: str = "") -> dict[str, Any]:
    """``data`` loaded with ``schema``; every problem as a located 422 ``invalid_request`` (``where`` is "" for
    bodies, "?" for query)."""
    if where == "" and not isinstance(data, dict):
        raise InvalidRequest([Problem("", "the body must be a JSON object", "not_an_object")], "the request is invalid")
    try:
        return schema().load(data)
    except MarshmallowError as exc:
        problems = _problems(exc.messages, "")
        if where == "?":
            problems = [Problem("?" + p.path.lstrip("/"), p.message, p.code) for p in problems]
        raise InvalidRequest(problems, message="the request is invalid") from None


def query(schema: type[Schema]) -> dict[str, Any]:
    args = request.args.to_dict()
    args.pop("workspace", None)  # every route takes it (app.api.access): not one of the route's own
    return load(schema, args, where="?")


def engine():
    return current_app.extensions["wasmflow.engine"]


def pool():
    """The app's compile pool, opened on first use (tests that never compile never start one)."""
    from app.compiler import open_compiler

    p = current_app.extensions.get("wasmflow.compiler")
    if p is None:
        p = current_app.extensions["wasmflow.compiler"] = open_compiler(current_app.extensions["wasmflow.settings"])
    return p


def draft_compiler():
    """Background compiles of saved drafts (newest per workflow wins), sharing the app's compile pool."""
    from app.compiler.pool import LatestDraftCompiler

    d = current_app.extensions.get("wasmflow.draft_compiler")
    if d is None:
        d = current_app.extensions["wasmflow.draft_compiler"] = LatestDraftCompiler(pool())
    return d


def operation(
    summary: str,
    *,
    body: type[Schema] | str | None = None,
    query_schema: type[Schema] | None = None,
    ok: tuple[int, type[Schema] | None] = (200, None),
    errors: tuple[int, ...] = (),
    content: str = "application/json",
) -> Callable:
    """Attach OpenAPI metadata to a view (read by ``app.api.openapi``); the view itself is unchanged."""

    def mark(fn: Callable) -> Callable:
        fn._openapi = {
            "summary": summary,
            "body": body,
            "query": query_schema,
            "ok": ok,
            "errors": errors,
            "content": content,
        }
        return fn

    return mark
