"""kill -9 a real `wasmflow run` process mid-run, resume it with `wasmflow runs resume`, and check that the
world saw every side effect exactly once and the output equals a crash-free run (ARCHITECTURE.md, contract 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scenarios import SCENARIOS
from support import GOLDEN
from worldserver import normalize

from app.engine import runs
from app.engine.queries import run_details
from app.store.models import Run

pytestmark = pytest.mark.slow
NAME = "order-sync"  # one GET, then two batches of POSTs (concurrency 4: 4 + 2 lines)


def _cli(args: list[str], *, instance: Path, database_url: str, artifacts: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "WASMFLOW_DATABASE_URL": database_url,
        "WASMFLOW_ARTIFACTS_DIR": str(artifacts),
        "WASMFLOW_HTTP_ALLOW_NETWORKS": "127.0.0.1/32",
        "WASMFLOW_LEASE_SECONDS": "1",
    }
    cmd = [sys.executable, "-c", "from app.cli import main; main()", "--instance", str(instance), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _posts(world) -> list:
    return [r for r in world.effects if r.method == "POST"]


@pytest.fixture
def crash_setup(engine_factory, world, localized, tmp_path, database_url, compiler):
    doc, compiled = localized[NAME]
    engine = engine_factory([compiled.digest])
    for secret in compiled.artifact.manifest["secrets"]:
        engine.world.secrets.set(secret, f"value-of-{secret.lower()}")
    path = tmp_path / f"{NAME}.json"
    path.write_text(json.dumps(doc))
    world.use(NAME)
    opts = {"instance": engine.settings.instance_dir, "database_url": database_url, "artifacts": compiler.store.root}
    return engine, path, opts


def _crash_then_resume(engine, world, path: Path, opts: dict, hold) -> tuple[str, dict, list]:
    world.hold(hold)
    proc = _cli(["run", str(path), "--input", json.dumps(SCENARIOS[NAME].input)], **opts)
    try:
        assert world.held.wait(timeout=120), (
            f"no request was held; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        )
        # let the rest of the batch arrive too, then kill -9 while they are in flight
        deadline = 50
        while deadline and sum(1 for r in world.requests if hold(r)) < _expected_in_flight(world):
            import time

            time.sleep(0.05)
            deadline -= 1
        proc.kill()
        proc.wait(timeout=30)
    finally:
        world.release.set()
    world._hold = None
    with engine.db.session() as s:
        (run_id,) = [r.id for r in s.query(Run)]
        assert s.get(Run, run_id).status == runs.RUNNING  # the dead process still "holds" it
    journal_after_crash = run_details(engine.db, run_id, with_journal=True)["journal"]
    resumed = _cli(["runs", "resume", run_id, "--json"], **opts)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    return run_id, json.loads(out), journal_after_crash


def _expected_in_flight(world) -> int:
    return 1


def _key(run_id: str, row: dict) -> str:
    """The Idempotency-Key of a journaled HTTP call: its effect's, the same for every attempt."""
    return f"{run_id}:{row['request']['effect']}"


def _golden_output() -> dict:
    return json.loads((GOLDEN / "runtime" / f"{NAME}.json").read_text())["output"]


def test_kill9_after_intents_before_results(crash_setup, world):
    engine, path, opts = crash_setup
    first_batch = lambda r: r.method == "POST"  # noqa: E731 - hold the first POSTs in flight
    run_id, result, journal = _crash_then_resume(engine, world, path, opts, first_batch)

    assert result["status"] == "succeeded"
    assert normalize(result["output"]["output"]) == _golden_output()
    # at the crash, the POST intents were durable and their results were not
    posts_at_crash = [j for j in journal if j["capability"] == "http.request" and j["state"] == "intent"]
    assert posts_at_crash, journal
    # every order line reached the ERP exactly once; the in-flight ones were retried with the SAME key
    lines = [json.loads(r.body)["sku"] for r in _posts(world)]
    assert sorted(lines) == ["SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-DUP", "SKU-E"]
    in_flight = {_key(run_id, j) for j in posts_at_crash}
    # those that had reached the server came again with the same key (deduplicated there); those that had
    # not were sent once, with the key journaled before the crash
    assert world.repeats and set(world.repeats) <= in_flight
    assert in_flight <= set(world.applied)
    details = run_details(engine.db, run_id)
    assert details["executions"] == 2


def test_kill9_after_results_are_journaled(crash_setup, world):
    engine, path, opts = crash_setup
    second_batch = lambda r: r.method == "POST" and len(_posts(world)) > 4  # noqa: E731
    run_id, result, journal = _crash_then_resume(engine, world, path, opts, second_batch)

    assert result["status"] == "succeeded"
    assert normalize(result["output"]["output"]) == _golden_output()
    done_posts = {_key(run_id, j) for j in journal if j["capability"] == "http.request" and j["state"] == "done"}
    assert len(done_posts) >= 5  # the GET and the first batch of 4 POSTs had their results journaled
    # journaled results are replayed, not re-sent: those keys never reached the server again
    assert not done_posts & set(world.repeats)
    lines = [json.loads(r.body)["sku"] for r in _posts(world)]
    assert sorted(lines) == ["SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-DUP", "SKU-E"]
