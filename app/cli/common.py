"""Helpers shared by CLI commands: settings from the context, one-line errors, exit codes.

Exit codes: 0 success; 1 the input is invalid (validation errors printed one per line); 2 usage error
(click); 3 the operation failed (compile error, database unavailable, not found).
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from app.config import Settings
from app.errors import ValidationFailed, WasmflowError

EXIT_INVALID = 1
EXIT_FAILED = 3


def settings_from(ctx: click.Context) -> Settings:
    return Settings.load(ctx.find_root().obj["instance"])


def fail(err: WasmflowError, *, as_json: bool = False, label: str | None = None) -> NoReturn:
    """Print ``err`` as one clear line per problem (or JSON) and exit with the documented code."""
    code = EXIT_INVALID if isinstance(err, ValidationFailed) else EXIT_FAILED
    if as_json:
        click.echo(json.dumps({"ok": False, "error": err.to_dict()}, indent=2))
    elif isinstance(err, ValidationFailed):
        prefix = f"{label}:" if label else ""
        for p in err.problems:
            click.echo(f"{prefix}{p.line()}", err=True)
    else:
        click.echo(f"error: {err.message}", err=True)
    sys.exit(code)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
