"""Users, roles, API tokens and browser sessions (issue 13). No Flask here: the API (app/api/access.py) and
the CLI use the same functions.

Roles, each including the ones before it: ``viewer`` (read), ``operator`` (run, approve, replay), ``editor``
(design, test, deploy), ``admin`` (secrets, users, tokens). Every API route declares the permission it needs in
``app.api.access.ROUTES``; a test walks the url_map so that a route without one cannot ship.

Passwords are stored as argon2id hashes. A token is ``wf_<43 url-safe characters>``, shown once and stored as
its SHA-256 (a token is random, so a fast hash is enough; a leaked table does not give tokens back). A session
is a random id in an HttpOnly SameSite cookie, stored as its SHA-256, with the CSRF token that every
state-changing request made with the cookie must send in ``X-CSRF-Token``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.engine.runs import as_utc, utcnow
from app.errors import Conflict, NotFound, UserError
from app.store import Database
from app.store.models import DEFAULT_WORKSPACE, ApiToken, Membership, SignInFailure, User, UserSession

ROLES = ("viewer", "operator", "editor", "admin")
PERMISSIONS = {"read": "viewer", "run": "operator", "design": "editor", "admin": "admin", "instance": "admin"}
TOKEN_PREFIX = "wf_"
SESSION_HOURS = 12
MIN_PASSWORD = 12


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a user, through a session (``csrf`` set) or a token (``token_id`` set).

    ``role`` is their role in ``workspace`` (the request's); ``instance_admin``: ``users.role`` is admin (people,
    tokens and workspaces are theirs to manage). A token reaches only ``token_workspace``."""

    user_id: str
    email: str
    role: str | None
    token_id: str | None = None
    csrf: str | None = None
    workspace: str = DEFAULT_WORKSPACE
    instance_admin: bool = False
    token_role: str | None = None
    token_workspace: str | None = None

    def may(self, permission: str) -> bool:
        if permission == "instance":
            return self.instance_admin and self.token_role in (None, "admin")
        return self.role is not None and allows(self.role, permission)


def allows(role: str, permission: str) -> bool:
    need = PERMISSIONS[permission]
    return role in ROLES and ROLES.index(role) >= ROLES.index(need)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}", code="bad_role", details={"field": "role"})
    return role


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


# -- users -----------------------------------------------------------------------------------------------


def create_user(db: Database, email: str, password: str, *, role: str = "viewer") -> dict:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise UserError(f"{email!r} is not an email address", code="bad_email", details={"field": "email"})
    if len(password) < MIN_PASSWORD:
        raise UserError(
            f"the password must have at least {MIN_PASSWORD} characters",
            code="weak_password",
            details={"field": "password"},
        )
    with db.session() as s:
        if s.execute(sa.select(User.id).where(User.email == email)).first():
            raise Conflict(f"a user {email} exists already", details={"field": "email"})
        user = User(
            id=uuid.uuid4().hex,
            email=email,
            password_hash=_hasher().hash(password),
            role=_role(role),
            disabled=0,
            created_at=utcnow(),
        )
        s.add(user)
        # the role is theirs in the default workspace (an admin is admin everywhere); others: workspaces members
        s.add(Membership(workspace=DEFAULT_WORKSPACE, user_id=user.id, role=role, created_at=user.created_at))
        return {"id": user.id, "email": email, "role": role}


def list_users(db: Database) -> list[dict]:
    with db.session() as s:
        rows = s.execute(sa.select(User).order_by(User.email)).scalars()
        return [_user_dict(u) for u in rows]


def _user_dict(u: User) -> dict:
    return {
        "id": u.id,
        "email": u.email,
        "role": u.role,
        "disabled": bool(u.disabled),
        "created_at": _iso(u.created_at),
    }


