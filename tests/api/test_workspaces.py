"""Workspaces (issue 13, app/workspaces.py, app/api/scope.py): nothing crosses. A generated matrix (every route
x every role x own/other workspace) checks that a member of one workspace reaches its own workflow, run,
approval and artifact and gets, for another workspace's, exactly the answer a name that does not exist gets;
lists, the secrets API and the live stream show only the workspace's own; a token reaches only its workspace;
a person outside a workspace is refused there; names stay unique in the instance without saying where."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from apihelpers import example
from simple_websocket import Client, ConnectionClosed
from test_access import PASSWORD, VALUES, call, rules
from trigger_helpers import close_app, serving, trigger_app

from app import auth, workspaces
from app.engine import runs
from app.engine import workflows as wf
from app.store.models import Run, Wait

MINE, THEIRS = "order-sync", "lead-routing"  # two examples: one workflow in each workspace


def _waiting_run(db, name: str, digest: str) -> tuple[str, str]:
    """A waiting run of ``name`` (its creation wrote an event) with a pending approval: (run id, approval key)."""
    with db.session() as s:
        run_id = runs.create_run(s, workflow_name=name, digest=digest, input={"secret_of": name})
        s.execute(sa.update(Run).where(Run.id == run_id).values(status=runs.WAITING))
        s.add(
            Wait(
                key=f"{run_id}:1",
                run_id=run_id,
                seq=1,
                kind="approval",
                node="ok",
                wake_at=runs.utcnow() + timedelta(hours=1),
                detail={"title": f"approve {name}", "timeout_seconds": 3600, "timeout_action": "reject"},
                status="pending",
                created_at=runs.utcnow(),
            )
        )
    return run_id, f"{run_id}:1"


def _setup(app, compiled_examples) -> dict:
    db = app.extensions["wasmflow.engine"].db
    workspaces.create(db, "rivals", "Their team")
    tokens = {}
    for role in auth.ROLES:  # members of default with each role; none of them an instance admin
        email = f"{role}@ours.test"
        auth.create_user(db, email, PASSWORD, role="viewer")
        workspaces.set_member(db, "default", email, role)
        tokens[role] = auth.create_token(db, email, "t")["token"]
    auth.create_user(db, "lead@theirs.test", PASSWORD, role="viewer")
    workspaces.set_member(db, "rivals", "lead@theirs.test", "admin")
    workspaces.set_member(db, "default", "lead@theirs.test", None)
    tokens["theirs"] = auth.create_token(db, "lead@theirs.test", "t", workspace="rivals")["token"]
    wf.create_workflow(db, example(MINE))
    wf.create_workflow(db, example(THEIRS), workspace="rivals")
    mine_run, mine_key = _waiting_run(db, MINE, compiled_examples[MINE].digest)
    their_run, their_key = _waiting_run(db, THEIRS, compiled_examples[THEIRS].digest)
    secrets = app.extensions["wasmflow.engine"].world.secrets
    secrets.set("OURS", "our-value")
    secrets.set("THEIRS", "their-value", workspace="rivals", workflows=[THEIRS])
    return {
        "db": db,
        "tokens": tokens,
        "mine": {"name": MINE, "run_id": mine_run, "key": mine_key, "digest": compiled_examples[MINE].digest},
        "theirs": {"name": THEIRS, "run_id": their_run, "key": their_key, "digest": compiled_examples[THEIRS].digest},
    }


@pytest.fixture
def spaces(make_app, compiled_examples):
    app = make_app(AUTH=True)
    app.ws = _setup(app, compiled_examples)
    return app


def _scoped_routes(app):
    """(endpoint, method, path template) of the routes whose path names a workflow, run, approval or digest."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or not set(rule.arguments) & {"name", "run_id", "key", "digest"}:
            continue
        if not rule.rule.startswith(("/api/workflows", "/api/runs", "/api/approvals", "/api/artifacts")):
            continue
        if access_permission(rule.endpoint) == "public":  # the shared runtime's files: no one's data
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, rule


def _path(rule, values: dict) -> str:
    path = rule.rule
    for arg in rule.arguments:
        value = {**VALUES, **values}.get(arg, "x")
        path = path.replace(f"<{arg}>", value).replace(f"<int:{arg}>", "1").replace(f"<path:{arg}>", "x")
    return path


