"""Real `wasmflow worker` processes sharing one database (SQLite file or PostgreSQL schema).

1. Two workers drain 500 queued runs: each run is executed exactly once (one claim, one `run.started`, one
   `node.started` per node), the world saw each run's POST exactly once, and both workers did a share.
2. kill -9 a worker while its requests are held in flight: the surviving worker leaves the victim's leased
   runs alone while the victim lives, then takes them over by replay once their short leases expire; the
   in-flight POSTs are retried with the same Idempotency-Key (deduplicated by the server) and every run
   succeeds.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from scenarios import Scenario
from worldserver import localize

from app.engine import runs
from app.store.models import Event, Run

pytestmark = pytest.mark.slow

HOST = "workers.example.com"
FLOW = {
    "dsl": "wasmflow/1",
    "name": "worker-effects",
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {
            "id": "post",
            "type": "http.request",
            "config": {
                "method": "POST",
                "url": f"https://{HOST}/api/effects",
                "body": "{'n': input['n'], 'token': input['token']}",
                "expect_status": [201],
            },
        },
        {
            "id": "done",
            "type": "transform",
            "config": {"expression": "{'n': input['n'], 'token': post['body']['token']}"},
        },
    ],
    "edges": [{"from": "start", "to": "post"}, {"from": "post", "to": "done"}],
}
NODES = {"start", "post", "done"}


def _effect(request: dict) -> dict:
    return {"status": 201, "headers": {"content-type": "application/json"}, "body": {"token": request["body"]["token"]}}


SCENARIO = Scenario(example="worker-effects", input={}, routes=[("POST", f"https://{HOST}/api/effects", _effect)])


@pytest.fixture(scope="session")
def effects_flow(world, compiler):
    doc = localize(FLOW, world.url("").rstrip("/"))
    compiled = compiler.compile(doc, with_bundle=False)
    # the native form (~10 s of Cranelift), made once here instead of by each worker on its first run
    compiler.store.precompiled_path(compiled.digest)
    return compiled


@pytest.fixture
def fresh_world(world):
    world.use("order-sync")  # clears what earlier tests recorded
    world.scenario = SCENARIO
    yield world
    world._hold = None
    world.release.set()


class Workers:
    """Start `wasmflow worker` subprocesses (output to files), stop them all at teardown."""

    def __init__(self, tmp_path: Path, instance: Path, database_url: str, artifacts: Path, lease: float):
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "WASMFLOW_DATABASE_URL": database_url,
            "WASMFLOW_ARTIFACTS_DIR": str(artifacts),
            "WASMFLOW_HTTP_ALLOW_NETWORKS": "127.0.0.1/32",
            "WASMFLOW_LEASE_SECONDS": str(lease),
        }
        self.instance = instance
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self, concurrency: int = 8) -> subprocess.Popen:
        log = self.tmp_path / f"worker-{len(self.procs)}.log"
        cmd = [
            sys.executable,
            "-c",
            "from app.cli import main; main()",
            "--instance",
            str(self.instance),
            "worker",
            "--concurrency",
            str(concurrency),
        ]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def output(self) -> str:
        parts = []
        for proc, log in zip(self.procs, self.logs, strict=True):
            text = log.read_text(errors="replace") if log.exists() else ""
            parts.append(f"--- worker pid {proc.pid} (exit {proc.poll()}):\n{text[-4000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def setup(engine_factory, effects_flow, fresh_world, compiler, database_url, tmp_path):
    """(engine without a poller, for creating and inspecting runs; a factory of Workers with a lease)."""
    engine = engine_factory([effects_flow.digest])
    made: list[Workers] = []

    def workers(lease: float) -> Workers:
        w = Workers(tmp_path, engine.settings.instance_dir, database_url, compiler.store.root, lease)
        made.append(w)
        return w

    yield engine, workers
    for w in made:
        w.stop()


def _queue(engine, digest: str, n: int) -> dict[str, str]:
    """Queue ``n`` runs in one transaction; returns run id -> its unique token."""
    tokens: dict[str, str] = {}
    with engine.db.session() as s:
        for i in range(n):
            token = uuid.uuid4().hex
            rid = runs.create_run(s, workflow_name="worker-effects", digest=digest, input={"n": i, "token": token})
            tokens[rid] = token
    return tokens


def _status_counts(engine) -> dict[str, int]:
    with engine.db.session() as s:
        rows = s.execute(sa.select(Run.status, sa.func.count()).group_by(Run.status)).all()
    return {status: count for status, count in rows}


def _wait_all_final(engine, workers: Workers, n: int, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        counts = _status_counts(engine)
        if sum(counts.get(st, 0) for st in runs.FINAL | {runs.NEEDS_ATTENTION}) == n:
            return time.monotonic() - start
        dead = [p.pid for p in workers.procs if p.poll() is not None and p.returncode != -signal.SIGKILL]
        assert not dead, f"worker(s) {dead} exited; runs {counts}\n{workers.output()}"
        time.sleep(0.2)
    pytest.fail(f"runs not finished after {timeout}s: {_status_counts(engine)}\n{workers.output()}")


def _events(engine) -> dict[str, list[Event]]:
    by_run: dict[str, list[Event]] = collections.defaultdict(list)
    with engine.db.session() as s:
        for e in s.execute(sa.select(Event).order_by(Event.run_id, Event.seq)).scalars():
            s.expunge(e)
            by_run[e.run_id].append(e)
    return by_run


def _runs(engine) -> dict[str, Run]:
    with engine.db.session() as s:
        rows = list(s.execute(sa.select(Run)).scalars())
        for r in rows:
            s.expunge(r)
    return {r.id: r for r in rows}


def _pid_of(owner: str) -> int:
    return int(owner.split(":")[1])  # host:pid:random (engine.default_owner)


def _keys_of(requests) -> collections.Counter:
    return collections.Counter(r.header("idempotency-key") for r in requests)


def _check_effects_once(world, tokens: dict[str, str]) -> None:
    """Every run's POST applied its effect exactly once: one per run id, with that run's token."""
    posts = [r for r in world.effects if r.method == "POST"]
    keys = _keys_of(posts)
    assert all(k for k in keys), "a POST without Idempotency-Key"
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1][:10]
    by_run = {k.split(":")[0]: json.loads(r.body)["token"] for r in posts for k in [r.header("idempotency-key")]}
    assert by_run == tokens
    assert len(posts) == len(tokens)


def test_two_workers_execute_each_run_exactly_once(setup, effects_flow, fresh_world):
    engine, make_workers = setup
    n = 500
    tokens = _queue(engine, effects_flow.digest, n)
    workers = make_workers(lease=2)
    begun = time.monotonic()
    a, b = workers.start(), workers.start()
    elapsed = _wait_all_final(engine, workers, n, timeout=150)
    print(f"\n{n} runs by 2 workers: {elapsed:.1f}s after start ({time.monotonic() - begun:.1f}s)")

    all_runs, events = _runs(engine), _events(engine)
    bad = {rid: (r.status, r.error) for rid, r in all_runs.items() if r.status != runs.SUCCEEDED}
    assert not bad, f"{len(bad)} runs did not succeed, e.g. {list(bad.items())[:3]}\n{workers.output()}"
    assert {rid: r.output["output"]["token"] for rid, r in all_runs.items()} == tokens
    twice = {rid: r.executions for rid, r in all_runs.items() if r.executions != 1}
    assert not twice, f"runs executed more than once: {list(twice.items())[:10]}"

    owners: collections.Counter = collections.Counter()
    for rid in tokens:
        types = collections.Counter(e.type for e in events[rid])
        assert types["run.started"] == 1 and types["run.resumed"] == 0, (rid, types)
        started = collections.Counter(e.node for e in events[rid] if e.type == "node.started")
        assert started == {node: 1 for node in NODES}, (rid, started)
        (start,) = [e for e in events[rid] if e.type == "run.started"]
        owners[_pid_of(start.data["owner"])] += 1
    firsts = [runs.as_utc(evs[0].at) for evs in events.values()]
    lasts = [runs.as_utc(evs[-1].at) for evs in events.values()]
    starts = sorted(runs.as_utc(e.at) for evs in events.values() for e in evs if e.type == "run.started")
    span = (max(lasts) - starts[0]).total_seconds()
    print(
        f"first run started {(starts[0] - min(firsts)).total_seconds():.1f}s after queueing; "
        f"first start to last event {span:.1f}s: {n / span:.0f} runs/s"
    )
    durs = sorted(
        (runs.as_utc(evs[-1].at) - runs.as_utc([e for e in evs if e.type == "run.started"][0].at)).total_seconds()
        for evs in events.values()
    )
    print(f"run.started -> last event: median {durs[len(durs) // 2]:.3f}s, p90 {durs[len(durs) * 9 // 10]:.3f}s")
    assert set(owners) == {a.pid, b.pid}, owners
    assert min(owners.values()) >= n // 10, f"one worker did almost nothing: {owners}"
    print(f"runs per worker: {dict(owners)}")

    _check_effects_once(fresh_world, tokens)
    assert not fresh_world.repeats  # nothing was retried


def test_kill9_worker_mid_run_survivor_takes_over(setup, effects_flow, fresh_world):
    engine, make_workers = setup
    world = fresh_world
    n = 60
    lease = 2
    tokens = _queue(engine, effects_flow.digest, n)
    workers = make_workers(lease=lease)
    world.hold(lambda r: r.method == "POST")  # every POST is applied and then kept in flight

    # The victim starts alone, claims the queue and has requests held in flight.
    victim = workers.start()
    deadline = time.monotonic() + 60
    while not world.held.wait(timeout=0.2):
        assert time.monotonic() < deadline and victim.poll() is None, f"nothing held\n{workers.output()}"
    time.sleep(0.5)  # let the rest of its first requests arrive
    survivor = workers.start()
    log = workers.logs[1]
    while b"polling" not in log.read_bytes():
        assert time.monotonic() < deadline and survivor.poll() is None, f"survivor not up\n{workers.output()}"
        time.sleep(0.1)

    # Both alive: the victim renews its leases, so the survivor must not take any of its runs.
    time.sleep(2.5 * lease)
    all_runs = _runs(engine)
    victim_runs = {rid for rid, r in all_runs.items() if r.lease_owner and _pid_of(r.lease_owner) == victim.pid}
    events = _events(engine)
    resumed = [e for evs in events.values() for e in evs if e.type == "run.resumed"]
    assert not resumed, f"a run was taken over while its owner was alive: {[(e.run_id, e.data) for e in resumed]}"

    victim.kill()  # kill -9
    victim.wait(timeout=10)
    killed_at = runs.utcnow()
    in_flight = {k.split(":")[0] for k in _keys_of(world.requests)} & victim_runs  # all POSTs are still held
    assert in_flight, f"the victim held no request in flight\n{workers.output()}"
    world._hold = None
    world.release.set()  # the victim's held requests answer a dead socket; the survivor's go on
    elapsed = _wait_all_final(engine, workers, n, timeout=120)
    print(
        f"\nkill -9 with {len(in_flight)} requests in flight, {len(victim_runs)} runs leased by the victim: "
        f"all {n} finished {elapsed:.1f}s later"
    )

    all_runs, events = _runs(engine), _events(engine)
    bad = {rid: (r.status, r.error) for rid, r in all_runs.items() if r.status != runs.SUCCEEDED}
    assert not bad, f"{len(bad)} runs did not succeed, e.g. {list(bad.items())[:3]}\n{workers.output()}"
    assert {rid: r.output["output"]["token"] for rid, r in all_runs.items()} == tokens

    for rid in tokens:
        starts = [e for e in events[rid] if e.type in ("run.started", "run.resumed")]
        pids = [_pid_of(e.data["owner"]) for e in starts]
        assert len(starts) == all_runs[rid].executions, (rid, pids)
        if rid in victim_runs:
            # the victim's execution, then exactly one replay by the survivor after the victim died
            assert pids == [victim.pid, survivor.pid], (rid, pids)
            assert runs.as_utc(starts[1].at) >= killed_at.replace(microsecond=0), (rid, starts[1].at, killed_at)
        else:
            assert pids in ([survivor.pid], [victim.pid]), (rid, pids)
        if rid in in_flight:
            assert pids == [victim.pid, survivor.pid], (rid, pids)

    # side effects: once per run; the in-flight ones came again with the same key and were deduplicated
    _check_effects_once(world, tokens)
    repeats = {k.split(":")[0] for k in world.repeats}
    assert repeats == in_flight, (sorted(repeats), sorted(in_flight))
    assert max(collections.Counter(world.repeats).values()) == 1
