"""``wasmflow run`` (compile, run on the local database, print events live) and ``wasmflow runs ...``
(start, list, show, cancel, resume: on the local database, or on a server with ``--server URL``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from app.cli.common import EXIT_FAILED, echo_json, fail, server_of, settings_from
from app.errors import Conflict, InvalidJson, UserError, WasmflowError


def open_engine(settings, *, poll: bool = False):
    from app.engine.engine import Engine
    from app.runtime.wiring import world_services

    http, secrets = world_services(settings)
    return Engine(settings, poll=poll, http=http, secrets=secrets)


def _parse_input(raw: str | None, input_file: str | None) -> Any:
    from app.dsl import parse_json

    if raw is not None and input_file is not None:
        raise UserError("give --input or --input-file, not both")
    if raw is not None and raw.startswith("@"):  # --input @file.json
        input_file, raw = raw[1:], None
    try:
        text = Path(input_file).read_text(encoding="utf-8") if input_file else raw
    except OSError as exc:
        raise UserError(f"{input_file}: cannot read the input: {exc.strerror}") from None
    if text is None:
        return {}
    try:
        return parse_json(text)  # the DSL's rules: a duplicate key or deep nesting is an error too
    except InvalidJson as err:
        p = err.problems[0]
        raise UserError(f"--input: {p.message}" + (f" (at {p.path})" if p.path else ""), code=p.code) from None


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
        try:
            outcome = engine.run_sync(run_id)
        except Conflict:  # a `serve` or `worker` on this database claimed the new run first
            outcome = _follow_elsewhere(ctx, engine, run_id, as_json)
    except WasmflowError as err:
        fail(err, as_json=as_json, label=file)
    _report(outcome, as_json)


def _follow_elsewhere(ctx: click.Context, engine, run_id: str, as_json: bool):
    """Print the events of a run another process executes, then its outcome as if it had run here: at its end,
    or at its first wait (where a local run would stop too)."""
    import time

    from app.cli.ops_commands import follow
    from app.engine.executor import Outcome
    from app.engine.run_service import run_details

    if not as_json:
        click.echo(f"run {run_id} was picked up by another process on this database; following it", err=True)
        follow(ctx, run_id, as_json=False, to_stderr=True, until_wait=True, local=True)
    while (details := run_details(engine.db, run_id))["status"] not in _FINAL | {"waiting"}:
        time.sleep(0.2)
    return Outcome(run_id, details["status"], details.get("output"), details.get("error"))


@click.group("runs")
def runs_group() -> None:
    """Start, list, inspect and operate runs (local database, or a server with --server URL)."""


@runs_group.command("start")
@click.argument("workflow")
@click.option("--input", "raw_input", help="Run input as JSON, or @FILE to read it from a file.")
@click.option("--draft", is_flag=True, help="A test run of the compiled current draft instead of the deployed version.")
@click.option("--wait", is_flag=True, help="Print its events until the run ends; exit 3 unless it succeeded.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def start_cmd(ctx: click.Context, workflow: str, raw_input: str | None, draft: bool, wait: bool, as_json: bool) -> None:
    """Start a run of WORKFLOW's deployed version (or its draft with --draft).

    Against a server the run executes there. Locally it executes in this process until it ends or waits
    (a timer or an approval); a worker or server on the same database continues a waiting run."""
    from app.cli.ops_commands import follow

    try:
        run_input = _parse_input(raw_input, None)
        client = server_of(ctx)
        if client is not None:
            started = client.post(f"/api/workflows/{workflow}/runs", {"input": run_input, "draft": draft})
            engine = None
        else:
            from app.engine import run_service

            engine = open_engine(settings_from(ctx), poll=wait)  # with --wait: wake its own timers too
            started = run_service.start_run(engine, workflow, run_input, draft=draft)
        if not wait:
            if engine is not None:
                engine.wait_idle(timeout=3600)
                engine.close()
            if as_json:
                echo_json(started)
            else:
                version = f"version {started['version']}" if started.get("version") else "draft"
                click.echo(started["run_id"])
                click.echo(f"run {started['run_id']} of {workflow} ({version}, {started['digest'][:12]})", err=True)
            return
        status = follow(ctx, started["run_id"], as_json=False, to_stderr=True) if not as_json else None
        details = _wait_final(ctx, started["run_id"], engine) if status is None else _details(ctx, started["run_id"])
        if engine is not None:
            engine.close()
    except WasmflowError as err:
        fail(err, as_json=as_json)
    _report_details(details, as_json)


_FINAL = {"succeeded", "failed", "cancelled", "needs_attention"}


def _details(ctx: click.Context, run_id: str) -> dict[str, Any]:
    client = server_of(ctx)
    if client is not None:
        return client.run(run_id)
    from app.engine.run_service import run_details
    from app.store import open_database

    return run_details(open_database(settings_from(ctx).database_url), run_id)


def _wait_final(ctx: click.Context, run_id: str, engine) -> dict[str, Any]:
    """Poll the run until it is final (``--wait --json`` prints nothing before the result)."""
    import time

    while True:
        details = _details(ctx, run_id)
        if details["status"] in _FINAL:
            return details
        time.sleep(0.2)


def _report_details(details: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(details)
    elif details["status"] == "succeeded":
        out = details.get("output")
        click.echo(json.dumps(out.get("output") if isinstance(out, dict) else out, indent=2, default=str))
    else:
        msg = (details.get("error") or {}).get("message", "")
        click.echo(f"run {details['id']} {details['status']}" + (f": {msg}" if msg else ""), err=True)
    if details["status"] != "succeeded":
        sys.exit(EXIT_FAILED)


@runs_group.command("list")
@click.option("--workflow", help="Only this workflow's runs.")
@click.option("--status", help="Only runs in this status (queued, running, waiting, succeeded, failed, ...).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 200))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_cmd(ctx: click.Context, workflow: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List runs, newest first."""
    from app.cli.ops_commands import print_table

    try:
        client = server_of(ctx)
        if client is not None:
            page = client.get("/api/runs", workflow=workflow, status=status, limit=limit)
        else:
            from app.engine.run_service import list_runs
            from app.store import open_database

            db = open_database(settings_from(ctx).database_url)
            page = list_runs(db, workflow=workflow, status=status, limit=limit)
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json(page)
        return
    if not page["runs"]:
        click.echo("no runs", err=True)
        return
    rows = [("RUN", "WORKFLOW", "STATUS", "CREATED", "DIGEST")]
    for r in page["runs"]:
        rows.append((r["id"], r["workflow"], r["status"], (r["created_at"] or "")[:19], r["digest"][:12]))
    print_table(rows)


