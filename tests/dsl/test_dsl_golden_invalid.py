"""Each invalid document under tests/golden/dsl_invalid produces exactly its expected problems.

Regenerate the expectations with ``pytest tests/dsl --update-golden`` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import dsl

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "dsl_invalid"
CASES = sorted(p for p in GOLDEN.glob("*.json") if not p.name.endswith(".errors.json"))


def check_golden(path: Path, actual: str, update: bool) -> None:
    if update or not path.exists():
        path.write_text(actual, encoding="utf-8")
        if not update:
            pytest.fail(f"golden file {path} did not exist; it was written now: review it and run again")
        return
    assert actual == path.read_text(encoding="utf-8"), f"differs from {path} (pytest --update-golden to accept)"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in CASES])
def test_invalid_document(case: Path, update_golden: bool) -> None:
    problems = dsl.validate(case.read_bytes())
    assert problems, f"{case.name} should be invalid"
    assert all(isinstance(p, dsl.Problem) for p in problems)
    assert problems == dsl.sort_problems(problems)
    actual = [{"path": p.path, "node": p.node, "code": p.code, "message": p.message} for p in problems]
    check_golden(
        case.with_suffix(".errors.json"), json.dumps(actual, indent=2, ensure_ascii=False) + "\n", update_golden
    )


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in CASES])
def test_parse_and_validate_raises_with_the_same_problems(case: Path) -> None:
    with pytest.raises(dsl.ValidationFailed) as info:
        dsl.parse_and_validate(case.read_text(encoding="utf-8"))
    assert info.value.problems == dsl.validate(case.read_text(encoding="utf-8"))


def test_every_graph_rule_has_a_case() -> None:
    codes = set()
    for case in CASES:
        path = case.with_suffix(".errors.json")
        if path.exists():
            codes.update(p["code"] for p in json.loads(path.read_text()))
    wanted = {
        "unknown_node", "duplicate_id", "no_trigger", "extra_trigger", "cycle", "unreachable", "bad_port",
        "syntax_error", "not_upstream", "unknown_name", "literal_secret", "dynamic_host", "bad_cron",
        "bad_timezone", "bad_duration", "unknown_type", "unknown_field", "wrong_type", "respond_without_webhook",
        "retry_not_allowed", "missing_error_edge", "edge_into_trigger", "duplicate_edge", "trigger_in_body",
        "ambiguous_map_result", "edge_crosses_graph", "edge_into_handler", "not_in_scope", "one_of",
    }  # fmt: skip
    assert wanted <= codes, f"no golden case for: {sorted(wanted - codes)}"
