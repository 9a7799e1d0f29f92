"""Access (issue 13, app/api/access.py): every route declares a permission; with WASMFLOW_AUTH on, a generated
matrix (every route x every role) checks who gets through; sessions need CSRF on writes; tokens are shown
once, stored hashed, scoped, expiring and revocable; sign-in is throttled; the CLI sends WASMFLOW_TOKEN."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app import auth
from app.api import access
from app.store.models import ApiToken

PASSWORD = "correct horse battery staple"
# a valid-looking value for each URL variable, so a request reaches its route (which may then answer 404)
VALUES = {
    "key": "nope:1",
    "digest": "0" * 64,
    "file": "x.js",
    "name": "nope",
    "number": "1",
    "run_id": "nope",
    "token": "nope",
    "space": "default",
}


def rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path = rule.rule
            for arg in rule.arguments:
                path = (
                    path.replace(f"<{arg}>", VALUES.get(arg, "x"))
                    .replace(f"<path:{arg}>", "x")
                    .replace(f"<int:{arg}>", "1")
                )
            yield rule.endpoint, method, path


def test_every_route_declares_its_permission(app):
    missing = sorted({endpoint for endpoint, _m, _p in rules(app)} - set(access.ROUTES))
    assert missing == [], f"routes without a permission in app.api.access.ROUTES: {missing}"
    stale = sorted(set(access.ROUTES) - {endpoint for endpoint, _m, _p in rules(app)})
    assert stale == [], f"permissions for routes that do not exist: {stale}"


@pytest.fixture
def secured(make_app, monkeypatch):
    app = make_app(AUTH=True)
    db = app.extensions["wasmflow.engine"].db
    tokens = {}
    for role in auth.ROLES:
        auth.create_user(db, f"{role}@example.com", PASSWORD, role=role)
        tokens[role] = auth.create_token(db, f"{role}@example.com", "test")["token"]
    app.tokens = tokens
    app.db = db
    return app


def call(client, method: str, path: str, **kw):
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        kw.setdefault("json", {})
    return client.open(path, method=method, **kw)


def test_the_role_matrix(secured):
    client = secured.test_client()
    checked = 0
    for endpoint, method, path in rules(secured):
        if endpoint == "live.stream":
            continue  # a WebSocket upgrade; covered below
        permission = access.ROUTES[endpoint]
        anonymous = call(client, method, path)
        if permission == access.PUBLIC:
            assert anonymous.status_code not in (401, 403) or endpoint.startswith("access."), (
                endpoint,
                anonymous.status_code,
            )
            continue
        assert anonymous.status_code == 401, (endpoint, method, anonymous.status_code)
        for role in auth.ROLES:
            resp = call(client, method, path, headers={"Authorization": f"Bearer {secured.tokens[role]}"})
            if auth.allows(role, permission):
                assert resp.status_code not in (401, 403), (endpoint, method, role, resp.get_json())
            else:
                assert resp.status_code == 403, (endpoint, method, role, resp.status_code)
                assert resp.get_json()["error"]["code"] == "forbidden"
            checked += 1
    assert checked >= 4 * 30  # every role on every non-public route


def test_the_live_stream_needs_a_reader(secured):
    client = secured.test_client()
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade"}
    assert client.get("/api/ws", headers=upgrade).status_code == 401
    stranger = {**upgrade, "Authorization": "Bearer wf_not-a-token"}
    assert client.get("/api/ws", headers=stranger).status_code == 401


def test_a_viewer_cannot_deploy_and_an_editor_can(secured):
    client = secured.test_client()
    viewer = {"Authorization": f"Bearer {secured.tokens['viewer']}"}
    resp = client.post("/api/workflows/nope/deploy", json={"digest": "0" * 64}, headers=viewer)
    assert resp.status_code == 403 and "needs the role editor" in resp.get_json()["error"]["message"]
    editor = {"Authorization": f"Bearer {secured.tokens['editor']}"}
    assert client.post("/api/workflows/nope/deploy", json={"digest": "0" * 64}, headers=editor).status_code == 404


def test_sign_in_session_csrf_and_sign_out(secured):
    client = secured.test_client()
    assert client.get("/api/auth/me").get_json() == {"auth": True, "user": None, "setup_needed": False}
    bad = client.post("/api/auth/login", json={"email": "editor@example.com", "password": "wrong password!"})
    assert bad.status_code == 401 and bad.get_json()["error"]["code"] == "bad_credentials"
    ok = client.post("/api/auth/login", json={"email": "Editor@Example.com", "password": PASSWORD})
    assert ok.status_code == 200
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    csrf = ok.get_json()["csrf"]
    me = client.get("/api/auth/me").get_json()
    assert me["user"] == {"email": "editor@example.com", "role": "editor", "instance_admin": False}
    assert me["csrf"] == csrf and me["workspace"] == "default"
    assert [(w["name"], w["role"]) for w in me["workspaces"]] == [("default", "editor")]
    assert client.get("/api/workflows").status_code == 200  # reads need no CSRF token
    forged = client.post("/api/workflows", json={})  # a cross-site form post carries the cookie, not the token
    assert forged.status_code == 403 and forged.get_json()["error"]["code"] == "csrf"
    real = client.post("/api/workflows", json={}, headers={"X-CSRF-Token": csrf})
    assert real.status_code not in (401, 403)  # the route's own answer (the document is invalid)
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/workflows").status_code == 401


def test_tokens_are_stored_hashed_scoped_expiring_and_revocable(secured):
    db = secured.db
    client = secured.test_client()
    made = auth.create_token(db, "admin@example.com", "read-only", role="viewer")
    with db.session() as s:
        row = s.get(ApiToken, made["id"])
        assert row.token_hash == hashlib.sha256(made["token"].encode()).hexdigest()
        assert made["token"] not in str([getattr(row, c.name) for c in ApiToken.__table__.columns])
    headers = {"Authorization": f"Bearer {made['token']}"}
    assert client.get("/api/workflows", headers=headers).status_code == 200
    assert client.post("/api/workflows", json={}, headers=headers).status_code == 403  # scoped below the user
    auth.revoke_token(db, made["id"])
    assert client.get("/api/workflows", headers=headers).status_code == 401
    old = auth.create_token(db, "admin@example.com", "old", expires_in=timedelta(seconds=-1))
    assert client.get("/api/workflows", headers={"Authorization": f"Bearer {old['token']}"}).status_code == 401
    with pytest.raises(Exception, match="at most the role viewer"):
        auth.create_token(db, "viewer@example.com", "up", role="admin")


def test_sign_in_is_throttled(secured):
    client = secured.test_client()
    for _ in range(access.THROTTLE_FAILURES):
        assert (
            client.post(
                "/api/auth/login", json={"email": "admin@example.com", "password": "nope nope nope"}
            ).status_code
            == 401
        )
    blocked = client.post("/api/auth/login", json={"email": "admin@example.com", "password": PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


def test_the_throttle_is_shared_by_the_server_processes(secured, make_app):
    """Failures counted by one process (app) count in another on the same database: a gunicorn worker per core
    does not multiply the attempts an attacker gets. A success clears the count."""
    other = make_app(AUTH=True).test_client()
    first = secured.test_client()
    wrong = {"email": "viewer@example.com", "password": "nope nope nope"}
    for i in range(access.THROTTLE_FAILURES):
        assert (first if i % 2 else other).post("/api/auth/login", json=wrong).status_code == 401
    for client in (first, other):
        blocked = client.post("/api/auth/login", json={"email": "viewer@example.com", "password": PASSWORD})
        assert blocked.status_code == 429 and blocked.get_json()["error"]["code"] == "too_many_attempts"
    # another email from the same address is not blocked, and its success clears only its own count
    assert other.post("/api/auth/login", json={**wrong, "email": "editor@example.com"}).status_code == 401
    assert first.post("/api/auth/login", json={"email": "editor@example.com", "password": PASSWORD}).status_code == 200
    assert (
        auth.throttle_wait(secured.db, "127.0.0.1", "editor@example.com", failures=1, window=timedelta(hours=1)) is None
    )


def test_without_auth_the_server_works_as_before(client):
    assert client.get("/api/workflows").status_code == 200
    assert client.get("/api/auth/me").get_json() == {"auth": False, "user": None}


def test_the_cli_creates_users_and_tokens_and_sends_the_token(secured, api_settings, monkeypatch):
    from app.cli import cli

    runner = CliRunner()
    inst = ["--instance", str(api_settings.instance_dir)]
    monkeypatch.setenv("WASMFLOW_DATABASE_URL", api_settings.database_url)
    made = runner.invoke(
        cli,
        [*inst, "users", "create", "ops@example.com", "--role", "operator", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert made.exit_code == 0, made.output
    weak = runner.invoke(cli, [*inst, "users", "create", "weak@example.com", "--password-stdin"], input="short\n")
    assert weak.exit_code != 0 and "at least 12 characters" in weak.output
    tok = runner.invoke(cli, [*inst, "tokens", "create", "ops@example.com", "--name", "ci"])
    assert tok.exit_code == 0, tok.output
    token = tok.stdout.strip().splitlines()[0]
    assert token.startswith("wf_")
    listed = runner.invoke(cli, [*inst, "tokens", "list"])
    assert "ci" in listed.output and token not in listed.output
    with secured.db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(ApiToken)).scalar() == 5

    from app.cli.client import Client

    monkeypatch.setenv("WASMFLOW_TOKEN", token)
    assert Client("http://127.0.0.1:1")._http.headers["authorization"] == f"Bearer {token}"


def test_an_approval_is_decided_by_the_signed_in_person_not_by_the_body(secured):
    from app.engine import runs
    from app.store.models import Run, Wait

    db = secured.db
    with db.session() as s:
        run_id = runs.create_run(s, workflow_name="wf", digest="0" * 64, input={})
        s.execute(sa.update(Run).where(Run.id == run_id).values(status=runs.WAITING))
        detail = {"title": "Pay?", "details": "", "timeout_seconds": 3600, "timeout_action": "reject"}
        s.add(
            Wait(
                key=f"{run_id}:3",
                run_id=run_id,
                seq=3,
                kind="approval",
                node="pay",
                wake_at=runs.utcnow() + timedelta(hours=1),
                detail={**detail, "approvers": ["cfo@example.com"]},
                status="pending",
                created_at=runs.utcnow(),
            )
        )
    client = secured.test_client()
    operator = {"Authorization": f"Bearer {secured.tokens['operator']}"}
    spoof = client.post(f"/api/approvals/{run_id}:3/approve", json={"by": "cfo@example.com"}, headers=operator)
    err = spoof.get_json()["error"]
    assert spoof.status_code == 409 and err["code"] == "not_an_approver"
    assert "'operator@example.com' may not decide" in err["message"]  # not the cfo the body claimed to be


def test_admins_manage_users_and_tokens_through_the_api(secured):
    client = secured.test_client()
    admin = {"Authorization": f"Bearer {secured.tokens['admin']}"}
    editor = {"Authorization": f"Bearer {secured.tokens['editor']}"}
    assert client.get("/api/auth/users", headers=editor).status_code == 403

    made = client.post(
        "/api/auth/users", json={"email": "New@Example.com", "password": PASSWORD, "role": "operator"}, headers=admin
    )
    assert made.status_code == 201 and made.get_json()["email"] == "new@example.com"
    assert "password" not in made.get_data(as_text=True)
    again = client.post("/api/auth/users", json={"email": "new@example.com", "password": PASSWORD}, headers=admin)
    assert again.status_code == 409
    weak = client.post("/api/auth/users", json={"email": "w@example.com", "password": "short"}, headers=admin)
    assert weak.status_code == 400 and weak.get_json()["error"]["code"] == "weak_password"
    users = client.get("/api/auth/users", headers=admin).get_json()["users"]
    assert {"email": "new@example.com", "role": "operator"}.items() <= next(
        u for u in users if u["email"] == "new@example.com"
    ).items()

    tok = client.post(
        "/api/auth/tokens", json={"user": "new@example.com", "name": "ci", "expires_days": 7}, headers=admin
    )
    assert tok.status_code == 201
    token = tok.get_json()["token"]
    assert token.startswith("wf_") and tok.get_json()["role"] == "operator"
    listed = client.get("/api/auth/tokens", headers=admin)
    assert token not in listed.get_data(as_text=True)  # shown once, never listed
    row = next(t for t in listed.get_json()["tokens"] if t["id"] == tok.get_json()["id"])
    assert row["user"] == "new@example.com" and row["revoked"] is False
    too_high = client.post(
        "/api/auth/tokens", json={"user": "new@example.com", "name": "x", "role": "admin"}, headers=admin
    )
    assert too_high.status_code == 400 and too_high.get_json()["error"]["code"] == "role_too_high"
    nameless = client.post("/api/auth/tokens", json={"user": "new@example.com"}, headers=admin)
    assert nameless.status_code == 400

    assert client.get("/api/workflows", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.delete(f"/api/auth/tokens/{row['id']}", headers=admin).status_code == 200
    assert client.get("/api/workflows", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.delete("/api/auth/tokens/nope", headers=admin).status_code == 404
