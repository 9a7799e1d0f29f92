"""The same operator commands without --server, on the local database, through the real entry point:
deploy FILE (a compile cache hit), runs start --wait (the command wakes the timer itself), logs --follow read
through the event feed, runs list/cancel."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time

import pytest
from apihelpers import copy_artifacts, wait_doc
from test_remote_cli import WASMFLOW, cli, write

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
    on_terminal = follow_on_terminals(["--instance", str(tmp_path / "instance"), "logs", run_id, "--follow"], env)
    assert "\x1b[33m" in on_terminal["stdout"] and "run.waiting" in on_terminal["stdout"]  # yellow: waiting
    assert f"run {run_id} waiting" in on_terminal["stderr"] and any(f in on_terminal["stderr"] for f in "|/-\\")
    plain = follow_on_terminals(["--instance", str(tmp_path / "instance"), "logs", run_id], {**env, "NO_COLOR": "1"})
    assert "run.waiting" in plain["stdout"] and "\x1b[" not in plain["stdout"]
    assert run("runs", "cancel", run_id).stdout.strip() == f"run {run_id} cancelled"
    follow = run("logs", run_id, "--follow", "--json")
    assert follow.returncode == 3 and json.loads(follow.stdout.splitlines()[-1])["type"] == "run.cancelled"
    missing = run("runs", "show", "nope")
    assert (missing.returncode, missing.stderr.strip()) == (3, "error: no run nope")


def follow_on_terminals(args: list[str], env: dict, seconds: float = 4.0) -> dict[str, str]:
    """Run ``wasmflow args`` with stdout and stderr on two pseudo-terminals for ``seconds`` (or until it
    exits), then interrupt it; returns what each terminal showed."""
    (out_m, out_s), (err_m, err_s) = pty.openpty(), pty.openpty()
    full_env = {**{k: v for k, v in os.environ.items() if k != "NO_COLOR"}, **env}
    proc = subprocess.Popen([WASMFLOW, *args], stdout=out_s, stderr=err_s, stdin=subprocess.DEVNULL, env=full_env)
    os.close(out_s)
    os.close(err_s)
    seen = {out_m: b"", err_m: b""}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select(list(seen), [], [], 0.1)
        for fd in ready:
            try:
                seen[fd] += os.read(fd, 65536)
            except OSError:  # the other end closed
                pass
        if proc.poll() is not None and not ready:
            break
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    os.close(out_m)
    os.close(err_m)
    return {"stdout": seen[out_m].decode(errors="replace"), "stderr": seen[err_m].decode(errors="replace")}
