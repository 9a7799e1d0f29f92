"""The same operator commands without --server, on the local database, through the real entry point:
deploy FILE (a compile cache hit), runs start --wait (the command wakes the timer itself), logs --follow read
through the event feed, runs list/cancel."""

from __future__ import annotations

import json

import pytest
from apihelpers import copy_artifacts, wait_doc
from test_remote_cli import cli, write

pytestmark = pytest.mark.slow


def test_operator_commands_on_the_local_database(tmp_path, database_url, compiler, wait_digests):
    copy_artifacts(compiler, database_url, wait_digests.values())
    env = {"WASMFLOW_DATABASE_URL": database_url, "WASMFLOW_ARTIFACTS_DIR": str(compiler.store.root)}
    run = lambda *args: cli("--instance", str(tmp_path / "instance"), *args, cwd=tmp_path, env=env)  # noqa: E731

    deployed = run("deploy", str(write(tmp_path, wait_doc("v1"))), "--json")
    assert deployed.returncode == 0, deployed.stderr
    assert json.loads(deployed.stdout)["digest"] == wait_digests["v1"]
    assert json.loads(run("workflows", "list", "--json").stdout)["workflows"][0]["deployed_version"] == 1

    done = run("runs", "start", "api-wait", "--input", '{"n": 2}', "--wait", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["status"] == "succeeded" and body["output"]["output"] == "v1"
    logs = run("logs", body["id"], "--follow")
    assert logs.returncode == 0 and logs.stdout.splitlines()[-1].split()[2] == "run.succeeded", logs

    started = run("runs", "start", "api-wait", "--input", '{"n": 3}')  # runs here until its 2 s wait, then exits
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    listed = json.loads(run("runs", "list", "--status", "waiting", "--json").stdout)["runs"]
    assert [r["id"] for r in listed] == [run_id]
    assert run("runs", "cancel", run_id).stdout.strip() == f"run {run_id} cancelled"
    follow = run("logs", run_id, "--follow", "--json")
    assert follow.returncode == 3 and json.loads(follow.stdout.splitlines()[-1])["type"] == "run.cancelled"
    missing = run("runs", "show", "nope")
    assert (missing.returncode, missing.stderr.strip()) == (3, "error: no run nope")
