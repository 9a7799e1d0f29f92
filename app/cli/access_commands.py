"""``wasmflow users create|list`` and ``wasmflow tokens create|list|revoke`` (issue 13; app/auth.py).

Passwords come from a hidden prompt or standard input, never from an argument. A token is printed once.
"""

from __future__ import annotations

from datetime import timedelta

import click

from app.cli.common import echo_json, fail, settings_from
from app.cli.secrets_commands import _read_stdin, workspace_option
from app.errors import UserError, WasmflowError


def _db(ctx: click.Context):
    from app.store import open_database

    settings = settings_from(ctx)
    settings.ensure_dirs()
    return open_database(settings.database_url)


@click.group("users")
def users_group() -> None:
    """People who sign in to the server (when WASMFLOW_AUTH=1)."""


@users_group.command("create")
@click.argument("email")
@click.option(
    "--role", type=click.Choice(["viewer", "operator", "editor", "admin"]), default="viewer", show_default=True
)
@click.option("--admin", "is_admin", is_flag=True, help="Same as --role admin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def users_create(ctx: click.Context, email: str, role: str, is_admin: bool, password_stdin: bool) -> None:
    """Create the user EMAIL."""
    from app import auth

    try:
        password = (
            _read_stdin()
            if password_stdin
            else click.prompt(f"password of {email}", hide_input=True, confirmation_prompt=True)
        )
        user = auth.create_user(_db(ctx), email, password, role="admin" if is_admin else role)
    except WasmflowError as err:
        fail(err)
    click.echo(f"user {user['email']} created ({user['role']})")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """The users and their roles."""
    from app import auth

    users = auth.list_users(_db(ctx))
    if as_json:
        echo_json({"users": users})
        return
    for u in users:
        click.echo(f"{u['email']:40} {u['role']:9}{' (disabled)' if u['disabled'] else ''}")


@click.group("tokens")
def tokens_group() -> None:
    """API tokens (the CLI's --server sends WASMFLOW_TOKEN)."""


@tokens_group.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for, e.g. ci-deploy.")
@click.option(
    "--role",
    type=click.Choice(["viewer", "operator", "editor", "admin"]),
    default=None,
    help="At most the user's role [default: the user's].",
)
@click.option("--expires-days", type=click.IntRange(min=0), default=90, show_default=True, help="0: never.")
@workspace_option("The one workspace the token reaches")
@click.pass_context
def tokens_create(
    ctx: click.Context, email: str, name: str, role: str | None, expires_days: int, workspace: str
) -> None:
    """Create an API token for the user EMAIL; it is printed once and stored hashed."""
    from app import auth

    try:
        token = auth.create_token(
            _db(ctx),
            email,
            name,
            role=role,
            expires_in=timedelta(days=expires_days) if expires_days else None,
            workspace=workspace,
        )
    except WasmflowError as err:
        fail(err)
    click.echo(token["token"])
    click.echo(
        f"token {token['id']} ({token['role']} in {token['workspace']}, expires {token['expires_at'] or 'never'}): "
        "shown once, store it now",
        err=True,
    )


@tokens_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def tokens_list(ctx: click.Context, as_json: bool) -> None:
    """The tokens (never their values)."""
    from app import auth

    tokens = auth.list_tokens(_db(ctx))
    if as_json:
        echo_json({"tokens": tokens})
        return
    for t in tokens:
        state = "revoked" if t["revoked"] else f"expires {t['expires_at'] or 'never'}"
        click.echo(f"{t['id']}  {t['user']:30} {t['name']:20} {t['role']:9} {state}")


@tokens_group.command("revoke")
@click.argument("token_id")
@click.pass_context
def tokens_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke the token TOKEN_ID (see tokens list); it stops working at once."""
    from app import auth

    try:
        auth.revoke_token(_db(ctx), token_id)
    except WasmflowError as err:
        fail(err)
    click.echo(f"token {token_id} revoked")


@click.group("workspaces")
def workspaces_group() -> None:
    """Workspaces: what belongs to one is invisible from another; people have a role in each."""


@workspaces_group.command("create")
@click.argument("name")
@click.option("--title", default=None, help="A readable name (default: NAME).")
@click.pass_context
def workspaces_create(ctx: click.Context, name: str, title: str | None) -> None:
    """Create the workspace NAME (lower-case letters, digits and '-')."""
    from app import workspaces

    try:
        made = workspaces.create(_db(ctx), name, title)
    except WasmflowError as err:
        fail(err)
    click.echo(f"workspace {made['name']} created")


@workspaces_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def workspaces_list(ctx: click.Context, as_json: bool) -> None:
    """The workspaces, with their members."""
    from app import workspaces

    db = _db(ctx)
    rows = [{**w, "members": workspaces.members(db, w["name"])} for w in workspaces.list_all(db)]
    if as_json:
        echo_json({"workspaces": rows})
        return
    for w in rows:
        people = ", ".join(f"{m['email']} ({m['role']})" for m in w["members"]) or "no members"
        click.echo(f"{w['name']:24} {people}")


@workspaces_group.command("member")
@click.argument("workspace")
@click.argument("email")
@click.option("--role", type=click.Choice(["viewer", "operator", "editor", "admin"]), default=None)
@click.option("--remove", is_flag=True, help="Take EMAIL out of WORKSPACE.")
@click.pass_context
def workspaces_member(ctx: click.Context, workspace: str, email: str, role: str | None, remove: bool) -> None:
    """Give EMAIL a --role in WORKSPACE (or --remove them)."""
    from app import workspaces

    if (role is None) != remove:
        fail(UserError("give --role ROLE or --remove", code="nothing_to_change"))
    try:
        out = workspaces.set_member(_db(ctx), workspace, email, None if remove else role)
    except WasmflowError as err:
        fail(err)
    click.echo(f"{out['email']}: {out['role'] or 'removed'} in {out['workspace']}")


def register(cli: click.Group) -> None:
    cli.add_command(users_group)
    cli.add_command(tokens_group)
    cli.add_command(workspaces_group)
