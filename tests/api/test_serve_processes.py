"""``wasmflow serve --processes N`` (gunicorn): one port, N worker processes; a killed one is replaced, the
others keep answering, and stopping the master (SIGTERM) stops them all gracefully."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from apihelpers import copy_artifacts, wait_doc
from support import wasmflow_server_process


def _children(pid: int) -> set[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            out.add(int(entry.name))
    return out


def _until(predicate, what: str, timeout: float = 60):
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < end, f"{what} within {timeout:.0f} s"
        time.sleep(0.1)


def _run_to_end(client: httpx.Client, digest: str) -> dict:
    run_id = client.post("/api/workflows/api-wait/runs", json={"input": {}}).json()["run_id"]
    return _until(
        lambda: (r := client.get(f"/api/runs/{run_id}").json())["status"] in ("succeeded", "failed") and r,
        f"run {run_id} ended",
    )


def test_processes_share_the_port_and_are_replaced_when_killed(tmp_path, database_url, compiler, wait_digests):
    copy_artifacts(compiler, database_url, wait_digests.values())
    env = {"WASMFLOW_DATABASE_URL": database_url, "WASMFLOW_ARTIFACTS_DIR": str(compiler.store.root)}
    log = tmp_path / "server.log"
    with wasmflow_server_process(tmp_path / "instance", env, log, args=("--processes", "2")) as (base, proc):
        first = _until(lambda: len(c := _children(proc.pid)) == 2 and c, "two server processes")
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.post("/api/workflows", json=wait_doc("v1")).status_code == 201
            assert client.post("/api/workflows/api-wait/deploy", json={"digest": wait_digests["v1"]}).status_code == 200
            assert _run_to_end(client, wait_digests["v1"])["status"] == "succeeded"

            victim = min(first)
            os.kill(victim, signal.SIGKILL)
            # the other process answers meanwhile; a new one takes the dead one's place
            replaced = _until(
                lambda: len(c := _children(proc.pid)) == 2 and victim not in c and c, "a replacement process"
            )
            assert replaced & first == first - {victim}
            assert f"Worker (pid:{victim}) was sent SIGKILL" in log.read_text()
            for _ in range(4):  # whichever process accepts, every request is answered
                assert client.get("/api/health").status_code == 200
            assert _run_to_end(client, wait_digests["v1"])["status"] == "succeeded"
        proc.terminate()
        proc.wait(timeout=30)
        assert proc.returncode == 0, log.read_text()
        assert not (replaced & {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}), "children left"


def test_the_server_names_the_wake_folder_as_the_feed_reads_it():
    from app.cli import gunicorn_conf
    from app.engine import feed

    assert gunicorn_conf.WAKE_DIR_ENV == feed.WAKE_DIR_ENV


def test_default_processes_is_one_per_core_at_most_four():
    from app.cli.server_commands import MAX_DEFAULT_PROCESSES, default_processes

    assert default_processes() == max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_PROCESSES))
