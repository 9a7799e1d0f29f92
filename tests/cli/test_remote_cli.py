"""The operator CLI through its real entry point (``.venv/bin/wasmflow`` subprocesses) against a real
``wasmflow serve`` process: deploy FILE then trigger through the API, ``logs --follow`` watching runs end
live over the WebSocket, runs start/list/show/cancel, approvals, ``--json`` parsed, and one-line errors with
the documented exit codes (docs/cli.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apihelpers import copy_artifacts, wait_doc
from approvalflow import DOC as APPROVAL_DOC
from support import free_port as _free_port

pytestmark = pytest.mark.slow

WASMFLOW = str(Path(sys.executable).parent / "wasmflow")


def cli(*args: str, server=None, cwd: Path, timeout: float = 120, env: dict | None = None):
    """Run ``wasmflow [--server URL] args...`` and return the completed process (text, both streams)."""
    prefix = ["--server", str(server.base_url).rstrip("/")] if server is not None else []
    return subprocess.run(
        [WASMFLOW, *prefix, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


def follow(server, run_id: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [WASMFLOW, "--server", str(server.base_url), "logs", run_id, "--follow"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    """The rest of a follower's output once it exits (read through the same buffered file objects that
    ``readline`` used: ``communicate`` would read the raw pipe and lose what they buffered)."""
    proc.wait(timeout=timeout)
    return proc.stdout.read(), proc.stderr.read()


def write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / f"{doc['name']}.json"
    path.write_text(json.dumps(doc))
    return path


def test_deploy_file_then_trigger_through_the_api_and_follow_it_live(server, wait_digests, tmp_path):
    deployed = cli("deploy", str(write(tmp_path, wait_doc("v1"))), "--json", server=server, cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    body = json.loads(deployed.stdout)
    assert body["version"] == 1 and body["digest"] == wait_digests["v1"] and body["unchanged"] is False
    again = cli("deploy", str(tmp_path / "api-wait.json"), server=server, cwd=tmp_path)
    assert again.returncode == 0 and "api-wait version 1 unchanged" in again.stdout, again.stderr

    listed = json.loads(cli("workflows", "list", "--json", server=server, cwd=tmp_path).stdout)["workflows"]
    assert [(w["name"], w["deployed_version"]) for w in listed] == [("api-wait", 1)]

    started = server.post("/api/workflows/api-wait/runs", json={"input": {"n": 1}})
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    proc = follow(server, run_id, tmp_path)  # history and then live (test_approve_remotely... proves "live")
    first = proc.stdout.readline()
    rest, err = finish(proc)
    lines = [first.rstrip("\n"), *rest.splitlines()]
    assert proc.returncode == 0, (lines, err)
    types = [line.split()[2] for line in lines]
    assert types[0] == "run.queued" and types[-1] == "run.succeeded", lines
    assert any(t == "node.finished" and line.split()[3] == "done" for t, line in zip(types, lines, strict=True))
    assert "\x1b[" not in rest  # NO_COLOR and not a terminal: plain text

    shown = json.loads(cli("runs", "show", run_id, "--json", server=server, cwd=tmp_path).stdout)
    assert shown["status"] == "succeeded" and shown["version"] == 1
    runs = json.loads(cli("runs", "list", "--workflow", "api-wait", "--json", server=server, cwd=tmp_path).stdout)
    assert [r["id"] for r in runs["runs"]] == [run_id]
    table = cli("runs", "list", server=server, cwd=tmp_path).stdout.splitlines()
    assert table[0].split() == ["RUN", "WORKFLOW", "STATUS", "CREATED", "DIGEST"] and run_id in table[1]
    logs = cli("logs", run_id, "--json", server=server, cwd=tmp_path)
    assert [json.loads(line)["type"] for line in logs.stdout.splitlines()] == types, (lines, logs.stdout)

    replayed = cli("replay", run_id, "--from", "done", "--json", server=server, cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    body = json.loads(replayed.stdout)
    assert body["replay_of"] == {"run_id": run_id, "from_node": "done"} and body["status"] == "succeeded"
    assert body["output"]["output"] == "v1" and body["run_id"] != run_id
    ghost = cli("replay", run_id, "--from", "ghost", server=server, cwd=tmp_path)
    assert ghost.returncode == 1 and len(ghost.stderr.strip().splitlines()) == 1, ghost.stderr
    assert ghost.stderr.startswith("error: ") and ghost.stderr.rstrip().endswith("(at /from_node)"), ghost.stderr


def test_runs_start_wait_and_input_errors(server, wait_digests, tmp_path):
    assert cli("deploy", str(write(tmp_path, wait_doc("v1"))), server=server, cwd=tmp_path).returncode == 0
    (tmp_path / "input.json").write_text('{"n": 7}')
    done = cli("runs", "start", "api-wait", "--input", "@input.json", "--wait", "--json", server=server, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["status"] == "succeeded" and body["input"] == {"n": 7} and body["version"] == 1

    bad = cli("runs", "start", "api-wait", "--input", '{"n": "x"}', server=server, cwd=tmp_path)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "error: the input does not match the inputs schema of 'api-wait': 'x' is not of type 'integer' (at /input/n)"
    ]
    # a v2 draft saved but not deployed: --draft runs it, the deployed version stays v1
    revision = server.get("/api/workflows/api-wait").json()["revision"]
    assert (
        server.put("/api/workflows/api-wait", json={"revision": revision, "draft": wait_doc("v2")}).status_code == 200
    )
    draft = cli("runs", "start", "api-wait", "--draft", "--wait", server=server, cwd=tmp_path)
    assert draft.returncode == 0, draft.stderr
    assert json.loads(draft.stdout) == "v2" and "run.succeeded" in draft.stderr
    deployed = cli("runs", "start", "api-wait", "--wait", server=server, cwd=tmp_path)
    assert deployed.returncode == 0 and json.loads(deployed.stdout) == "v1", deployed.stderr


def test_approve_remotely_and_cancel(server, compiler, database_url, tmp_path):
    digest = compiler.compile(APPROVAL_DOC, with_bundle=False).digest  # the test cache makes this a hit
    copy_artifacts(compiler, database_url, [digest])
    assert cli("deploy", str(write(tmp_path, APPROVAL_DOC)), server=server, cwd=tmp_path).returncode == 0

    run_id = cli("runs", "start", "approval-branch", "--input", '{"n": 3}', server=server, cwd=tmp_path).stdout.strip()
    proc = follow(server, run_id, tmp_path)
    end = time.monotonic() + 60
    while True:
        pending = json.loads(cli("approvals", "list", "--json", server=server, cwd=tmp_path).stdout)["approvals"]
        if pending or time.monotonic() > end:
            break
        time.sleep(0.3)
    assert [(a["run_id"], a["title"]) for a in pending] == [(run_id, "Ship 3?")]
    seen: list[str] = []  # the follower is attached and has printed the history up to the wait
    while not seen or "run.waiting" not in seen[-1]:
        seen.append(proc.stdout.readline())
        assert seen[-1] and len(seen) < 100, (seen, proc.poll())
    time.sleep(0.5)
    assert proc.poll() is None  # still following: the run waits for a person
    key = pending[0]["id"]
    ok = cli("approve", key, "--reason", "fine", "--by", "ann", "--json", server=server, cwd=tmp_path)
    assert ok.returncode == 0 and json.loads(ok.stdout)["decision"] == "approved", ok.stderr
    out, err = finish(proc)  # what came after the wait: printed live
    assert proc.returncode == 0, (out, err)
    assert "approval.decided approve_x approved by ann" in " ".join(out.split())
    assert "run.succeeded" in out.splitlines()[-1]
    shown = json.loads(cli("runs", "show", run_id, "--json", server=server, cwd=tmp_path).stdout)
    assert {n["node"]: n for n in shown["nodes"]}["ship"]["output"] == "shipped"

    twice = cli("reject", key, "--reason", "no", "--by", "bob", server=server, cwd=tmp_path)
    assert twice.returncode == 3 and len(twice.stderr.strip().splitlines()) == 1
    assert twice.stderr.startswith(f"error: approval {key} was already decided: approved by ann"), twice.stderr

    other = cli("runs", "start", "approval-branch", "--input", '{"n": 4}', server=server, cwd=tmp_path).stdout.strip()
    proc = follow(server, other, tmp_path)
    cancelled = cli("runs", "cancel", other, server=server, cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    out, err = finish(proc)
    assert proc.returncode == 3 and out.splitlines()[-1].split()[2] == "run.cancelled", (out, err)
    assert err.strip().splitlines()[-1] == f"run {other} cancelled"


def test_errors_are_one_line_with_documented_exit_codes(server, tmp_path):
    missing = cli("runs", "show", "nope", server=server, cwd=tmp_path)
    assert (missing.returncode, missing.stdout) == (3, "")
    assert missing.stderr.strip().splitlines() == ["error: no run nope"]
    follow_missing = cli("logs", "nope", "--follow", server=server, cwd=tmp_path)
    assert follow_missing.returncode == 3 and follow_missing.stderr.strip().splitlines() == ["error: no run nope"]
    no_wf = cli("runs", "start", "ghost", server=server, cwd=tmp_path)
    assert no_wf.returncode == 3 and len(no_wf.stderr.strip().splitlines()) == 1 and "ghost" in no_wf.stderr

    dead = f"http://127.0.0.1:{_free_port()}"
    for args in (["workflows", "list"], ["logs", "x", "--follow"], ["approve", "k:1", "--reason", "r"]):
        gone = cli(*args, cwd=tmp_path, env={"WASMFLOW_SERVER": dead}, timeout=90)
        assert gone.returncode == 4, (args, gone.stderr)
        assert gone.stderr.startswith(f"error: cannot reach server at {dead}: "), gone.stderr
        assert len(gone.stderr.strip().splitlines()) == 1
    bad_url = cli("--server", "ftp://x", "workflows", "list", cwd=tmp_path)
    assert bad_url.returncode == 2 and "is not an http:// or https:// URL" in bad_url.stderr
