"""Operator commands: ``wasmflow workflows list``, ``wasmflow deploy FILE`` and ``wasmflow logs RUN_ID``.

Each works against a server (``--server URL``) or the local database of ``--instance``. ``logs --follow``
streams a run's events live: from a server over the ``/api/ws`` WebSocket, locally from the database through
the same ``EventFeed`` the server uses (so events written by any worker or server on that database show up).
It exits when the run ends: 0 if it succeeded, 3 if it failed, was cancelled or needs attention.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import click

from app.cli.common import EXIT_FAILED, echo_json, fail, server_of, settings_from
from app.errors import UserError, WasmflowError

END_EVENTS = {"run.succeeded": "succeeded", "run.failed": "failed", "run.cancelled": "cancelled"}
END_EVENTS["run.needs_attention"] = "needs_attention"
_TYPE_COLORS = {
    "run.succeeded": "green",
    "node.finished": "green",
    "run.failed": "red",
    "node.failed": "red",
    "run.cancelled": "magenta",
    "run.needs_attention": "yellow",
    "run.waiting": "yellow",
    "node.waiting": "yellow",
    "approval.requested": "yellow",
    "approval.decided": "cyan",
}
_LEVEL_COLORS = {"error": "red", "critical": "red", "warning": "yellow", "warn": "yellow", "debug": "bright_black"}


def use_color() -> bool | None:
    """None lets click decide (colour on a terminal only); NO_COLOR set to a non-empty value turns it off (no-color.org)."""
    return False if os.environ.get("NO_COLOR") else None


def event_line(e: dict[str, Any]) -> str:
    """One event as a coloured line: time, type, node, and what matters of its data."""
    data = e.get("data") or {}
    at = (e.get("at") or "")[11:23]  # HH:MM:SS.mmm of an ISO time
    node = f" {e['node']}" if e.get("node") else ""
    kind = e["type"]
    extra = ""
    color = _TYPE_COLORS.get(kind)
    if kind == "log":
        level = str(data.get("level") or "info")
        color = _LEVEL_COLORS.get(level)
        extra = f" [{level}] {data.get('message', '')}"
    elif kind in ("node.failed", "run.failed", "run.needs_attention"):
        err = data.get("error") if isinstance(data.get("error"), dict) else data
        extra = f" {(err or {}).get('message', '')}".rstrip()
    elif kind == "node.finished" and "output" in data:
        extra = " " + json.dumps(data.get("output"), default=str)[:120]
    elif kind == "approval.decided":
        extra = f" {data.get('decision', '')} by {data.get('by') or '-'}"
    head = f"{e['seq']:>4} {at} {kind}{node}"
    return click.style(head, fg=color, bold=kind in END_EVENTS) + extra


class Spinner:
    """A one-character spinner on stderr while nothing happens; only when stderr is a terminal."""

    def __init__(self, label: str):
        self.label = label
        self.active = sys.stderr.isatty()
        self._frames = itertools.cycle("|/-\\")
        self._shown = False

    def tick(self, label: str | None = None) -> None:
        if self.active:
            sys.stderr.write(f"\r{next(self._frames)} {label or self.label}\x1b[K")
            sys.stderr.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._shown = False


def _local_events(ctx: click.Context, run_id: str) -> Iterator[dict | None]:
    """A run's events from the local database: history, then new ones as any process writes them."""
    from app.engine.feed import EventFeed
    from app.store import open_database

    feed = EventFeed(open_database(settings_from(ctx).database_url))
    try:
        sub = feed.subscribe(run_id=run_id)
        while True:
            batch = sub.next(0.25)
            if not batch:
                yield None
            yield from batch
    finally:
        feed.close()


def follow(
    ctx: click.Context,
    run_id: str,
    *,
    as_json: bool,
    to_stderr: bool = False,
    until_wait: bool = False,
    local: bool = False,
) -> str:
    """Print ``run_id``'s events until it ends (JSON lines with ``as_json``); returns its final status, or
    "waiting" at its first wait with ``until_wait``. ``local`` reads the local database even with --server."""
    client = None if local else server_of(ctx)
    events = client.run_events(run_id) if client is not None else _local_events(ctx, run_id)
    spinner = Spinner(f"waiting for run {run_id}")
    color = use_color()
    status = "running"
    try:
        for msg in events:
            if msg is None:
                spinner.tick(f"run {run_id} {status}")
                continue
            spinner.clear()
            kind = msg["type"]
            if kind == "run.waiting":
                status = "waiting"
            elif kind in ("run.started", "run.resumed", "run.requeued"):
                status = "running"
            if as_json:
                click.echo(json.dumps({k: v for k, v in msg.items() if k != "cursor"}, default=str), err=to_stderr)
            else:
                click.echo(event_line(msg), err=to_stderr, color=color)
            if kind in END_EVENTS:
                return END_EVENTS[kind]
            if until_wait and kind == "run.waiting":
                return "waiting"
    finally:
        spinner.clear()
    raise UserError(f"the event stream of run {run_id} ended before the run did")  # pragma: no cover


@click.command("logs")
@click.argument("run_id")
@click.option("--follow", "-f", "follow_", is_flag=True, help="Keep printing events live until the run ends.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event (JSON lines).")
@click.pass_context
def logs_cmd(ctx: click.Context, run_id: str, follow_: bool, as_json: bool) -> None:
    """Print RUN_ID's node events and log lines; --follow streams them until the run ends (exit 0 if it
    succeeded, 3 if it failed, was cancelled or needs attention)."""
    try:
        if follow_:
            status = follow(ctx, run_id, as_json=as_json)
            if status != "succeeded":
                click.echo(f"run {run_id} {status}", err=True)
                sys.exit(EXIT_FAILED)
            return
        client = server_of(ctx)
        if client is not None:
            details = client.run(run_id)
        else:
            from app.engine.queries import run_details
            from app.store import open_database

            details = run_details(open_database(settings_from(ctx).database_url), run_id)
    except WasmflowError as err:
        fail(err)
    color = use_color()
    for e in details["events"]:
        if as_json:
            click.echo(json.dumps({"run_id": run_id, **e}, default=str))
        else:
            click.echo(event_line(e), color=color)