def update_user(db: Database, user_id: str, *, role: str | None = None, disabled: bool | None = None) -> dict:
    """Change a user's role and/or disable them (or enable again); the last active admin stays one (409)."""
    with db.session() as s:
        # The active admins' rows, locked in one order (PostgreSQL): two admins demoting each other at once
        # cannot both pass the check below. SQLite serializes writers anyway.
        admins = set(
            s.scalars(
                sa.select(User.id).where(User.role == "admin", User.disabled == 0).order_by(User.id).with_for_update()
            )
        )
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"no user {user_id}", details={"field": "user_id"})
        new_role = _role(role) if role is not None else user.role
        new_disabled = bool(user.disabled) if disabled is None else disabled
        if user.id in admins and (new_role != "admin" or new_disabled) and admins == {user.id}:
            what = "disabled" if new_disabled else f"made {new_role}"
            raise Conflict(
                f"{user.email} is the last active admin and cannot be {what}: make another user admin first",
                code="last_admin",
                details={"field": "disabled" if new_disabled else "role"},
            )
        user.role = new_role
        user.disabled = 1 if new_disabled else 0
        if role is not None:  # the role of the default workspace follows (others: wasmflow workspaces member)
            member = s.get(Membership, (DEFAULT_WORKSPACE, user.id))
            if member is None:
                s.add(Membership(workspace=DEFAULT_WORKSPACE, user_id=user.id, role=new_role, created_at=utcnow()))
            else:
                member.role = new_role
        return _user_dict(user)


def count_users(db: Database) -> int:
    with db.session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(User)).scalar() or 0


def check_password(db: Database, email: str, password: str) -> User | None:
    """The user if ``password`` is theirs (and they are not disabled); None otherwise, in about the same time."""
    from argon2.exceptions import VerificationError

    hasher = _hasher()
    with db.session() as s:
        user = s.execute(sa.select(User).where(User.email == email.strip().lower())).scalar()
        if user is None:
            hasher.hash(password)  # as slow as a real check: the answer's timing does not tell who exists
            return None
        try:
            hasher.verify(user.password_hash, password)
        except VerificationError:
            return None
        if user.disabled:
            return None
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hasher.hash(password)
        s.expunge(user)
        return user


# -- tokens ----------------------------------------------------------------------------------------------


