"""Replay/fork from a node through the real engine: a three-step workflow whose every step is an HTTP call
to a real server on 127.0.0.1. The server's request log is the proof that the calls before the replayed
node are reused (not sent again) and the node and those after it run live (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from httpserver import TestServer
from replayflow import NAME, STEPS, V1, serve, v2
from worldserver import normalize

from app.engine import replay, run_service, runs, workflows
from app.engine.replay import UnknownNode
from app.errors import Conflict, NotFound
from app.store.models import JournalEntry, Run


@pytest.fixture(scope="module")
def versions(compiler) -> dict:
    futures = {"v1": compiler.submit(V1, with_bundle=False), "v2": compiler.submit(v2(), with_bundle=False)}
    out = {v: f.result() for v, f in futures.items()}
    for r in out.values():
        compiler.store.precompiled_path(r.digest)
    return out


@pytest.fixture(scope="module")
def server():
    with TestServer() as srv:
        serve(srv)
        yield srv


@pytest.fixture
def engine(engine_factory, versions, server):
    server.requests.clear()
    return engine_factory([r.digest for r in versions.values()])


def _deploy(engine, doc: dict, digest: str) -> int:
    if _exists(engine, doc["name"]):
        current = workflows.get_workflow(engine.db, doc["name"])
        workflows.update_draft(engine.db, doc["name"], doc, revision=current["revision"])
    else:
        workflows.create_workflow(engine.db, doc)
    return workflows.deploy(engine.db, engine.store, doc["name"], digest)["version"]


def _exists(engine, name: str) -> bool:
    try:
        workflows.get_workflow(engine.db, name)
    except NotFound:
        return False
    return True


def _original(engine, server, digest: str) -> str:
    run_id = engine.create_run(digest, {"base": server.url("").rstrip("/")}, workflow_name=NAME)
    outcome = engine.run_sync(run_id)
    assert outcome.status == runs.SUCCEEDED, outcome.error
    assert server.paths() == ["/fetch", "/enrich", "/store"]
    server.requests.clear()
    return run_id


def _journal(engine, run_id: str) -> list[dict]:
    return run_service.run_details(engine.db, run_id, with_journal=True)["journal"]


def test_replay_from_the_middle_node_reuses_the_calls_before_it(engine, server, versions):
    _deploy(engine, V1, versions["v1"].digest)
    original = _original(engine, server, versions["v1"].digest)

    started = replay.replay_run(engine, original, from_node="enrich")
    assert started["replay_of"] == {"run_id": original, "from_node": "enrich"}
    assert started["digest"] == versions["v1"].digest and started["version"] == 1
    assert started["status"] == runs.QUEUED
    outcome = engine.run_sync(started["run_id"])
    assert outcome.status == runs.SUCCEEDED, outcome.error

    # fetch was answered from the journal; enrich and store went out again, under the new run's keys
    assert server.paths() == ["/enrich", "/store"]
    assert all(r.header("idempotency-key").startswith(started["run_id"] + ":") for r in server.requests)
    old = run_service.run_details(engine.db, original, with_journal=True)
    new = run_service.run_details(engine.db, started["run_id"], with_journal=True)
    assert normalize(new["output"]) == normalize(old["output"])
    first_enrich = next(j["seq"] for j in old["journal"] if j["node"] == "enrich")
    assert new["journal"][: first_enrich - 1] == old["journal"][: first_enrich - 1]
    assert [j["node"] for j in new["journal"][: first_enrich - 1]] == ["start", "start", "fetch", "fetch", "fetch"]

    # every node shows in the new run's view: the reused ones with their original output
    view = {n["node"]: n for n in new["nodes"]}
    assert set(view) == {"start", *STEPS} and all(n["status"] == "finished" for n in view.values())
    assert view["fetch"]["output"] == {n["node"]: n for n in old["nodes"]}["fetch"]["output"]
    (event,) = [e for e in new["events"] if e["type"] == "run.replayed"]
    assert event["data"] == {
        "replay_of": original,
        "from_node": "enrich",
        "version": "original",
        "digest": versions["v1"].digest,
        "reused_calls": first_enrich - 1,
    }

    # lineage both ways, and in the list
    assert new["lineage"] == {"replay_of": {"run_id": original, "from_node": "enrich"}, "replays": []}
    assert old["lineage"]["replay_of"] is None
    assert [(r["run_id"], r["from_node"]) for r in old["lineage"]["replays"]] == [(started["run_id"], "enrich")]
    listed = {r["id"]: r for r in run_service.list_runs(engine.db)["runs"]}
    assert listed[started["run_id"]]["replay_of"] == {"run_id": original, "from_node": "enrich"}
    assert listed[original]["replay_of"] is None

    # a replay of the replay, from the first step: everything live again, lineage chains
    again = replay.replay_run(engine, started["run_id"], from_node="fetch")
    assert engine.run_sync(again["run_id"]).status == runs.SUCCEEDED
    assert server.paths() == ["/enrich", "/store", "/fetch", "/enrich", "/store"]


def test_replay_with_the_current_version_runs_its_new_code_from_the_node(engine, server, versions):
    _deploy(engine, V1, versions["v1"].digest)
    original = _original(engine, server, versions["v1"].digest)
    assert _deploy(engine, v2(), versions["v2"].digest) == 2

    started = replay.replay_run(engine, original, from_node="enrich", version="current")
    assert started["digest"] == versions["v2"].digest and started["version"] == 2
    assert engine.run_sync(started["run_id"]).status == runs.SUCCEEDED
    assert server.paths() == ["/enrich", "/store"]
    assert json.loads(server.requests[0].body) == {"got": {"x": 1}, "v": 2}  # the new enrich
    assert json.loads(server.requests[1].body) == {"enriched": {"enriched": {"got": {"x": 1}, "v": 2}}}

    # the original version, from the same node, still sends v1
    server.requests.clear()
    same = replay.replay_run(engine, original, from_node="enrich")
    assert same["digest"] == versions["v1"].digest and same["version"] == 1
    assert engine.run_sync(same["run_id"]).status == runs.SUCCEEDED
    assert json.loads(server.requests[0].body) == {"got": {"x": 1}, "v": 1}


def test_current_version_that_changed_a_node_before_the_replayed_one_stops_naming_it(engine, server, versions):
    """The decision documented in app.engine.replay: a divergence in the reused prefix is a determinism error
    naming the node, met before anything goes out live (the changed enrich is not silently re-sent)."""
    _deploy(engine, V1, versions["v1"].digest)
    original = _original(engine, server, versions["v1"].digest)
    _deploy(engine, v2(), versions["v2"].digest)

    started = replay.replay_run(engine, original, from_node="store", version="current")
    outcome = engine.run_sync(started["run_id"])
    assert outcome.status == runs.NEEDS_ATTENTION
    assert outcome.error["code"] == "determinism_error" and "node enrich" in outcome.error["message"]
    assert outcome.error["details"]["journal"]["node"] == "enrich"
    assert server.paths() == []


def test_replay_refuses_unknown_runs_and_nodes_active_runs_and_nodes_that_never_ran(engine, server, versions):
    digest = versions["v1"].digest
    original = _original(engine, server, digest)
    with pytest.raises(NotFound) as missing:
        replay.replay_run(engine, "0123abcd", from_node="fetch")
    assert missing.value.details["field"] == "run_id" and "0123abcd" in missing.value.message
    with pytest.raises(UnknownNode) as unknown:
        replay.replay_run(engine, original, from_node="nope")
    assert unknown.value.details["field"] == "/from_node" and "'nope'" in unknown.value.message
    with pytest.raises(Conflict) as undeployed:  # this database never deployed the workflow
        replay.replay_run(engine, original, from_node="fetch", version="current")
    assert undeployed.value.code == "not_deployed" and "no deployed version" in undeployed.value.message

    queued = engine.create_run(digest, {"base": "http://127.0.0.1:9"}, workflow_name=NAME)
    with pytest.raises(Conflict) as active:
        replay.replay_run(engine, queued, from_node="fetch")
    assert active.value.code == "run_active" and "queued" in active.value.message

    with engine.db.session() as s:  # a run that stopped after fetch: enrich never started in it
        s.execute(sa.delete(JournalEntry).where(JournalEntry.run_id == queued))
        s.execute(sa.update(Run).where(Run.id == queued).values(status=runs.FAILED))
    with pytest.raises(Conflict) as never:
        replay.replay_run(engine, queued, from_node="enrich")
    assert never.value.code == "node_not_run" and "'enrich' never started" in never.value.message
    with engine.db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Run)).scalar() == 2  # nothing was created


def test_cli_replay_through_the_real_entry_point(engine, server, versions, database_url, compiler, tmp_path):
    original = _original(engine, server, versions["v1"].digest)
    env = {**os.environ, "WASMFLOW_DATABASE_URL": database_url, "WASMFLOW_ARTIFACTS_DIR": str(compiler.store.root)}
    exe = str(Path(sys.executable).parent / "wasmflow")
    base = [exe, "--instance", str(tmp_path / "inst"), "replay", original]

    done = subprocess.run([*base, "--from", "store", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["status"] == "succeeded" and body["replay_of"] == {"run_id": original, "from_node": "store"}
    assert server.paths() == ["/store"]
    lineage = run_service.run_details(engine.db, original)["lineage"]
    assert [r["run_id"] for r in lineage["replays"]] == [body["run_id"]]

    text = subprocess.run([*base, "--from", "enrich"], env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert f"replays {original} from enrich" in text.stderr and '"stored"' in text.stdout

    show = [exe, "--instance", str(tmp_path / "inst"), "runs", "show"]
    shown = subprocess.run([*show, body["run_id"]], env=env, capture_output=True, text=True, timeout=120)
    assert f"replay of {original} from node store" in shown.stdout, shown.stdout + shown.stderr
    shown = subprocess.run([*show, original], env=env, capture_output=True, text=True, timeout=120)
    assert f"replayed as {body['run_id']} from node store" in shown.stdout

    bad = subprocess.run([*base, "--from", "nope"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1  # an invalid --from, like any invalid input (docs/cli.md)
    assert bad.stderr.strip() == f"/from_node (node nope): node 'nope' is not in the run's version of '{NAME}'"
    current = subprocess.run(
        [*base, "--from", "fetch", "--version", "current"], env=env, capture_output=True, text=True, timeout=120
    )
    assert current.returncode == 3 and "has no deployed version" in current.stderr
