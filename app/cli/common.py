"""Helpers shared by CLI commands: settings from the context, one-line errors, exit codes.

Exit codes (docs/cli.md): 0 success; 1 the input is invalid (validation errors printed one per line); 2 usage
error (click); 3 the operation failed (compile error, database unavailable, not found, refused by the server,
or the run a command waited for ended failed, cancelled or needs_attention); 4 the server given with
``--server`` could not be reached (nothing was done there).
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
EXIT_UNREACHABLE = 4


def settings_from(ctx: click.Context) -> Settings:
    return Settings.load(ctx.find_root().obj["instance"])


def server_of(ctx: click.Context):
    """The ``Client`` for ``--server URL`` / ``WASMFLOW_SERVER``, or None to work on the local database."""
    obj = ctx.find_root().obj
    url = obj.get("server")
    if not url:
        return None
    if obj.get("client") is None:
        from app.cli.client import Client

        try:
            obj["client"] = Client(url)
        except WasmflowError as err:
            raise click.UsageError(err.message) from None
        ctx.find_root().call_on_close(obj["client"].close)
    return obj["client"]


def fail(err: WasmflowError, *, as_json: bool = False, label: str | None = None) -> NoReturn:
    """Print ``err`` as one clear line per problem (or JSON) and exit with the documented code."""
    from app.cli.client import Unreachable

    if isinstance(err, ValidationFailed):
        code = EXIT_INVALID
    elif isinstance(err, Unreachable):
        code = EXIT_UNREACHABLE
    else:
        code = EXIT_FAILED
    if as_json:
        click.echo(json.dumps({"ok": False, "error": err.to_dict()}, indent=2))
    elif isinstance(err, ValidationFailed):
        prefix = f"{label}:" if label else ""
        if err.details.get("remote") and len(err.problems) == 1:  # one line: the message and its place
            p = err.problems[0]
            text = err.message if p.message == err.message else f"{err.message}: {p.message}"
            click.echo(f"error: {text}" + (f" (at {p.path})" if p.path else ""), err=True)
            sys.exit(code)
        if err.details.get("remote"):
            click.echo(f"error: {err.message}", err=True)
        for p in err.problems:
            click.echo(f"{prefix}{p.line()}", err=True)
    else:
        click.echo(f"error: {err.message}", err=True)
    sys.exit(code)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
