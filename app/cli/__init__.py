"""The ``wasmflow`` command. Each group of commands lives in its own module and registers itself here."""

from __future__ import annotations

import click

from app import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wasmflow")
@click.option(
    "--instance",
    envvar="WASMFLOW_INSTANCE",
    default="instance",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Instance folder: database, artifacts, keys.",
)
@click.option(
    "--server",
    envvar="WASMFLOW_SERVER",
    metavar="URL",
    help="Talk to the wasmflow server at URL (e.g. http://127.0.0.1:8000) instead of the local database.",
)
@click.pass_context
def cli(ctx: click.Context, instance: str, server: str | None) -> None:
    """wasmflow: workflows compiled to WebAssembly, tested in the browser, run durably.

    Commands work on the local database of --instance, or with --server URL on a running server
    (docs/cli.md lists which need a server, and the exit codes).
    """
    ctx.obj = {"instance": instance, "server": server}


def _register() -> None:
    from app.cli import (
        access_commands,
        approval_commands,
        compile_commands,
        dsl_commands,
        ops_commands,
        replay_commands,
        run_commands,
        secrets_commands,
        server_commands,
    )

    dsl_commands.register(cli)
    compile_commands.register(cli)
    server_commands.register(cli)
    run_commands.register(cli)
    secrets_commands.register(cli)
    approval_commands.register(cli)
    replay_commands.register(cli)
    ops_commands.register(cli)
    access_commands.register(cli)


_register()


def main() -> None:
    cli(prog_name="wasmflow")