def test_the_matrix_every_route_every_role_own_and_other_workspace(spaces):
    client = spaces.test_client()
    ws = spaces.ws
    nowhere = {"name": "no-such-flow", "run_id": "0" * 32, "key": "0" * 32 + ":1", "digest": "f" * 64}
    checked = 0
    for endpoint, method, rule in _scoped_routes(spaces):
        for role in auth.ROLES:
            headers = {"Authorization": f"Bearer {ws['tokens'][role]}"}
            theirs = call(client, method, _path(rule, ws["theirs"]), headers=headers)
            absent = call(client, method, _path(rule, nowhere), headers=headers)
            assert theirs.status_code not in range(200, 300), (endpoint, method, role, theirs.get_json())
            if not auth.allows(role, access_permission(endpoint)):
                assert theirs.status_code == 403 and theirs.get_json()["error"]["code"] == "forbidden"
                continue
            # what a name that does not exist gets: 404 with the same code and message, the name aside (a route
            # that checks its body first answers an absent name's empty body with 422; theirs is 404 before that)
            assert theirs.status_code == 404, (endpoint, method, role, theirs.get_json())
            assert absent.status_code in (404, 422), (endpoint, method, absent.get_json())
            got = theirs.get_json()["error"]
            if absent.status_code == 404:
                want = absent.get_json()["error"]
                assert got["code"] == want["code"], (endpoint, got, want)
                names = [(ws["theirs"][k], nowhere[k]) for k in ("name", "run_id", "key", "digest")]
                text = got["message"]
                for real, fake in names:
                    text = text.replace(real, fake)
                assert text == want["message"], (endpoint, got["message"], want["message"])
            assert "their-value" not in theirs.get_data(as_text=True)
            # and the same route reaches this workspace's own object
            if method == "GET":
                own = call(client, method, _path(rule, ws["mine"]), headers=headers)
                assert own.status_code != 403, (endpoint, role, own.get_json())
                if own.status_code == 404:  # something else is absent (no version 1 of a draft), not the object
                    assert own.get_json()["error"].get("field") not in ("name", "run_id", "key", "digest"), endpoint
            checked += 1
    assert checked >= 4 * 10


def access_permission(endpoint: str) -> str:
    from app.api import access

    return access.ROUTES[endpoint]


