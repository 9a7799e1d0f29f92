"""Canonical form and digest: the loaded document (defaults filled in) minus editor-only fields,
keys sorted, compact separators, UTF-8. Node and edge order is kept (it is meaningful for display).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

EDITOR_ONLY = ("position", "notes")


def strip_editor_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a loaded document without node positions and notes (map bodies included)."""
    out = dict(doc)
    out["nodes"] = [_strip_node(n) for n in doc.get("nodes") or []]
    return out


def _strip_node(node: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in node.items() if k not in EDITOR_ONLY}
    if node.get("type") == "map":
        config = dict(node["config"])
        body = dict(config["body"])
        body["nodes"] = [_strip_node(n) for n in body.get("nodes") or []]
        config["body"] = body
        out["config"] = config
    return out


def dump(loaded: dict[str, Any]) -> str:
    """Canonical JSON text of an already-loaded document."""
    return json.dumps(strip_editor_fields(loaded), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(canonical: str) -> str:
    # surrogatepass: a JSON "\ud800" escape is legal JSON and must not crash the digest
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