@runs_group.command("cancel")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def cancel_cmd(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Cancel RUN_ID: at once if queued or waiting; a running one stops at its next host call."""
    try:
        client = server_of(ctx)
        if client is not None:
            out = client.post(f"/api/runs/{run_id}/cancel")
        else:
            from app.engine import run_service

            engine = open_engine(settings_from(ctx))
            try:
                out = run_service.cancel_run(engine, run_id)
            finally:
                engine.close()
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json(out)
    elif out["status"] == "cancelled":
        click.echo(f"run {run_id} cancelled")
    else:
        click.echo(f"run {run_id} is {out['status']}: asked to stop at its next step")


def _post_action(client, path: str, body: dict | None, as_json: bool, said) -> None:
    """A run action on the server (it resumes the run there); ``said(answer)`` is the line for people."""
    try:
        out = client.post(path, body)
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json(out)
    else:
        click.echo(said(out))


def _execute_here(ctx: click.Context, run_id: str, as_json: bool, *, before=None, **run_sync) -> None:
    """Execute RUN_ID in this process by replay, printing its events; ``before(engine)`` prepares it."""
    try:
        engine = open_engine(settings_from(ctx))
        if before is not None:
            before(engine)
        engine.add_listener(_printer(as_json))
        outcome = engine.run_sync(run_id, **run_sync)
    except WasmflowError as err:
        fail(err, as_json=as_json)
    _report(outcome, as_json)


@runs_group.command("resume")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-wait", is_flag=True, help="Fail at once if a dead process's lease has not expired yet.")
@click.pass_context
def resume_cmd(ctx: click.Context, run_id: str, as_json: bool, no_wait: bool) -> None:
    """Resume RUN_ID by replay: after a crash, or a waiting run now (its wait is checked again).

    With --server: the server re-queues a needs_attention run and replays it (see docs/api.md)."""
    client = server_of(ctx)
    if client is not None:
        follow = f"follow it with: wasmflow logs {run_id} --follow"
        _post_action(
            client, f"/api/runs/{run_id}/resume", None, as_json, lambda out: f"run {run_id} {out['status']}; {follow}"
        )
        return
    wait = (lambda engine: engine.wait_for_lease(run_id)) if not no_wait else None
    _execute_here(ctx, run_id, as_json, before=wait, force_waiting=True)


@runs_group.command("resolve")
@click.argument("run_id")
@click.argument("seq", type=int)
@click.option("--applied", "outcome", flag_value="applied", help="The other system did it: record --response.")
@click.option("--not-applied", "outcome", flag_value="not_applied", help="It did not: make the call again (same key).")
@click.option("--response", "response_json", default=None, help='With --applied: {"status", "headers", "body"}.')
@click.option("--by", default="operator", show_default=True, help="Who decided (recorded in the run's events).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def resolve_cmd(ctx, run_id: str, seq: int, outcome, response_json, by: str, as_json: bool) -> None:
    """Settle call SEQ of RUN_ID, whose outcome is unknown (needs_attention, ambiguous_side_effect), and
    resume the run: check the other system for the call's idempotency key (in the run error) first."""
    try:
        if outcome is None:
            raise UserError("say what happened: --applied or --not-applied")
        response = _parse_input(response_json, None) if response_json else None
    except WasmflowError as err:
        fail(err, as_json=as_json)
    client = server_of(ctx)
    if client is not None:
        body = {"seq": seq, "outcome": outcome, "response": response, "by": by}
        said = lambda out: f"call {seq} marked {outcome}; run {run_id} {out['status']}: wasmflow logs {run_id} --follow"  # noqa: E731
        _post_action(client, f"/api/runs/{run_id}/resolve", body, as_json, said)
        return

    def settle(engine) -> None:
        from app.engine import runs

        with engine.db.session() as s:
            runs.resolve_call(s, run_id, seq=seq, applied=outcome == "applied", response=response, by=by)

    _execute_here(ctx, run_id, as_json, before=settle)


@runs_group.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show_cmd(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show a run: status, output or error, and its events."""
    try:
        details = _details(ctx, run_id)
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json(details)
        return
    version = f"version {details['version']}" if details.get("version") else "no deployed version"
    click.echo(
        f"run {details['id']}  {details['workflow']}  {details['status']}  {version}  digest {details['digest'][:12]}"
    )
    lineage = details.get("lineage") or {}
    if lineage.get("replay_of"):
        origin = lineage["replay_of"]
        click.echo(f"replay of {origin['run_id']} from node {origin['from_node']}")
    for r in lineage.get("replays") or []:
        click.echo(f"replayed as {r['run_id']} from node {r['from_node']}")
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