# -- workflows -------------------------------------------------------------------------------------------------


@click.group("workflows")
def workflows_group() -> None:
    """Workflows and their deployments."""


@workflows_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def workflows_list(ctx: click.Context, as_json: bool) -> None:
    """List workflows: name, draft revision, deployed version, title."""
    try:
        client = server_of(ctx)
        if client is not None:
            rows = client.get("/api/workflows")["workflows"]
        else:
            from app.engine.workflows import list_workflows
            from app.store import open_database

            rows = list_workflows(open_database(settings_from(ctx).database_url))
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json({"workflows": rows})
        return
    if not rows:
        click.echo("no workflows", err=True)
        return
    table = [("NAME", "REVISION", "DEPLOYED", "TITLE")]
    for r in rows:
        deployed = r.get("deployed_version")
        table.append((r["name"], str(r.get("revision", "")), f"v{deployed}" if deployed else "-", r.get("title") or ""))
    print_table(table)


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Left-aligned columns sized to their content; the last column is not padded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        click.echo("  ".join([c.ljust(w) for c, w in zip(r, widths, strict=False)] + [r[-1]]).rstrip())


# -- deploy ------------------------------------------------------------------------------------------------------


@click.command("deploy")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deploy_cmd(ctx: click.Context, file: str, as_json: bool) -> None:
    """Import FILE (replacing the draft of a workflow of that name), compile it and deploy that digest."""
    from app.cli.compile_commands import _read

    try:
        settings = settings_from(ctx)
        raw = _read(file, settings.max_document_bytes)
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise UserError(f"{file}: not valid JSON: {exc}") from None
        client = server_of(ctx)
        result = _deploy_remote(client, doc) if client is not None else _deploy_local(settings, doc)
    except WasmflowError as err:
        fail(err, as_json=as_json, label=file)
    if as_json:
        echo_json(result)
        return
    what = "unchanged, already deployed" if result.get("unchanged") else "deployed"
    click.echo(f"{result['workflow']} version {result['version']} {what} (digest {result['digest']})")
    if result.get("webhook_url"):
        click.echo(f"webhook: {result['webhook_url']}")
    elif result.get("trigger") == "trigger.webhook":
        click.echo(f"webhook: /hooks/{result['webhook_token']} on the server of this database")
    if result.get("schedule"):
        click.echo(f"schedule: {result['schedule']['cron']} ({result['schedule']['timezone']})")


def _deploy_remote(client, doc: Any) -> dict[str, Any]:
    imported = client.post("/api/workflows/import", doc, overwrite="true")
    name = imported["name"]
    compiled = client.post(f"/api/workflows/{name}/compile")
    return client.post(
        f"/api/workflows/{name}/deploy", {"digest": compiled["digest"], "revision": imported["revision"]}
    )


def _deploy_local(settings, doc: Any) -> dict[str, Any]:
    from app.compiler import open_compiler
    from app.engine import workflows as wf
    from app.store import open_database

    settings.ensure_dirs()
    db = open_database(settings.database_url)
    imported = wf.import_workflow(db, doc, overwrite=True)
    pool = open_compiler(settings)
    try:
        compiled = pool.compile(wf.draft_of(db, imported["name"]))
        result = wf.deploy(db, pool.store, imported["name"], compiled.digest, expected_revision=imported["revision"])
    finally:
        pool.shutdown()
    return {**result, "webhook_url": None}


# -- replay (the local command is app.cli.replay_commands; it calls this first) --------------------------------


def replay_remote(ctx: click.Context, run_id: str, from_node: str, version: str, as_json: bool) -> bool:
    """``wasmflow --server URL replay ...``: ask the server for the replay, then print the new run's events
    until it ends or waits, like the local command. Returns False (nothing done) without ``--server``.
    Exit code 0 if the new run succeeded or waits, 3 otherwise."""
    client = server_of(ctx)
    if client is None:
        return False
    try:
        started = client.post(f"/api/runs/{run_id}/replay", {"from_node": from_node, "version": version})
        new_id = started["run_id"]
        if not as_json:
            click.echo(
                f"run {new_id} replays {run_id} from {from_node} ({version} version, {started['digest'][:12]})",
                err=True,
            )
        status = follow(ctx, new_id, as_json=False, to_stderr=True, until_wait=True) if not as_json else None
        details = client.run(new_id)
        while as_json and details["status"] not in ("succeeded", "failed", "cancelled", "needs_attention", "waiting"):
            time.sleep(0.2)
            details = client.run(new_id)
        status = details["status"] if status is None else status
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json({**started, "status": status, "output": details.get("output"), "error": details.get("error")})
    elif status == "succeeded":
        out = details.get("output")
        click.echo(json.dumps(out.get("output") if isinstance(out, dict) else out, indent=2, default=str))
    else:
        msg = (details.get("error") or {}).get("message", "")
        click.echo(f"run {new_id} {status}" + (f": {msg}" if msg else ""), err=True)
    if status not in ("succeeded", "waiting"):
        sys.exit(EXIT_FAILED)
    return True


def register(cli: click.Group) -> None:
    cli.add_command(logs_cmd)
    cli.add_command(workflows_group)
    cli.add_command(deploy_cmd)
