"""Workspaces (issue 13): the unit of isolation. No Flask here: the API and the CLI use the same functions.

A workflow belongs to one workspace, and with it everything that hangs off its name (versions, deployment,
runs and their events, journal and waits, kv namespaces, webhook, schedule). Secrets and API tokens belong
to a workspace too. ``default`` always exists; without access control every request acts in the workspace it
names (``X-Wasmflow-Workspace`` or ``?workspace=``), ``default`` when it names none.

Workflow names are unique in the instance, so every row that names a workflow stays as it was; the price is
that a name taken in another workspace is refused (409, without saying where). A run whose workflow is not
in the workflows table (``wasmflow run FILE`` on this machine) belongs to ``default``.

A person's role is per workspace (``memberships``); an instance admin (``users.role`` admin) is admin in
every workspace and manages people, tokens and workspaces.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa

from app.errors import Conflict, NotFound, UserError
from app.store import Database
from app.store.models import DEFAULT_WORKSPACE, Membership, Run, User, Workflow, Workspace

DEFAULT = DEFAULT_WORKSPACE
HEADER = "X-Wasmflow-Workspace"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
ROLES = ("viewer", "operator", "editor", "admin")


def check_name(name: object, *, field: str = "workspace") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UserError(
            f"{field}: {name!r} is not a workspace name: 1-63 lower-case letters, digits and '-', starting with a "
            "letter (like payments-team)",
            code="invalid_workspace",
            details={"field": field},
        )
    return name


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ensure_default(db: Database) -> None:
    """``default`` exists (the migration creates it; a database made from the models needs it too)."""
    with db.session() as s:
        if s.get(Workspace, DEFAULT) is None:
            s.add(Workspace(name=DEFAULT, title="Default", created_at=datetime.now(UTC)))


def create(db: Database, name: str, title: str | None = None) -> dict:
    check_name(name, field="name")
    with db.session() as s:
        if s.get(Workspace, name) is not None:
            raise Conflict(f"a workspace {name} exists already", details={"field": "name"})
        row = Workspace(name=name, title=(title or name).strip()[:200] or name, created_at=datetime.now(UTC))
        s.add(row)
        return {"name": name, "title": row.title, "created_at": _iso(row.created_at)}


def exists(db: Database, name: str) -> bool:
    if name == DEFAULT:
        return True
    with db.session() as s:
        return s.get(Workspace, name) is not None


def require(db: Database, name: str) -> str:
    check_name(name)
    if not exists(db, name):
        raise NotFound(f"no workspace {name}", code="workspace_not_found", details={"field": "workspace"})
    return name


def list_all(db: Database, *, user_id: str | None = None) -> list[dict]:
    """Every workspace (``user_id`` None), or those the user is a member of, with their role there."""
    ensure_default(db)
    with db.session() as s:
        if user_id is None:
            rows = [(w, None) for w in s.scalars(sa.select(Workspace).order_by(Workspace.name))]
        else:
            user = s.get(User, user_id)
            if user is not None and user.role == "admin":
                rows = [(w, "admin") for w in s.scalars(sa.select(Workspace).order_by(Workspace.name))]
            else:
                q = (
                    sa.select(Workspace, Membership.role)
                    .join(Membership, Membership.workspace == Workspace.name)
                    .where(Membership.user_id == user_id)
                    .order_by(Workspace.name)
                )
                rows = list(s.execute(q).all())
        return [
            {"name": w.name, "title": w.title, "created_at": _iso(w.created_at), **({"role": r} if r else {})}
            for w, r in rows
        ]


def role_of(db: Database, user_id: str, workspace: str) -> str | None:
    """The user's role in ``workspace``: admin everywhere for an instance admin, else their membership's."""
    with db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            return None
        if user.role == "admin":
            return "admin" if exists(db, workspace) else None
        row = s.get(Membership, (workspace, user_id))
        return row.role if row is not None else None


def set_member(db: Database, workspace: str, email: str, role: str | None) -> dict:
    """Give ``email`` the ``role`` in ``workspace`` (None: remove them from it)."""
    require(db, workspace)
    if role is not None and role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}", code="bad_role", details={"field": "role"})
    with db.session() as s:
        user = s.execute(sa.select(User).where(User.email == email.strip().lower())).scalar()
        if user is None:
            raise NotFound(f"no user {email}", details={"field": "email"})
        row = s.get(Membership, (workspace, user.id))
        if role is None:
            if row is not None:
                s.delete(row)
            return {"workspace": workspace, "email": user.email, "role": None}
        if row is None:
            s.add(Membership(workspace=workspace, user_id=user.id, role=role, created_at=datetime.now(UTC)))
        else:
            row.role = role
        return {"workspace": workspace, "email": user.email, "role": role}


def members(db: Database, workspace: str) -> list[dict]:
    require(db, workspace)
    with db.session() as s:
        q = (
            sa.select(User.email, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace == workspace)
            .order_by(User.email)
        )
        return [{"email": e, "role": r} for e, r in s.execute(q).all()]


# -- what belongs where ------------------------------------------------------------------------------------


def of_workflow(db: Database, name: str | None) -> str:
    """The workspace of the workflow ``name`` (``default`` for a run of no stored workflow)."""
    if not name:
        return DEFAULT
    with db.session() as s:
        ws = s.scalar(sa.select(Workflow.workspace).where(Workflow.name == name))
    return ws or DEFAULT


def of_run(db: Database, run_id: str) -> str | None:
    """The workspace of a run; None when there is no such run."""
    with db.session() as s:
        row = s.execute(
            sa.select(Run.workflow_name, Workflow.workspace)
            .outerjoin(Workflow, Workflow.name == Run.workflow_name)
            .where(Run.id == run_id)
        ).first()
    if row is None:
        return None
    return row[1] or DEFAULT


def workflow_filter(column: sa.ColumnElement, workspace: str) -> sa.ColumnElement[bool]:
    """A WHERE clause keeping the rows whose workflow name (``column``) is in ``workspace``."""
    mine = column.in_(sa.select(Workflow.name).where(Workflow.workspace == workspace))
    if workspace != DEFAULT:
        return mine
    return sa.or_(mine, column.is_(None), column.not_in(sa.select(Workflow.name)))
