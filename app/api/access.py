"""Who may call which route (issue 13): sign-in, sessions with CSRF, API tokens, roles.

Off unless ``WASMFLOW_AUTH=1`` (or the app config ``AUTH``): on a loopback bind the server keeps working
without accounts, as before. With it on, every request to a route needs a principal (a ``Bearer`` API
token, or the session cookie of a signed-in user) whose role allows the route's permission in ``ROUTES``
(``public`` routes excepted); a route missing from ``ROUTES`` is refused (deny by default, and a test fails).
A state-changing request made with the session cookie must carry the session's CSRF token in
``X-CSRF-Token``. Sign-in is throttled per address and email, counted in the database (all server processes).
"""

from __future__ import annotations

import os
from datetime import timedelta

from flask import Blueprint, Flask, current_app, g, jsonify, request

from app import auth, workspaces
from app.errors import NotFound, UserError

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
    # people, tokens and workspaces: the instance admin's (the CLI has wasmflow users/tokens/workspaces)
    "access.users_list": "instance",
    "access.users_create": "instance",
    "access.users_update": "instance",
    "access.tokens_list": "instance",
    "access.tokens_create": "instance",
    "access.tokens_revoke": "instance",
    "access.workspaces_create": "instance",
    # the workspaces a person may switch to (their own list), and a workspace's members (its admins)
    "access.workspaces_list": "read",
    "access.members_list": "admin",
    "access.members_set": "admin",
    # secrets of the workspace: names and grants only, never values
    "secrets.list_": "admin",
    "secrets.put": "admin",
    "secrets.delete": "admin",
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


def requested_workspace(who: auth.Principal | None = None) -> str:
    """The workspace a request acts in: ``X-Wasmflow-Workspace``, else ``?workspace=`` (a WebSocket cannot set
    headers), else the API token's, else ``default``."""
    name = request.headers.get(workspaces.HEADER) or request.args.get("workspace")
    name = name or (request.view_args or {}).get("space")  # /api/auth/workspaces/<space>/members
    if not name and who is not None and who.token_workspace:
        name = who.token_workspace
    return workspaces.check_name(name or workspaces.DEFAULT)


def install(app: Flask) -> None:
    app.register_blueprint(bp)
    on = enabled(app)

    @app.before_request
    def _check_access():
        permission = ROUTES.get(request.endpoint or "")
        if permission == PUBLIC or request.endpoint is None:  # an unknown endpoint (404, 405) answers as usual
            return None
        if permission is None:
            if not on:
                return None
            return _refuse(403, "no_permission_declared", f"route {request.endpoint} declares no permission")
        who = _principal() if on else None
        if on and who is None:
            return _refuse(401, "unauthenticated", "sign in, or send an API token: Authorization: Bearer wf_...")
        try:
            space = requested_workspace(who)
        except UserError as err:
            return _refuse(400, err.code, str(err), field="workspace")
        if who is not None:
            who = auth.in_workspace(_db(), who, space)
            if who.role is None and permission != "instance":
                if who.instance_admin and not workspaces.exists(_db(), space):
                    return _refuse(404, "workspace_not_found", f"no workspace {space}", field="workspace")
                if who.token_workspace is not None and who.token_workspace != space:
                    message = f"this API token reaches only the workspace {who.token_workspace}, not {space}"
                else:
                    message = f"{who.email} is not a member of the workspace {space}"
                return _refuse(403, "not_member", message, details={"workspace": space})
            if not who.may(permission):
                need = auth.PERMISSIONS[permission]
                what = "an instance admin" if permission == "instance" else f"the role {need} or higher ({permission})"
                return _refuse(
                    403,
                    "forbidden",
                    f"{who.email} is {who.role or 'not a member'} in {space}; this needs {what}",
                    details={"role": who.role, "needs": need, "workspace": space},
                )
            if who.csrf is not None and request.method not in SAFE_METHODS:
                if not auth.same_secret(request.headers.get("X-CSRF-Token"), who.csrf):
                    return _refuse(403, "csrf", "the X-CSRF-Token header is missing or wrong (GET /api/auth/me has it)")
            g.principal = who
        elif not workspaces.exists(_db(), space):
            return _refuse(404, "workspace_not_found", f"no workspace {space}", field="workspace")
        g.workspace = space
        from app.api import scope

        scope.check(space)
        return None


