"""The workflow DSL v1: load, validate, export as JSON Schema, canonicalize. Pure: no Flask, no evaluation.

Public API (what the API, CLI and compiler call):

- ``validate(source) -> list[Problem]``: every problem at once, sorted; never raises for any input.
- ``parse_and_validate(source) -> dict``: the loaded document, or raises ``ValidationFailed``.
- ``load_document(source) -> dict``: schema-level load only (no graph checks); raises ``ValidationFailed``.
- ``canonical_json(doc) -> str`` and ``dsl_digest(doc) -> str`` (sha256 hex of the canonical form).
- ``json_schema() -> dict``: JSON Schema of the DSL with per-node-type config schemas for the editor.
- ``iter_nodes(doc)``, ``upstream_map(doc)``, ``body_map(doc)``, ``scope_for(doc, node_id)``, ``ports_for(node)``.
- ``split_template(s)``, ``single_expression(s)``, ``NODE_TYPES``.
- ``parse_json(raw)``: a JSON request body parsed by the same rules as a document; raises ``InvalidJson``.

``source`` is JSON text, UTF-8 bytes or an already-parsed value (dict).
"""

from __future__ import annotations

import functools
from typing import Any

from app.dsl import canonical as _canonical
from app.dsl.checks import check_nodes
from app.dsl.expressions import TemplateError, free_names, single_expression, split_template, template_parts
from app.dsl.graph import Analysis, analyze, analyze_doc, body_map, iter_nodes, upstream_map
from app.dsl.limits import MAX_BYTES, MAX_DEPTH, parse_json, parse_source
from app.dsl.loader import load
from app.dsl.schema import DSL_VERSION, NODE_TYPES, RETRY_TYPES, TRIGGER_TYPES, NodeType, ports_for
from app.errors import Problem, ValidationFailed

__all__ = [
    "DSL_VERSION",
    "MAX_BYTES",
    "MAX_DEPTH",
    "NODE_TYPES",
    "RETRY_TYPES",
    "TRIGGER_TYPES",
    "Analysis",
    "NodeType",
    "Problem",
    "TemplateError",
    "ValidationFailed",
    "analyze_doc",
    "body_map",
    "canonical_json",
    "dsl_digest",
    "free_names",
    "iter_nodes",
    "json_schema",
    "load_document",
    "parse_and_validate",
    "parse_json",
    "ports_for",
    "scope_for",
    "single_expression",
    "sort_problems",
    "split_template",
    "template_parts",
    "upstream_map",
    "validate",
]


def _path_key(p: Problem) -> tuple[Any, ...]:
    # Numeric-aware: /nodes/2 sorts before /nodes/10.
    tokens = p.path.split("/")[1:] if p.path else []
    return (tuple((0, int(t), "") if t.isascii() and t.isdigit() else (1, 0, t) for t in tokens), p.message)


def sort_problems(problems: list[Problem]) -> list[Problem]:
    """Deduplicated, sorted by path (numeric-aware) then message."""
    return sorted(set(problems), key=_path_key)


def _check(source: Any, *, max_bytes: int) -> tuple[dict[str, Any] | None, list[Problem]]:
    data, problems = parse_source(source, max_bytes=max_bytes)
    if problems:
        return None, problems
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "not an object"
        return None, [Problem("", f"a workflow document must be a JSON object; this is {kind}", "not_an_object")]
    loaded = load(data)
    settings = loaded.doc.get("settings")
    handler = settings.get("error_handler") if isinstance(settings, dict) else None
    analysis = analyze(loaded.graphs, handler)
    problems = loaded.problems + analysis.problems + check_nodes(analysis, list(analysis.refs.values()))
    return loaded.doc, sort_problems(problems)


def validate(source: Any, *, max_bytes: int = MAX_BYTES) -> list[Problem]:
    """Every problem of a document (text, bytes or parsed value), sorted; empty when valid. Never raises."""
    try:
        return _check(source, max_bytes=max_bytes)[1]
    except Exception as err:  # a bug in a check must not become a 500 or a traceback; report it as a problem
        return [
            Problem(
                "", f"internal validator error ({type(err).__name__}); please report this document", "internal_error"
            )
        ]


def parse_and_validate(source: Any, *, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """The loaded document (plain JSON dict, defaults filled in); raises ValidationFailed with every problem."""
    try:
        doc, problems = _check(source, max_bytes=max_bytes)
    except Exception as err:
        problems = [
            Problem(
                "", f"internal validator error ({type(err).__name__}); please report this document", "internal_error"
            )
        ]
    if problems:
        raise ValidationFailed(problems)
    assert doc is not None
    return doc


def load_document(source: Any, *, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Schema-level load (defaults filled in, no graph or expression checks); raises ValidationFailed."""
    data, problems = parse_source(source, max_bytes=max_bytes)
    if not problems and not isinstance(data, dict):
        problems = [Problem("", "a workflow document must be a JSON object", "not_an_object")]
    if problems:
        raise ValidationFailed(problems)
    loaded = load(data)
    if loaded.problems:
        raise ValidationFailed(sort_problems(loaded.problems))
    return loaded.doc


def canonical_json(doc: Any) -> str:
    """Canonical JSON of a document (loaded or not: defaults are filled in first); raises ValidationFailed."""
    return _canonical.dump(load_document(doc))


def dsl_digest(doc: Any) -> str:
    """sha256 hex of ``canonical_json(doc)``."""
    return _canonical.digest_of(canonical_json(doc))


def scope_for(doc: dict[str, Any], node_id: str) -> frozenset[str]:
    """Names an expression of ``node_id`` may read: input, upstream node ids, item/index in a body, error."""
    a = analyze_doc(doc)
    ref = a.refs[node_id]
    names = {"input"} | a.upstream(node_id)
    if ref.map_id is not None:
        names |= {"item", "index"}
    if node_id in a.error_scope:
        names.add("error")
    return frozenset(names)


@functools.cache
def _schema() -> dict[str, Any]:
    from app.dsl.jsonschema_export import build

    return build()


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the DSL; a fresh copy each call."""
    import copy

    return copy.deepcopy(_schema())
