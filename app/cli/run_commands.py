"""``wasmflow run`` (compile, run on the local database, print events live) and ``wasmflow runs ...``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from app.cli.common import EXIT_FAILED, echo_json, fail, settings_from
from app.errors import UserError, WasmflowError


def open_engine(settings, *, poll: bool = False):
    from app.engine.engine import Engine
    from app.runtime.wiring import world_services

    http, secrets = world_services(settings)
    return Engine(settings, poll=poll, http=http, secrets=secrets)


def _parse_input(raw: str | None, input_file: str | None) -> Any:
    if raw is not None and input_file is not None:
        raise UserError("give --input or --input-file, not both")
    text = Path(input_file).read_text(encoding="utf-8") if input_file else raw
    if text is None:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--input is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


_COLORS = {"succeeded": "green", "finished": "green", "failed": "red", "needs_attention": "yellow", "waiting": "yellow"}


def _printer(as_json: bool):
    def show(run_id: str, events: list[dict]) -> None:
        if as_json:
            return
        for e in events:
            kind = e["type"].split(".")[-1]
            node = f" {e['node']}" if e.get("node") else ""
            data = e.get("data") or {}
            extra = ""
            if e["type"] == "log":
                extra = f" {data.get('message', '')}"
            elif e["type"] == "node.failed":
                extra = f" {(data.get('error') or {}).get('message', '')}"
            elif e["type"] == "node.finished":
                extra = " " + json.dumps(data.get("output"), default=str)[:120]
            click.echo(click.style(f"{e['seq']:>4} {e['type']}{node}", fg=_COLORS.get(kind)) + extra, err=True)

    return show


def _report(outcome, as_json: bool) -> None:
    if as_json:
        echo_json(
            {"run_id": outcome.run_id, "status": outcome.status, "output": outcome.output, "error": outcome.error}
        )
    elif outcome.status == "succeeded":
        click.echo(
            json.dumps(
                outcome.output.get("output") if isinstance(outcome.output, dict) else outcome.output,
                indent=2,
                default=str,
            )
        )
    else:
        msg = (outcome.error or {}).get("message", "")
        click.echo(f"run {outcome.run_id} {outcome.status}" + (f": {msg}" if msg else ""), err=True)
    if outcome.status in ("failed", "needs_attention", "cancelled"):
        sys.exit(EXIT_FAILED)


@click.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--input", "raw_input", help="Run input as JSON.")
@click.option("--input-file", type=click.Path(dir_okay=False), help="Run input from a JSON file.")
@click.option("--json", "as_json", is_flag=True, help="Print the run result as JSON.")
@click.pass_context
def run_cmd(ctx: click.Context, file: str, raw_input: str | None, input_file: str | None, as_json: bool) -> None:
    """Compile FILE (cached) and run it on the local database, printing node events as they happen."""
    from app.cli.compile_commands import _read
    from app.compiler import open_compiler

    settings = settings_from(ctx)
    try:
        run_input = _parse_input(raw_input, input_file)
        compiled = open_compiler(settings).compile(_read(file, settings.max_document_bytes), with_bundle=False)
        engine = open_engine(settings)
        engine.add_listener(_printer(as_json))
        run_id = engine.create_run(compiled.digest, run_input)
        if not as_json:
            click.echo(f"run {run_id} of {compiled.artifact.workflow_name} ({compiled.digest[:12]})", err=True)
        outcome = engine.run_sync(run_id)
    except WasmflowError as err:
        fail(err, as_json=as_json, label=file)
    _report(outcome, as_json)


@click.group("runs")
def runs_group() -> None:
    """Inspect and operate runs on the local database."""


@runs_group.command("resume")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-wait", is_flag=True, help="Fail at once if a dead process's lease has not expired yet.")
@click.pass_context
def resume_cmd(ctx: click.Context, run_id: str, as_json: bool, no_wait: bool) -> None:
    """Resume RUN_ID by replay: after a crash, or a waiting run now (its wait is checked again)."""
    settings = settings_from(ctx)
    try:
        engine = open_engine(settings)
        engine.add_listener(_printer(as_json))
        if not no_wait:
            engine.wait_for_lease(run_id)
        outcome = engine.run_sync(run_id, force_waiting=True)
    except WasmflowError as err:
        fail(err, as_json=as_json)
    _report(outcome, as_json)


@runs_group.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show_cmd(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show a run: status, output or error, and its events."""
    from app.engine.queries import run_details
    from app.store import open_database

    settings = settings_from(ctx)
    try:
        details = run_details(open_database(settings.database_url), run_id)
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json(details)
        return
    click.echo(f"run {details['id']}  {details['workflow']}  {details['status']}  digest {details['digest'][:12]}")
    for e in details["events"]:
        click.echo(f"  {e['seq']:>4} {e['at']}  {e['type']}" + (f" {e['node']}" if e["node"] else ""))
    if details["error"]:
        click.echo(f"error: {details['error'].get('message')}")


@click.command("worker")
@click.option("--concurrency", default=8, show_default=True, type=int, help="Runs executed at once.")
@click.pass_context
def worker_cmd(ctx: click.Context, concurrency: int) -> None:
    """Execute runs from the database until stopped: queued, due after a wait, or orphaned by a dead process."""
    import signal
    import threading

    from app.engine.engine import Engine
    from app.engine.feed import install_notifier
    from app.engine.schedules import schedule_duty
    from app.runtime.wiring import world_services

    settings = settings_from(ctx)
    try:
        http, secrets = world_services(settings)
        engine = Engine(settings, poll=True, http=http, secrets=secrets, run_concurrency=concurrency)
        engine.add_duty(schedule_duty)  # fire cron schedules of deployed workflows
        install_notifier(engine)  # PostgreSQL: servers' live feeds wake on this worker's events
    except WasmflowError as err:
        fail(err)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"worker {engine.owner} polling {engine.db.safe_url}", err=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    engine.close()


def register(cli: click.Group) -> None:
    cli.add_command(run_cmd)
    cli.add_command(runs_group)
    cli.add_command(worker_cmd)
