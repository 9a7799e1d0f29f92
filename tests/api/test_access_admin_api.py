"""The admin API's user changes (PATCH /api/auth/users/<id>, app/api/access.py): an admin changes a user's role
or disables them; the body is validated; the last active admin can be neither demoted nor disabled (409
``last_admin``, naming why); a disabled user's session and tokens stop working at once; only admins may."""

from __future__ import annotations

import pytest

from app import auth

PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_app(make_app):
    app = make_app(AUTH=True)
    db = app.extensions["wasmflow.engine"].db
    app.db = db
    app.ids = {}
    app.tokens = {}
    for role in ("admin", "editor"):
        made = auth.create_user(db, f"{role}@example.com", PASSWORD, role=role)
        app.ids[role] = made["id"]
        app.tokens[role] = auth.create_token(db, f"{role}@example.com", "test")["token"]
    return app


def bearer(app, role: str) -> dict:
    return {"Authorization": f"Bearer {app.tokens[role]}"}


def test_an_admin_changes_a_role_and_disables_a_user(admin_app):
    client = admin_app.test_client()
    editor_id = admin_app.ids["editor"]
    listed = client.get("/api/auth/users", headers=bearer(admin_app, "admin")).get_json()["users"]
    row = next(u for u in listed if u["id"] == editor_id)
    assert row["disabled"] is False and row["created_at"].endswith("Z")

    changed = client.patch(
        f"/api/auth/users/{editor_id}", json={"role": "operator"}, headers=bearer(admin_app, "admin")
    )
    assert changed.status_code == 200
    assert changed.get_json() == {**row, "role": "operator"}

    # The editor's own token still works until they are disabled (its role is capped at the user's: operator).
    editor_token = bearer(admin_app, "editor")
    assert client.post("/api/workflows", json={}, headers=editor_token).status_code == 403
    assert client.get("/api/workflows", headers=editor_token).status_code == 200
    off = client.patch(f"/api/auth/users/{editor_id}", json={"disabled": True}, headers=bearer(admin_app, "admin"))
    assert off.status_code == 200 and off.get_json()["disabled"] is True
    assert client.get("/api/workflows", headers=editor_token).status_code == 401
    signin = client.post("/api/auth/login", json={"email": "editor@example.com", "password": PASSWORD})
    assert signin.status_code == 401

    back = client.patch(f"/api/auth/users/{editor_id}", json={"disabled": False}, headers=bearer(admin_app, "admin"))
    assert back.status_code == 200 and back.get_json()["disabled"] is False
    assert client.get("/api/workflows", headers=editor_token).status_code == 200


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "nothing_to_change", "body"),
        ({"role": "boss"}, "bad_role", "role"),
        ({"role": 3}, "bad_role", "role"),
        ({"disabled": "yes"}, "bad_disabled", "disabled"),
        ({"role": "viewer", "email": "x@example.com"}, "bad_request", "email"),
    ],
)
def test_the_body_is_checked(admin_app, body, code, field):
    client = admin_app.test_client()
    resp = client.patch(f"/api/auth/users/{admin_app.ids['editor']}", json=body, headers=bearer(admin_app, "admin"))
    err = resp.get_json()["error"]
    assert resp.status_code == 400, err
    assert err["code"] == code and err["details"]["field"] == field


def test_an_unknown_user_is_404(admin_app):
    resp = admin_app.test_client().patch(
        "/api/auth/users/nope", json={"role": "viewer"}, headers=bearer(admin_app, "admin")
    )
    assert resp.status_code == 404


def test_the_last_active_admin_stays_an_admin(admin_app):
    client = admin_app.test_client()
    admin_id = admin_app.ids["admin"]
    for body, what in (({"role": "editor"}, "made editor"), ({"disabled": True}, "disabled")):
        resp = client.patch(f"/api/auth/users/{admin_id}", json=body, headers=bearer(admin_app, "admin"))
        err = resp.get_json()["error"]
        assert resp.status_code == 409 and err["code"] == "last_admin", err
        assert f"admin@example.com is the last active admin and cannot be {what}" in err["message"]
    # A disabled admin does not count: with a second active admin, the first may step down.
    second = auth.create_user(admin_app.db, "second@example.com", PASSWORD, role="admin")
    auth.update_user(admin_app.db, second["id"], disabled=True)
    assert (
        client.patch(
            f"/api/auth/users/{admin_id}", json={"role": "editor"}, headers=bearer(admin_app, "admin")
        ).status_code
        == 409
    )
    auth.update_user(admin_app.db, second["id"], disabled=False)
    resp = client.patch(f"/api/auth/users/{admin_id}", json={"role": "editor"}, headers=bearer(admin_app, "admin"))
    assert resp.status_code == 200 and resp.get_json()["role"] == "editor"
    assert [u["email"] for u in auth.list_users(admin_app.db) if u["role"] == "admin"] == ["second@example.com"]


def test_only_admins_change_users_and_sessions_send_csrf(admin_app):
    client = admin_app.test_client()
    editor_id = admin_app.ids["editor"]
    refused = client.patch(f"/api/auth/users/{editor_id}", json={"role": "admin"}, headers=bearer(admin_app, "editor"))
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    login = client.post("/api/auth/login", json={"email": "admin@example.com", "password": PASSWORD}).get_json()
    assert client.patch(f"/api/auth/users/{editor_id}", json={"role": "viewer"}).get_json()["error"]["code"] == "csrf"
    ok = client.patch(f"/api/auth/users/{editor_id}", json={"role": "viewer"}, headers={"X-CSRF-Token": login["csrf"]})
    assert ok.status_code == 200 and ok.get_json()["role"] == "viewer"
