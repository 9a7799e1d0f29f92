"""``wasmflow serve`` and ``wasmflow db upgrade``."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import click

from app.cli.common import fail, settings_from
from app.engine.feed import WAKE_DIR_ENV
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
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Server processes sharing the port, each with its own engine (0: one per CPU core).",
)
@click.option("--listen-fd", type=int, default=None, hidden=True)  # a child of --processes: the shared socket
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, open_api: bool, processes: int, listen_fd: int | None) -> None:
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
    processes = processes or os.cpu_count() or 1
    if processes > 1 and listen_fd is None:
        _supervise(host, port, processes, settings.instance_dir)
        return
    app = create_app({"SETTINGS": settings})
    if listen_fd is None:
        click.echo(f"wasmflow serving http://{host}:{port} (instance {settings.instance_dir})")
        app.run(host=host, port=port, threaded=True, use_reloader=False)
        return
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True, fd=listen_fd)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # the supervisor's stop: the engine closes at exit (its leases end)
        server.server_close()


def _die_with_parent() -> None:
    """In a child, before exec: the kernel kills it when the supervisor dies (kill -9 included)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _supervise(host: str, port: int, processes: int, instance: object) -> None:
    """``--processes N``: one listening socket, N server processes accepting on it (each executes the runs it
    accepts; all coordinate through the database as workers do). A child that dies is started again; SIGINT
    or SIGTERM stops them all, and they die with the supervisor."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    fd = sock.fileno()
    argv = [sys.executable, "-c", "from app.cli import main; main()", *sys.argv[1:], "--listen-fd", str(fd)]
    wake_dir = tempfile.mkdtemp(prefix="wasmflow-wake-")  # live feeds wake on the siblings' commits
    env = {**os.environ, WAKE_DIR_ENV: wake_dir}

    def start() -> subprocess.Popen:
        return subprocess.Popen(argv, pass_fds=(fd,), env=env, preexec_fn=_die_with_parent)  # noqa: PLW1509

    children = [start() for _ in range(processes)]
    click.echo(f"wasmflow serving http://{host}:{sock.getsockname()[1]} (instance {instance}, {processes} processes)")
    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        for i, child in enumerate(children):
            if child.poll() is not None and not stopping:
                click.echo(f"server process {child.pid} exited ({child.returncode}); starting another", err=True)
                children[i] = start()
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    end = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    sock.close()
    shutil.rmtree(wake_dir, ignore_errors=True)


def register(cli: click.Group) -> None:
    cli.add_command(db_group)
    cli.add_command(serve)
