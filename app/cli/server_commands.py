"""``wasmflow serve`` and ``wasmflow db upgrade``."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

import click

from app.cli.common import fail, settings_from
from app.errors import WasmflowError

MAX_DEFAULT_PROCESSES = 4  # each server process holds ~100 MB; more is a choice (--processes)


def default_processes() -> int:
    """One server process per CPU core this process may use, at most ``MAX_DEFAULT_PROCESSES``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_PROCESSES))


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


def _watcher_app(environ, start_response):  # never called: the reloader's watcher process serves nothing
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"restarting"]


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--i-understand-the-api-is-open",
    "open_api",
    is_flag=True,
    help="Allow a non-loopback bind without authentication (WASMFLOW_AUTH=1 needs no such flag).",
)
@click.option(
    "--processes",
    envvar="WASMFLOW_SERVE_PROCESSES",
    default=0,
    type=click.IntRange(min=0),
    help=f"Server (gunicorn worker) processes, each with its own engine [default: 0, one per CPU core, at most "
    f"{MAX_DEFAULT_PROCESSES}].",
)
@click.option("--dev", is_flag=True, help="Werkzeug's development server: one process, reloads on code changes.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, open_api: bool, processes: int, dev: bool) -> None:
    """Start the wasmflow server (API and editor): gunicorn, or with --dev the development server."""
    auth_on = os.environ.get("WASMFLOW_AUTH", "").strip().lower() in ("1", "true", "on", "yes")
    if not _is_loopback(host) and not (open_api or auth_on):
        raise click.UsageError(
            f"refusing to bind {host}: without WASMFLOW_AUTH=1 the API has no authentication, so anyone who can "
            "reach it can run workflows. Turn auth on (docs/operations.md, Access), bind 127.0.0.1, or pass "
            "--i-understand-the-api-is-open."
        )
    from app.store import open_database

    settings = settings_from(ctx)
    try:
        settings.ensure_dirs()
        open_database(settings.database_url)
    except WasmflowError as err:
        fail(err)
    if host not in ("0.0.0.0", "::", "") and not _is_loopback(host):
        # the address it was told to bind is a name it answers to (app/api/guard.py); workers inherit it
        names = [n for n in os.environ.get("WASMFLOW_PUBLIC_NAMES", "").split(",") if n.strip()]
        os.environ["WASMFLOW_PUBLIC_NAMES"] = ",".join(dict.fromkeys([*names, host]))
    if dev:
        from werkzeug.serving import run_simple

        if os.environ.get("WERKZEUG_RUN_MAIN") == "true":  # the reloader's child: the one that serves
            from app.api import create_app

            app = create_app({"SETTINGS": settings})
        else:  # the watcher only restarts the child: no app, no engine of its own
            click.echo(f"wasmflow serving http://{host}:{port} (instance {settings.instance_dir}, development server)")
            app = _watcher_app
        run_simple(host, port, app, threaded=True, use_reloader=True)
        return
    processes = processes or default_processes()
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    os.environ.update(
        WASMFLOW_INSTANCE=str(settings.instance_dir),
        WASMFLOW_DATABASE_URL=settings.database_url,
        WASMFLOW_ARTIFACTS_DIR=str(settings.artifacts_dir),
        WASMFLOW_BIND=bind,
        WASMFLOW_SERVE_PROCESSES=str(processes),
    )
    click.echo(f"wasmflow serving http://{bind} (instance {settings.instance_dir}, {processes} processes)")
    sys.stdout.flush()
    # this process becomes gunicorn's master (a few MB); each worker loads the app with its own engine
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "-c", "python:app.cli.gunicorn_conf", "app.wsgi:app"])


def register(cli: click.Group) -> None:
    cli.add_command(db_group)
    cli.add_command(serve)
