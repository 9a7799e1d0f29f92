"""``wasmflow serve`` and ``wasmflow db upgrade``."""

from __future__ import annotations

import ipaddress
import socket

import click

from app.cli.common import fail, settings_from
from app.errors import WasmflowError


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None))
        except OSError:
            return False


@click.group("db")
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create the database or bring its schema to the newest version."""
    from app.store import open_database

    settings = settings_from(ctx)
    try:
        settings.ensure_dirs()
        db = open_database(settings.database_url)
    except WasmflowError as err:
        fail(err)
    click.echo(f"database {db.safe_url} at schema {db.current_revision()}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--i-understand-the-api-is-open",
    "open_api",
    is_flag=True,
    help="Allow a non-loopback bind although the API has no authentication yet.",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, open_api: bool) -> None:
    """Start the wasmflow server (API and editor)."""
    if not _is_loopback(host) and not open_api:
        raise click.UsageError(
            f"refusing to bind {host}: the API has no authentication yet, so anyone who can reach it can run "
            "workflows. Bind 127.0.0.1, or pass --i-understand-the-api-is-open."
        )
    from app.api import create_app
    from app.store import open_database

    settings = settings_from(ctx)
    try:
        settings.ensure_dirs()
        open_database(settings.database_url)
    except WasmflowError as err:
        fail(err)
    app = create_app({"SETTINGS": settings})
    click.echo(f"wasmflow serving http://{host}:{port} (instance {settings.instance_dir})")
    app.run(host=host, port=port, threaded=True, use_reloader=False)


def register(cli: click.Group) -> None:
    cli.add_command(db_group)
    cli.add_command(serve)
