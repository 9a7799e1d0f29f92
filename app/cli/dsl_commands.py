"""``wasmflow validate FILE...`` and ``wasmflow dsl schema``.

Exit codes follow app/cli/common.py: 0 all files valid, 1 some file is invalid or unreadable.
Every failure is one line per problem (or JSON with --json); never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from app import dsl
from app.errors import Problem

EXIT_INVALID = 1


def read_problems(path: str, *, max_bytes: int = dsl.MAX_BYTES) -> list[Problem]:
    """Validate one file, turning read failures into problems too."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
            if len(data) > max_bytes:
                size = os.fstat(fh.fileno()).st_size
                return [Problem("", f"document is {size:,} bytes; the limit is {max_bytes:,}", "too_large")]
    except FileNotFoundError:
        return [Problem("", "file not found", "not_found")]
    except IsADirectoryError:
        return [Problem("", "is a directory, not a file", "not_a_file")]
    except OSError as err:
        return [Problem("", f"cannot read the file: {err.strerror or err}", "unreadable")]
    return dsl.validate(data, max_bytes=max_bytes)


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file instead of lines.")
def validate_cmd(files: tuple[str, ...], as_json: bool) -> None:
    """Check workflow files against the DSL: schema, graph rules and expressions."""
    failed = False
    for path in files:
        problems = _problems_for(path)
        failed = failed or bool(problems)
        if as_json:
            record: dict[str, Any] = {"file": path, "valid": not problems, "errors": [p.to_dict() for p in problems]}
            click.echo(json.dumps(record, ensure_ascii=False))
            continue
        prefix = f"{path}:" if len(files) > 1 else ""
        if not problems:
            click.echo(f"{path}: valid")
        for p in problems:
            click.echo(f"{prefix}{p.line()}")
    sys.exit(EXIT_INVALID if failed else 0)


def _problems_for(path: str) -> list[Problem]:
    if path == "-":
        data = sys.stdin.buffer.read(dsl.MAX_BYTES + 1)
        return dsl.validate(data)
    return read_problems(path)


@click.group("dsl")
def dsl_group() -> None:
    """The workflow DSL: its JSON Schema."""


@dsl_group.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the DSL (the editor builds its palette and forms from it)."""
    click.echo(json.dumps(dsl.json_schema(), indent=2, ensure_ascii=False))


def register(cli: click.Group) -> None:
    cli.add_command(validate_cmd)
    cli.add_command(dsl_group)
