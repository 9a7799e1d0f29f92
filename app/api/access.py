"""Who may call which route (issue 13): sign-in, sessions with CSRF, API tokens, roles.

Off unless ``WASMFLOW_AUTH=1`` (or the app config ``AUTH``): on a loopback bind the server keeps working
without accounts, as before. With it on, every request to a route needs a principal (a ``Bearer`` API
token, or the session cookie of a signed-in user) whose role allows the route's permission in ``ROUTES``
(``public`` routes excepted); a route missing from ``ROUTES`` is refused (deny by default, and a test fails).
A state-changing request made with the session cookie must carry the session's CSRF token in
``X-CSRF-Token``. Sign-in is throttled per address and email.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict, deque
from datetime import timedelta

from flask import Blueprint, Flask, current_app, g, jsonify, request

from app import auth
from app.errors import UserError

PUBLIC = "public"
# endpoint -> permission ("public", "read", "run", "design", "admin")
ROUTES: dict[str, str] = {
    # the editor's page and assets (it asks /api/auth/me who is signed in), probes, webhooks (token + HMAC)
    "editor.index": PUBLIC,
    "editor.asset": PUBLIC,
    "editor.fallback": PUBLIC,
    "probes.healthz": PUBLIC,
    "probes.readyz": PUBLIC,
    "dsl.health": PUBLIC,
    "webhooks.deliver": PUBLIC,
    "openapi.openapi_document": PUBLIC,
    "access.login": PUBLIC,
    "access.logout": PUBLIC,
    "access.me": PUBLIC,
    # people and tokens (the editor's admin screens; the CLI has wasmflow users/tokens)
    "access.users_list": "admin",
    "access.users_create": "admin",
    "access.users_update": "admin",
    "access.tokens_list": "admin",
    "access.tokens_create": "admin",
    "access.tokens_revoke": "admin",
    # the shared runtime's files are the same for every workflow: no data of anyone's
    "artifacts.core_module": PUBLIC,
    "artifacts.runtime_file": PUBLIC,
    "artifacts.runtime_status": PUBLIC,
    # reading
    "dsl.capability_table": "read",
    "dsl.dsl_schema": "read",
    "dsl.artifact": "read",
    "artifacts.bundle_file": "read",
    "artifacts.program_file": "read",
    "approvals.list_": "read",
    "approvals.show": "read",
    "runs.list_": "read",
    "runs.show": "read",
    "live.stream": "read",
    "workflows.list_": "read",
    "workflows.show": "read",
    "workflows.export": "read",
    "workflows.versions": "read",
    "workflows.version": "read",
    # operating
    "approvals.approve": "run",
    "approvals.reject": "run",
    "runs.cancel": "run",
    "runs.replay": "run",
    "runs.resolve": "run",
    "runs.resume": "run",
    "workflows.start_run": "run",
    # designing, testing, deploying
    "dsl.validate": "design",
    "dsl.compile_": "design",
    "workflows.create": "design",
    "workflows.update": "design",
    "workflows.delete": "design",
    "workflows.import_": "design",
    "workflows.validate": "design",
    "workflows.compile_": "design",
    "workflows.deploy": "design",
    "workflows.undeploy": "design",
    "workflows.rollback": "design",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
COOKIE = "wasmflow_session"
THROTTLE_FAILURES = 5
THROTTLE_SECONDS = 15 * 60

bp = Blueprint("access", __name__, url_prefix="/api/auth")
_failures: dict[tuple[str, str], deque] = defaultdict(deque)
_failures_lock = threading.Lock()


def enabled(app: Flask) -> bool:
    value = app.config.get("AUTH", os.environ.get("WASMFLOW_AUTH", ""))
    return str(value).strip().lower() in ("1", "true", "on", "yes")


def _refuse(status: int, code: str, message: str, **extra):
    body = {"error": {"kind": "user", "code": code, "message": message, **extra}}
    return jsonify(body), status


def _db():
    return current_app.extensions["wasmflow.engine"].db


def _principal() -> auth.Principal | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return auth.principal_for_token(_db(), header[7:].strip())
    sid = request.cookies.get(COOKIE)
    return auth.principal_for_session(_db(), sid) if sid else None


def install(app: Flask) -> None:
    app.register_blueprint(bp)
    if not enabled(app):
        return

    @app.before_request
    def _check_access():
        permission = ROUTES.get(request.endpoint or "")
        if permission == PUBLIC:
            return None
        if permission is None:  # an unknown endpoint (404, 405) answers as usual; a new route is denied
            if request.endpoint is None:
                return None
            return _refuse(403, "no_permission_declared", f"route {request.endpoint} declares no permission")
        who = _principal()
        if who is None:
            return _refuse(401, "unauthenticated", "sign in, or send an API token: Authorization: Bearer wf_...")
        if not who.may(permission):
            need = auth.PERMISSIONS[permission]
            return _refuse(
                403,
                "forbidden",
                f"{who.email} is {who.role}; this needs the role {need} or higher ({permission})",
                details={"role": who.role, "needs": need},
            )
        if who.csrf is not None and request.method not in SAFE_METHODS:
            if not auth.same_secret(request.headers.get("X-CSRF-Token"), who.csrf):
                return _refuse(403, "csrf", "the X-CSRF-Token header is missing or wrong (GET /api/auth/me has it)")
        g.principal = who
        return None


def _throttled(key: tuple[str, str]) -> float | None:
    now = time.monotonic()
    with _failures_lock:
        recent = _failures[key]
        while recent and now - recent[0] > THROTTLE_SECONDS:
            recent.popleft()
        if len(recent) >= THROTTLE_FAILURES:
            return THROTTLE_SECONDS - (now - recent[0])
    return None


@bp.post("/login")
def login():
    body = request.get_json(silent=True) or {}
    email, password = str(body.get("email") or ""), str(body.get("password") or "")
    key = (request.remote_addr or "", email.strip().lower())
    wait = _throttled(key)
    if wait is not None:
        resp, status = _refuse(429, "too_many_attempts", f"too many failed sign-ins; try again in {wait:.0f} s")
        resp.headers["Retry-After"] = str(int(wait) + 1)
        return resp, status
    user = auth.check_password(_db(), email, password) if email and password else None
    if user is None:
        with _failures_lock:
            _failures[key].append(time.monotonic())
        return _refuse(401, "bad_credentials", "wrong email or password", field="password")
    with _failures_lock:
        _failures.pop(key, None)
    sid, csrf = auth.create_session(_db(), user)
    resp = jsonify({"user": {"email": user.email, "role": user.role}, "csrf": csrf})
    resp.set_cookie(
        COOKIE,
        sid,
        max_age=auth.SESSION_HOURS * 3600,
        httponly=True,
        samesite="Lax",
        secure=request.scheme == "https",
        path="/",
    )
    return resp


@bp.post("/logout")
def logout():
    sid = request.cookies.get(COOKIE)
    if sid:
        who = auth.principal_for_session(_db(), sid)
        if who is not None and not auth.same_secret(request.headers.get("X-CSRF-Token"), who.csrf):
            return _refuse(403, "csrf", "the X-CSRF-Token header is missing or wrong")
        auth.end_session(_db(), sid)
    resp = jsonify({"signed_out": True})
    resp.delete_cookie(COOKIE, path="/")
    return resp


@bp.get("/me")
def me():
    """Whether auth is on and who is signed in (with the session's CSRF token for the editor)."""
    if not enabled(current_app):
        return jsonify({"auth": False, "user": None})
    who = _principal()
    if who is None:
        return jsonify({"auth": True, "user": None, "setup_needed": auth.count_users(_db()) == 0})
    return jsonify({"auth": True, "user": {"email": who.email, "role": who.role}, "csrf": who.csrf})


# -- people and tokens (admin) ---------------------------------------------------------------------------


@bp.get("/users")
def users_list():
    return jsonify({"users": auth.list_users(_db())})


@bp.post("/users")
def users_create():
    """``{"email", "password", "role"}`` -> the new user (201); the password is never returned."""
    body = request.get_json(silent=True) or {}
    user = auth.create_user(
        _db(), str(body.get("email") or ""), str(body.get("password") or ""), role=str(body.get("role") or "viewer")
    )
    return jsonify(user), 201


@bp.patch("/users/<user_id>")
def users_update(user_id: str):
    """``{"role"?, "disabled"?}`` -> the user as changed; 409 ``last_admin`` would leave no active admin."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body.keys() & {"role", "disabled"}:
        raise UserError("send the role and/or disabled to change", code="nothing_to_change", details={"field": "body"})
    unknown = sorted(body.keys() - {"role", "disabled"})
    if unknown:
        raise UserError(f"unknown field {unknown[0]}: only role and disabled change", details={"field": unknown[0]})
    role, disabled = body.get("role"), body.get("disabled")
    if role is not None and not isinstance(role, str):
        raise UserError("role is one of " + ", ".join(auth.ROLES), code="bad_role", details={"field": "role"})
    if disabled is not None and not isinstance(disabled, bool):
        raise UserError("disabled is true or false", code="bad_disabled", details={"field": "disabled"})
    return jsonify(auth.update_user(_db(), user_id, role=role, disabled=disabled))


@bp.get("/tokens")
def tokens_list():
    """Every token without its value (it is shown once, when made)."""
    return jsonify({"tokens": auth.list_tokens(_db())})


@bp.post("/tokens")
def tokens_create():
    """``{"user", "name", "role"?, "expires_days"?}`` -> the token with its value, shown this once (201)."""
    body = request.get_json(silent=True) or {}
    name = str(body.get("name") or "").strip()
    if not name:
        raise UserError(
            "a token needs a name (what it is for, e.g. ci-deploy)", code="bad_name", details={"field": "name"}
        )
    days = body.get("expires_days", 90)
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise UserError(
            "expires_days is a whole number of days (1 or more), or null for never",
            code="bad_expiry",
            details={"field": "expires_days"},
        )
    made = auth.create_token(
        _db(),
        str(body.get("user") or ""),
        name,
        role=body.get("role") or None,
        expires_in=timedelta(days=days) if days is not None else None,
    )
    return jsonify(made), 201


@bp.delete("/tokens/<token_id>")
def tokens_revoke(token_id: str):
    auth.revoke_token(_db(), token_id)
    return jsonify({"revoked": True})
