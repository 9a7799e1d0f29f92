"""``wasmflow validate`` and ``wasmflow dsl schema`` through click's runner and the real console entry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from app.cli import cli

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = sorted(str(p) for p in (ROOT / "examples").glob("*.json"))
GOLDEN = ROOT / "tests" / "golden" / "dsl_invalid"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_valid_files_exit_0() -> None:
    result = run("validate", *EXAMPLES)
    assert result.exit_code == 0, result.output
    assert result.output.count(": valid") == len(EXAMPLES)


def test_one_invalid_file_prints_path_lines() -> None:
    result = run("validate", str(GOLDEN / "cycle.json"))
    assert result.exit_code == 1
    assert result.output == "/edges/2 (node shape): the edges form a cycle: fetch -> shape -> fetch\n"


def test_several_files_prefix_each_line_with_the_file() -> None:
    bad = str(GOLDEN / "unknown_fields.json")
    result = run("validate", EXAMPLES[0], bad)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{EXAMPLES[0]}: valid"
    assert lines[1:] == [
        f"{bad}:/nodes/1/config/verify_tls (node fetch): unknown field 'verify_tls'",
        f"{bad}:/nodes/1/timeout (node fetch): unknown field 'timeout'",
        f"{bad}:/owner: unknown field 'owner'",
    ]


def test_json_output() -> None:
    result = run("validate", "--json", EXAMPLES[0], str(GOLDEN / "no_trigger.json"))
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.output.splitlines()]
    assert records[0] == {"file": EXAMPLES[0], "valid": True, "errors": []}
    assert records[1]["valid"] is False
    assert records[1]["errors"][0]["code"] == "no_trigger"
    assert set(records[1]["errors"][0]) == {"path", "node", "code", "message"}


def test_bad_files_give_one_clear_line(tmp_path: Path) -> None:
    cases = {
        "empty.json": (b"", "empty document"),
        "text.json": (b"hello", "not valid JSON: Expecting value at line 1 column 1"),
        "latin1.json": (b'{"a": "\xe9"}', "document is not UTF-8: invalid byte at offset 7"),
        "deep.json": (b"[" * 10_000 + b"]" * 10_000, "the document is nested more than 64 levels deep"),
        "big.json": (b'{"a": "' + b"x" * (50 * 1024 * 1024) + b'"}', "the limit is 10,485,760"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = run("validate", str(path))
        assert result.exit_code == 1
        assert result.output.count("\n") == 1 and message in result.output, result.output
        assert "Traceback" not in result.output
    result = run("validate", str(tmp_path / "missing.json"))
    assert (result.exit_code, result.output) == (1, "/: file not found\n")


def test_stdin() -> None:
    result = CliRunner().invoke(cli, ["validate", "-"], input=Path(EXAMPLES[0]).read_bytes())
    assert result.exit_code == 0


def test_schema_command() -> None:
    result = run("dsl", "schema")
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"].endswith("2020-12/schema")
    assert "config.http.request" in schema["$defs"]


def test_real_console_entry_point() -> None:
    code = "from app.cli import main; main()"
    ok = subprocess.run([sys.executable, "-c", code, "validate", *EXAMPLES], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-c", code, "validate", str(GOLDEN / "bad_cron.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert bad.returncode == 1
    assert bad.stdout.startswith("/nodes/0/config/cron (node start): 'cron' is not a valid cron expression")
    assert bad.stderr == ""
