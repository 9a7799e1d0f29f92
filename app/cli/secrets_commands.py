"""``wasmflow secrets set|list|delete``: named secrets, encrypted with the instance key.

A value is read from a hidden prompt or from standard input, never from an argument (arguments end up in
shell history and in the process list).
"""

from __future__ import annotations

import sys

import click

from app.cli.common import echo_json, fail, settings_from
from app.errors import UserError, WasmflowError


def _store(ctx: click.Context, *, need_key: bool):
    """The instance's secret store; with ``need_key`` the key is loaded (created on first use) and checked."""
    from app.runtime.secrets import SecretBox, SecretStore, open_secret_store
    from app.store import open_database

    settings = settings_from(ctx)
    settings.ensure_dirs()
    db = open_database(settings.database_url)
    if need_key:
        return open_secret_store(db, settings.instance_dir)
    return SecretStore(db, SecretBox.load(settings.instance_dir), instance_dir=settings.instance_dir)


def workspace_option(help_text: str):
    """``--workspace`` (env ``WASMFLOW_WORKSPACE``, default ``default``) of the commands that act in one."""
    return click.option(
        "--workspace",
        envvar="WASMFLOW_WORKSPACE",
        default="default",
        show_default=True,
        help=f"{help_text} (env WASMFLOW_WORKSPACE)",
    )


def _read_stdin() -> str:
    value = sys.stdin.read()
    # One trailing newline is how `echo` and files end; the secret itself does not contain it.
    if value.endswith("\r\n"):
        return value[:-2]
    return value[:-1] if value.endswith("\n") else value


@click.group("secrets")
def secrets_group() -> None:
    """Named secrets that HTTP nodes inject by name (values never reach the workflow)."""


@secrets_group.command("set")
@click.argument("name")
@click.option("--from-stdin", is_flag=True, help="Read the value from standard input instead of a hidden prompt.")
@workspace_option("The workspace the secret belongs to")
@click.option(
    "--workflow",
    "workflows",
    multiple=True,
    help="Only this workflow may use it (repeat for more); without it, every workflow of the workspace.",
)
@click.pass_context
def secrets_set(ctx: click.Context, name: str, from_stdin: bool, workspace: str, workflows: tuple[str, ...]) -> None:
    """Create or replace the secret NAME."""
    from app import workspaces as spaces
    from app.runtime.secrets import check_name

    try:
        check_name(name)
        value = (
            _read_stdin() if from_stdin else click.prompt(f"value of {name}", hide_input=True, confirmation_prompt=True)
        )
        if not value:
            raise UserError("value: a secret value must be a non-empty string", details={"field": "value"})
        store = _store(ctx, need_key=True)
        spaces.require(store.db, workspace)
        if workflows:
            created = store.set(name, value, workspace=workspace, workflows=list(workflows))
        else:
            created = store.set(name, value, workspace=workspace)
    except WasmflowError as err:
        fail(err)
    click.echo(f"secret {name} {'created' if created else 'updated'}")


@secrets_group.command("grant")
@click.argument("name")
@click.argument("workflows", nargs=-1)
@click.option("--all", "to_all", is_flag=True, help="Every workflow of the workspace may use it.")
@workspace_option("The workspace the secret belongs to")
@click.pass_context
def secrets_grant(ctx: click.Context, name: str, workflows: tuple[str, ...], to_all: bool, workspace: str) -> None:
    """Let only WORKFLOWS use the secret NAME (or --all of its workspace); its value stays."""
    if bool(workflows) == to_all:
        fail(UserError("name the workflows, or give --all", code="nothing_to_change", details={"field": "workflows"}))
    try:
        _store(ctx, need_key=False).grant(name, None if to_all else list(workflows), workspace=workspace)
    except WasmflowError as err:
        fail(err)
    click.echo(f"secret {name}: granted to {'every workflow of ' + workspace if to_all else ', '.join(workflows)}")


@secrets_group.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"secrets": [names]} as JSON.')
@workspace_option("The workspace the secret belongs to")
@click.pass_context
def secrets_list(ctx: click.Context, as_json: bool, workspace: str) -> None:
    """List secret names (never values), with the workflows each is granted to."""
    try:
        rows = _store(ctx, need_key=False).describe(workspace=workspace)
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json({"secrets": [r["name"] for r in rows], "grants": {r["name"]: r["workflows"] for r in rows}})
    else:
        for r in rows:
            grant = "" if r["workflows"] is None else "  (only " + ", ".join(r["workflows"]) + ")"
            click.echo(r["name"] + grant)


@secrets_group.command("delete")
@click.argument("name")
@workspace_option("The workspace the secret belongs to")
@click.pass_context
def secrets_delete(ctx: click.Context, name: str, workspace: str) -> None:
    """Delete the secret NAME (works without the key: the way out after losing it)."""
    try:
        _store(ctx, need_key=False).delete(name, workspace=workspace)
    except WasmflowError as err:
        fail(err)
    click.echo(f"secret {name} deleted")


def register(cli: click.Group) -> None:
    cli.add_command(secrets_group)