@bp.post("/login")
def login():
    body = request.get_json(silent=True) or {}
    email, password = str(body.get("email") or ""), str(body.get("password") or "")
    key = (request.remote_addr or "", email.strip().lower())
    window = timedelta(seconds=THROTTLE_SECONDS)
    wait = auth.throttle_wait(_db(), *key, failures=THROTTLE_FAILURES, window=window)
    if wait is not None:
        resp, status = _refuse(429, "too_many_attempts", f"too many failed sign-ins; try again in {wait:.0f} s")
        resp.headers["Retry-After"] = str(int(wait) + 1)
        return resp, status
    user = auth.check_password(_db(), email, password) if email and password else None
    if user is None:
        auth.record_failure(_db(), *key, window=window)
        return _refuse(401, "bad_credentials", "wrong email or password", field="password")
    auth.clear_failures(_db(), *key)
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
    try:
        space = requested_workspace(who)
    except UserError:
        space = workspaces.DEFAULT
    here = auth.in_workspace(_db(), who, space)
    mine = workspaces.list_all(_db(), user_id=who.user_id)
    if who.token_workspace is not None:
        mine = [w for w in mine if w["name"] == who.token_workspace]
    return jsonify(
        {
            "auth": True,
            "user": {"email": who.email, "role": here.role, "instance_admin": who.instance_admin},
            "workspace": space,
            "workspaces": mine,
            "csrf": who.csrf,
        }
    )


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
        workspace=workspaces.check_name(str(body.get("workspace") or g.get("workspace") or workspaces.DEFAULT)),
    )
    return jsonify(made), 201


@bp.delete("/tokens/<token_id>")
def tokens_revoke(token_id: str):
    auth.revoke_token(_db(), token_id)
    return jsonify({"revoked": True})


# -- workspaces ------------------------------------------------------------------------------------------


@bp.get("/workspaces")
def workspaces_list():
    """The workspaces the caller may act in (every one without access control), with their role there."""
    who = g.get("principal")
    if who is None:
        return jsonify({"workspaces": workspaces.list_all(_db())})
    mine = workspaces.list_all(_db(), user_id=who.user_id)
    if who.token_workspace is not None:
        mine = [w for w in mine if w["name"] == who.token_workspace]
    return jsonify({"workspaces": mine})


@bp.post("/workspaces")
def workspaces_create():
    """``{"name", "title"?}`` -> the new workspace (201); its members are added with PUT .../members/<email>."""
    body = request.get_json(silent=True) or {}
    return jsonify(workspaces.create(_db(), body.get("name"), body.get("title"))), 201


@bp.get("/workspaces/<space>/members")
def members_list(space: str):
    _same_workspace(space)
    return jsonify({"members": workspaces.members(_db(), space)})


@bp.put("/workspaces/<space>/members/<email>")
def members_set(space: str, email: str):
    """``{"role": "viewer"|"operator"|"editor"|"admin"|null}``: give the person that role here (null: remove)."""
    _same_workspace(space)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "role" not in body:
        raise UserError(
            'send {"role": ...} (null removes the member)', code="nothing_to_change", details={"field": "role"}
        )
    return jsonify(workspaces.set_member(_db(), space, email, body["role"]))


def _same_workspace(name: str) -> None:
    """Members are managed from inside the workspace (its admins): the path must name the request's one."""
    if name != g.get("workspace", workspaces.DEFAULT):
        raise NotFound(f"no workspace {name}", code="workspace_not_found", details={"field": "workspace"})
