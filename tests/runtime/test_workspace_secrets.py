"""Secrets belong to a workspace and may be granted to chosen workflows only (issue 13, app/runtime/secrets.py):
a run resolves its own workspace's secret, and only one granted to its workflow. Another workspace's secret of
the same name is never sent; a refused secret fails the node naming the workspace, the workflow and the fix,
and no request leaves."""

from __future__ import annotations

import pytest
from httpserver import TestServer

from app import workspaces
from app.engine import runs
from app.engine import workflows as wf

pytestmark = pytest.mark.slow

SECRET = "PARTNER_KEY"
NAME = "ws-secret-user"
DOC = {
    "dsl": "wasmflow/1",
    "name": NAME,
    "settings": {"timeout_seconds": 30},
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {
            "id": "call",
            "type": "http.request",
            "config": {
                "method": "GET",
                "url": "http://127.0.0.1:{{ input['port'] }}/echo",
                "allowed_hosts": ["127.0.0.1"],
                "auth": {"type": "bearer", "secret": SECRET},
            },
        },
    ],
    "edges": [{"from": "start", "to": "call"}],
}


@pytest.fixture(scope="module")
def compiled(compiler):
    return compiler.compile(DOC, with_bundle=False)


def _bearers(server: TestServer) -> list[str | None]:
    return [r.header("authorization") for r in server.requests]


def test_a_run_uses_its_workspace_secret_granted_to_its_workflow_only(compiled, engine_factory):
    engine = engine_factory([compiled.digest])
    db, store = engine.db, engine.world.secrets
    workspaces.create(db, "team-a")
    workspaces.create(db, "team-b")
    wf.create_workflow(db, DOC, workspace="team-a")
    with TestServer() as server:

        def run():
            return engine.run_sync(engine.create_run(compiled.digest, {"port": server.port}, workflow_name=NAME))

        # the same name in another workspace (and in default) is not this workflow's
        store.set(SECRET, "value-of-team-b", workspace="team-b")
        store.set(SECRET, "value-of-default")
        missing = run()
        assert missing.status == runs.FAILED
        assert (missing.error["code"], missing.error["node"]) == ("secret_missing", "call"), missing.error
        assert "does not exist in workspace team-a" in missing.error["message"]
        assert f"wasmflow secrets set {SECRET} --workspace team-a" in missing.error["message"]
        assert server.requests == []

        # in its workspace but granted to another workflow: refused, and the message says how to grant it
        store.set(SECRET, "value-of-team-a", workspace="team-a", workflows=["someone-else"])
        refused = run()
        assert refused.status == runs.FAILED and refused.error["code"] == "secret_missing", refused.error
        assert f"not granted to workflow {NAME}" in refused.error["message"]
        assert "granted to someone-else" in refused.error["message"]
        assert server.requests == []

        store.grant(SECRET, [NAME, "someone-else"], workspace="team-a")
        ok = run()
        assert ok.status == runs.SUCCEEDED, ok.error
        assert _bearers(server) == ["Bearer value-of-team-a"]

        store.grant(SECRET, None, workspace="team-a")  # every workflow of team-a again
        assert run().status == runs.SUCCEEDED
        assert _bearers(server) == ["Bearer value-of-team-a"] * 2
    names = {r["name"]: r["workflows"] for r in store.describe(workspace="team-a")}
    assert names == {SECRET: None}
    assert "value-of" not in repr(store.describe(workspace="team-b"))
