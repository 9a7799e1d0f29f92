"""Paths and helpers shared by the test modules (import with ``from support import ...``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
POSTGRES_URL = os.environ.get("WASMFLOW_TEST_POSTGRES_URL")
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


def check_golden(path: Path, actual: str, update: bool) -> None:
    """Compare ``actual`` with the golden file at ``path``; with --update-golden, rewrite it instead."""
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        if not update:
            pytest.fail(f"golden file {path} did not exist; it was written now: review it and run again")
        return
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"output differs from golden file {path} (run pytest --update-golden to accept)"