def test_a_member_of_one_workspace_is_refused_in_another(spaces):
    client = spaces.test_client()
    ws = spaces.ws
    for role in auth.ROLES:
        headers = {"Authorization": f"Bearer {ws['tokens'][role]}", "X-Wasmflow-Workspace": "rivals"}
        for endpoint, method, path in rules(spaces):
            from app.api import access

            permission = access.ROUTES[endpoint]
            if permission in (access.PUBLIC, "instance") or endpoint == "live.stream":
                continue
            resp = call(client, method, path, headers=headers)
            assert resp.status_code == 403, (endpoint, role, resp.status_code)
            assert resp.get_json()["error"]["code"] == "not_member", (endpoint, resp.get_json())
    # their token reaches their workspace only, whatever the request names
    theirs = {"Authorization": f"Bearer {ws['tokens']['theirs']}"}
    assert client.get("/api/workflows", headers={**theirs, "X-Wasmflow-Workspace": "default"}).status_code == 403
    assert client.get("/api/workflows", headers=theirs).status_code == 200  # the token's own workspace
    # a workspace that does not exist is refused like one that is not yours
    nope = client.get("/api/workflows", headers={**theirs, "X-Wasmflow-Workspace": "nope"})
    assert nope.status_code == 403
    bad = client.get("/api/workflows", headers={**theirs, "X-Wasmflow-Workspace": "Not A Name"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "workspace"


def test_lists_and_secrets_show_only_the_workspace_own(spaces):
    client = spaces.test_client()
    ws = spaces.ws
    ours = {"Authorization": f"Bearer {ws['tokens']['admin']}"}
    theirs = {"Authorization": f"Bearer {ws['tokens']['theirs']}"}
    for headers, own, other in ((ours, ws["mine"], ws["theirs"]), (theirs, ws["theirs"], ws["mine"])):
        names = [w["name"] for w in client.get("/api/workflows", headers=headers).get_json()["workflows"]]
        assert names == [own["name"]]
        run_ids = [r["id"] for r in client.get("/api/runs", headers=headers).get_json()["runs"]]
        assert run_ids == [own["run_id"]]
        keys = [a["id"] for a in client.get("/api/approvals?status=all", headers=headers).get_json()["approvals"]]
        assert keys == [own["key"]]
        assert other["run_id"] not in client.get("/api/runs?limit=200", headers=headers).get_data(as_text=True)
    assert [s["name"] for s in client.get("/api/secrets", headers=ours).get_json()["secrets"]] == ["OURS"]
    listed = client.get("/api/secrets", headers=theirs).get_json()["secrets"]
    assert [(s["name"], s["workflows"]) for s in listed] == [("THEIRS", [THEIRS])]
    assert "value" not in json.dumps(listed)
    # a secret of theirs cannot be changed or deleted from here: the name is simply not in this workspace
    assert client.delete("/api/secrets/THEIRS", headers=ours).status_code == 404
    put = client.put("/api/secrets/THEIRS", json={"workflows": None}, headers=ours)
    assert put.status_code == 404
    store = spaces.extensions["wasmflow.engine"].world.secrets
    assert store.value("THEIRS", workspace="rivals") == "their-value"
    assert store.describe(workspace="rivals")[0]["workflows"] == [THEIRS]
    # setting the same name here makes this workspace's own secret; theirs is untouched
    assert client.put("/api/secrets/THEIRS", json={"value": "ours-now"}, headers=ours).status_code == 201
    assert store.value("THEIRS", workspace="rivals") == "their-value"
    assert store.value("THEIRS") == "ours-now"


def test_names_are_unique_in_the_instance_without_saying_where(spaces):
    client = spaces.test_client()
    ours = {"Authorization": f"Bearer {spaces.ws['tokens']['editor']}"}
    made = client.post("/api/workflows", json=example(THEIRS), headers=ours)
    assert made.status_code == 409 and made.get_json()["error"]["code"] == "name_taken"
    assert "rivals" not in made.get_json()["error"]["message"]
    imported = client.post("/api/workflows/import?overwrite=true", json=example(THEIRS), headers=ours)
    assert imported.status_code == 409 and imported.get_json()["error"]["code"] == "name_taken"
    their = wf.get_workflow(spaces.ws["db"], THEIRS)
    assert their["revision"] == 1  # not overwritten


def test_members_are_managed_inside_their_workspace(spaces):
    client = spaces.test_client()
    ws = spaces.ws
    theirs = {"Authorization": f"Bearer {ws['tokens']['theirs']}"}
    assert client.get("/api/auth/workspaces/rivals/members", headers=theirs).get_json()["members"] == [
        {"email": "lead@theirs.test", "role": "admin"}
    ]
    # their admin cannot list or change ours, even naming it in the path
    assert client.get("/api/auth/workspaces/default/members", headers=theirs).status_code in (403, 404)
    ours = {"Authorization": f"Bearer {ws['tokens']['admin']}"}
    put = client.put("/api/auth/workspaces/rivals/members/admin@ours.test", json={"role": "admin"}, headers=ours)
    assert put.status_code in (403, 404)
    assert workspaces.role_of(ws["db"], auth.list_users(ws["db"])[0]["id"], "rivals") is None
    # a workspace's own admin adds a viewer, who then sees that workspace only
    added = client.put(
        "/api/auth/workspaces/rivals/members/viewer@ours.test",
        json={"role": "viewer"},
        headers={**theirs, "X-Wasmflow-Workspace": "rivals"},
    )
    assert added.status_code == 200, added.get_json()
    login = client.post("/api/auth/login", json={"email": "viewer@ours.test", "password": PASSWORD})
    me = client.get("/api/auth/me").get_json()
    assert login.status_code == 200 and [w["name"] for w in me["workspaces"]] == ["default", "rivals"]
    seen = client.get("/api/workflows", headers={"X-Wasmflow-Workspace": "rivals"}).get_json()["workflows"]
    assert [w["name"] for w in seen] == [THEIRS]


def test_the_live_stream_of_one_workspace_shows_nothing_of_another(tmp_path, database_url, compiler, compiled_examples):
    app = trigger_app(
        tmp_path, database_url, compiler, digests=[r.digest for r in compiled_examples.values()], AUTH=True
    )
    try:
        ws = _setup(app, compiled_examples)
        with serving(app) as base:
            url = base.replace("http://", "ws://") + "/api/ws?all=1"
            for token, own, other in (("admin", ws["mine"], ws["theirs"]), ("theirs", ws["theirs"], ws["mine"])):
                sock = Client.connect(url, headers={"Authorization": f"Bearer {ws['tokens'][token]}"})
                try:
                    seen = []
                    while True:
                        msg = json.loads(sock.receive(timeout=30))
                        if msg["type"] == "stream.live":
                            break
                        seen.append(msg)
                finally:
                    sock.close()
                assert [m["run_id"] for m in seen] == [own["run_id"]], seen
                assert other["name"] not in json.dumps(seen)

            # naming their run or workflow on the stream gets what an absent one gets
            def first(query: str) -> dict:
                sock = Client.connect(
                    base.replace("http://", "ws://") + f"/api/ws?{query}",
                    headers={"Authorization": f"Bearer {ws['tokens']['admin']}"},
                )
                try:
                    return json.loads(sock.receive(timeout=30))
                except ConnectionClosed as closed:  # the error message may be overtaken by the close
                    return {"closed": closed.reason, "message": closed.message}
                finally:
                    with contextlib.suppress(ConnectionClosed):
                        sock.close()

            theirs, absent = first(f"run={ws['theirs']['run_id']}"), first(f"run={'0' * 32}")
            assert theirs.get("closed") == absent.get("closed") and theirs.get("type") == absent.get("type")
            assert (theirs.get("error") or {}).get("code", theirs.get("message")) == "not_found", theirs
            assert (absent.get("error") or {}).get("code", absent.get("message")) == "not_found", absent
            assert first(f"workflow={THEIRS}") == first("workflow=no-such-flow") == {"type": "stream.live", "cursor": 0}
    finally:
        close_app(app)


def test_versions_say_who_deployed_them(spaces, compiled_examples):
    client = spaces.test_client()
    editor = {"Authorization": f"Bearer {spaces.ws['tokens']['editor']}"}
    digest = compiled_examples[MINE].digest
    done = client.post(f"/api/workflows/{MINE}/deploy", json={"digest": digest}, headers=editor)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["deployed_by"] == "editor@ours.test"
    (version,) = client.get(f"/api/workflows/{MINE}/versions", headers=editor).get_json()["versions"]
    assert version["created_by"] == "editor@ours.test"
    admin = {"Authorization": f"Bearer {spaces.ws['tokens']['admin']}"}
    back = client.post(f"/api/workflows/{MINE}/versions/1/rollback", headers=admin, json={})
    assert back.status_code == 200 and back.get_json()["deployed_by"] == "admin@ours.test"
    shown = client.get(f"/api/workflows/{MINE}", headers=admin).get_json()
    assert shown["deployment"]["deployed_by"] == "admin@ours.test"
    assert shown["versions"][0]["created_by"] == "editor@ours.test"


def test_the_cli_makes_workspaces_members_and_workspace_tokens(secured_cli):
    runner, inst, db = secured_cli
    from app.cli import cli

    assert runner.invoke(cli, [*inst, "workspaces", "create", "payments"]).exit_code == 0
    bad = runner.invoke(cli, [*inst, "workspaces", "create", "Payments Team"])
    assert bad.exit_code != 0 and "is not a workspace name" in bad.output
    made = runner.invoke(cli, [*inst, "users", "create", "pat@example.com", "--password-stdin"], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    member = runner.invoke(cli, [*inst, "workspaces", "member", "payments", "pat@example.com", "--role", "editor"])
    assert member.exit_code == 0 and "editor in payments" in member.output, member.output
    listed = runner.invoke(cli, [*inst, "workspaces", "list"]).output
    assert "payments" in listed and "pat@example.com (editor)" in listed
    tok = runner.invoke(cli, [*inst, "tokens", "create", "pat@example.com", "--name", "ci", "--workspace", "payments"])
    assert tok.exit_code == 0 and "editor in payments" in tok.output, tok.output
    over = runner.invoke(
        cli, [*inst, "tokens", "create", "pat@example.com", "--name", "x", "--workspace", "payments", "--role", "admin"]
    )
    assert over.exit_code != 0 and "at most the role editor" in over.output
    gone = runner.invoke(cli, [*inst, "workspaces", "member", "payments", "pat@example.com", "--remove"])
    assert gone.exit_code == 0
    user_id = next(u["id"] for u in auth.list_users(db) if u["email"] == "pat@example.com")
    assert workspaces.role_of(db, user_id, "payments") is None
    assert workspaces.role_of(db, user_id, "default") == "viewer"


@pytest.fixture
def secured_cli(make_app, api_settings, monkeypatch):
    from click.testing import CliRunner

    app = make_app(AUTH=True)
    monkeypatch.setenv("WASMFLOW_DATABASE_URL", api_settings.database_url)
    return CliRunner(), ["--instance", str(api_settings.instance_dir)], app.extensions["wasmflow.engine"].db
