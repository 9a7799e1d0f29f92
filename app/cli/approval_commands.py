"""``wasmflow approvals list``, ``wasmflow approve KEY`` and ``wasmflow reject KEY``: on the local database,
or on a server with ``--server URL``.

Locally a decision makes the run due; a running worker or server picks it up through its poll, or resume it
here with ``wasmflow runs resume RUN_ID``. A server resumes the run at once. Deciding twice fails with exit
code 3.
"""

from __future__ import annotations

import getpass

import click

from app.cli.common import echo_json, fail, server_of, settings_from
from app.errors import WasmflowError


def _db(ctx: click.Context):
    from app.store import open_database

    return open_database(settings_from(ctx).database_url)


def _default_by() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "unknown"


@click.group("approvals")
def approvals_group() -> None:
    """Approvals waiting for a decision, and decided ones."""


@approvals_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Decided approvals too.")
@click.option("--run", "run_id", help="Only this run's approvals.")
@click.option("--workflow", help="Only this workflow's approvals.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_cmd(ctx: click.Context, show_all: bool, run_id: str | None, workflow: str | None, as_json: bool) -> None:
    """List pending approvals (``--all``: decided ones too), oldest first."""
    from app.engine.approvals import list_approvals

    status = "all" if show_all else "pending"
    try:
        client = server_of(ctx)
        if client is not None:
            rows = client.get("/api/approvals", status=status, run_id=run_id, workflow=workflow)["approvals"]
        else:
            rows = list_approvals(_db(ctx), status=status, run_id=run_id, workflow=workflow)
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json({"approvals": rows})
        return
    if not rows:
        click.echo("no pending approvals" if not show_all else "no approvals", err=True)
    for r in rows:
        d = r["decision"]
        state = f"{d['decision']} by {d['by'] or '-'}" if d else f"pending until {r['timeout_at'] or 'forever'}"
        click.echo(f"{r['id']}  {r['workflow']}  {r['node']}  {r['title']!r}  {state}")


def _decide(ctx: click.Context, key: str, *, approve: bool, by: str | None, reason: str, as_json: bool) -> None:
    from app.engine.approvals import decide

    client = server_of(ctx)
    try:
        if client is not None:
            action = "approve" if approve else "reject"
            out = client.post(client.approval_path(key, action), {"by": by or _default_by(), "reason": reason})
        else:
            out = decide(_db(ctx), key, approve=approve, by=by or _default_by(), reason=reason)
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json(out)
        return
    click.echo(f"approval {key} {out['decision']} by {out['by']} at {out['decided_at']}: {out['reason']}")
    if client is not None:
        click.echo(f"run {out['run_id']} resumes on the server: wasmflow logs {out['run_id']} --follow", err=True)
    else:
        click.echo(
            f"run {out['run_id']} is due; a worker resumes it, or: wasmflow runs resume {out['run_id']}", err=True
        )


def _decision_command(name: str, approve: bool) -> click.Command:
    @click.command(name)
    @click.argument("key")
    @click.option("--reason", required=True, help="Why (kept in the audit and the node's output).")
    @click.option("--by", help="Who decides (default: the OS user).")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_context
    def cmd(ctx: click.Context, key: str, reason: str, by: str | None, as_json: bool) -> None:
        _decide(ctx, key, approve=approve, by=by, reason=reason, as_json=as_json)

    cmd.help = f"{'Approve' if approve else 'Reject'} the pending approval KEY (run_id:seq, see approvals list)."
    return cmd


def register(cli: click.Group) -> None:
    cli.add_command(approvals_group)
    cli.add_command(_decision_command("approve", True))
    cli.add_command(_decision_command("reject", False))