def create_token(
    db: Database,
    email: str,
    name: str,
    *,
    role: str | None = None,
    expires_in: timedelta | None = timedelta(days=90),
    workspace: str = DEFAULT_WORKSPACE,
) -> dict:
    """A new token for the user ``email`` in ``workspace`` (the only one it reaches): ``{"id", "token", ...}``;
    the token itself is shown only now. Its role is at most the user's there."""
    from app import workspaces

    workspaces.require(db, workspace)
    with db.session() as s:
        user = s.execute(sa.select(User).where(User.email == email.strip().lower())).scalar()
        if user is None:
            raise NotFound(f"no user {email}", details={"field": "user"})
    theirs = workspaces.role_of(db, user.id, workspace)
    if theirs is None:
        raise UserError(
            f"{user.email} is not a member of workspace {workspace}", code="not_member", details={"field": "workspace"}
        )
    with db.session() as s:
        role = _role(role or theirs)
        if ROLES.index(role) > ROLES.index(theirs):
            raise UserError(
                f"a token of {user.email} in {workspace} can have at most the role {theirs}, not {role}",
                code="role_too_high",
                details={"field": "role"},
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        row = ApiToken(
            id=uuid.uuid4().hex[:16],
            user_id=user.id,
            name=name,
            token_hash=_sha(token),
            role=role,
            workspace=workspace,
            created_at=now,
            expires_at=now + expires_in if expires_in else None,
        )
        s.add(row)
        return {
            "id": row.id,
            "token": token,
            "name": name,
            "role": role,
            "workspace": workspace,
            "expires_at": _iso(row.expires_at),
        }


def list_tokens(db: Database) -> list[dict]:
    with db.session() as s:
        rows = s.execute(sa.select(ApiToken, User.email).join(User, User.id == ApiToken.user_id)).all()
        return [
            {
                "id": t.id,
                "user": email,
                "name": t.name,
                "role": t.role,
                "workspace": t.workspace,
                "created_at": _iso(t.created_at),
                "expires_at": _iso(t.expires_at),
                "revoked": t.revoked_at is not None,
                "last_used_at": _iso(t.last_used_at),
            }
            for t, email in rows
        ]


def revoke_token(db: Database, token_id: str) -> None:
    with db.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            raise NotFound(f"no token {token_id}", details={"field": "token_id"})
        row.revoked_at = row.revoked_at or utcnow()


def principal_for_token(db: Database, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = utcnow()
    with db.session() as s:
        row = s.execute(sa.select(ApiToken).where(ApiToken.token_hash == _sha(token))).scalar()
        if row is None or row.revoked_at is not None or (row.expires_at and as_utc(row.expires_at) <= now):
            return None
        user = s.get(User, row.user_id)
        if user is None or user.disabled:
            return None
        row.last_used_at = now
        return Principal(
            user.id,
            user.email,
            None,  # in_workspace() sets it: the token's role, never above the user's there now
            token_id=row.id,
            instance_admin=user.role == "admin",
            token_role=row.role,
            token_workspace=row.workspace,
        )


# -- sessions --------------------------------------------------------------------------------------------


def create_session(db: Database, user: User) -> tuple[str, str]:
    """(cookie value, CSRF token) of a new session of ``user``."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with db.session() as s:
        s.add(
            UserSession(
                id_hash=_sha(sid),
                user_id=user.id,
                csrf=csrf,
                created_at=now,
                expires_at=now + timedelta(hours=SESSION_HOURS),
            )
        )
    return sid, csrf


def principal_for_session(db: Database, sid: str) -> Principal | None:
    with db.session() as s:
        row = s.get(UserSession, _sha(sid))
        if row is None or as_utc(row.expires_at) <= utcnow():
            return None
        user = s.get(User, row.user_id)
        if user is None or user.disabled:
            return None
        return Principal(user.id, user.email, None, csrf=row.csrf, instance_admin=user.role == "admin")


def in_workspace(db: Database, who: Principal, workspace: str) -> Principal:
    """``who`` acting in ``workspace``, with their role there (None: not a member, or a token of another one)."""
    from dataclasses import replace

    from app import workspaces

    if who.token_workspace is not None and who.token_workspace != workspace:
        return replace(who, workspace=workspace, role=None)
    role = workspaces.role_of(db, who.user_id, workspace)
    if role is not None and who.token_role is not None and ROLES.index(who.token_role) < ROLES.index(role):
        role = who.token_role  # a token's scope, never above its user's role there now
    return replace(who, workspace=workspace, role=role)


def end_session(db: Database, sid: str) -> None:
    with db.session() as s:
        s.execute(sa.delete(UserSession).where(UserSession.id_hash == _sha(sid)))


# -- the sign-in throttle (in the database: every server process counts the same failures) ---------------


def throttle_wait(db: Database, address: str, email: str, *, failures: int, window: timedelta) -> float | None:
    """Seconds until ``address`` may try ``email`` again, when it failed ``failures`` times within ``window``."""
    key, now = _sha(f"{address}\n{email}"), utcnow()
    with db.session() as s:
        times = list(
            s.scalars(
                sa.select(SignInFailure.at)
                .where(SignInFailure.key_hash == key, SignInFailure.at > now - window)
                .order_by(SignInFailure.at.desc())
                .limit(failures)
            )
        )
    if len(times) < failures:
        return None
    return max(0.0, (as_utc(times[-1]) + window - now).total_seconds())


def record_failure(db: Database, address: str, email: str, *, window: timedelta) -> None:
    key, now = _sha(f"{address}\n{email}"), utcnow()
    with db.session() as s:
        s.execute(sa.delete(SignInFailure).where(SignInFailure.at <= now - window))  # the table stays small
        s.add(SignInFailure(key_hash=key, at=now))


def clear_failures(db: Database, address: str, email: str) -> None:
    with db.session() as s:
        s.execute(sa.delete(SignInFailure).where(SignInFailure.key_hash == _sha(f"{address}\n{email}")))


def same_secret(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a, b)


def _iso(dt: datetime | None) -> str | None:
    return as_utc(dt).isoformat().replace("+00:00", "Z") if dt else None
