"""One seeded fault-injection trial, for tests/chaos/test_chaos.py and bench/chaos.py.

A trial: a fresh database (SQLite file, or a PostgreSQL schema), the two workflows of this folder deployed,
one ``wasmflow serve`` and one or two ``wasmflow worker`` processes, the external API (extapi.py) in this
process (its counts survive every kill). The seed's runs are delivered to the webhook (with ``X-Delivery-Id``,
so a delivery retried across a dead server creates one run); pending approvals are approved over the API;
processes are killed with -9 at seeded times and whenever the API applies a seeded n-th effect (then the
owner of the calling run dies between applying and answering), and restarted after a seeded delay. When
every run has settled (or ``settle_seconds`` passed) checks.judge gives the verdict.

Replay a trial with the command in ``TrialResult.replay`` (the seed decides everything but timing).
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from app.compiler.artifacts import ArtifactStore
from app.engine import workflows
from app.store.db import Database
from app.store.models import Artifact, Event, KvEntry, Run
from chaos.checks import EXACTLY_ONCE, Snapshot, Verdict, judge
from chaos.extapi import Application, ExtApi
from chaos.fleet import Fleet, StreamWatch, run_history
from chaos.plans import TrialPlan, make_plan

HERE = Path(__file__).resolve().parent
WORKFLOWS = ("chaos-notify", "chaos-order")  # the child first: chaos-order's subflow names it
DELIVERY_SPACING = 0.3  # seconds between the deliveries of a trial


def documents() -> dict[str, dict]:
    return {name: json.loads((HERE / f"{name}.json").read_text()) for name in WORKFLOWS}


@dataclass(frozen=True)
class Toolchain:
    """The compiled workflows: digests and the store holding their files and rows."""

    digests: dict[str, str]
    store: ArtifactStore


def compile_workflows(compiler) -> Toolchain:
    """Compile (or find in the cache) both documents and their native form, once per session."""
    futures = {n: compiler.submit(doc, with_bundle=False) for n, doc in documents().items()}
    digests = {n: f.result().digest for n, f in futures.items()}
    for d in digests.values():
        compiler.store.precompiled_path(d)  # ~10 s of Cranelift each, done here instead of in every process
    return Toolchain(digests, compiler.store)


@dataclass
class TrialResult:
    seed: int
    db: str
    plan: TrialPlan
    verdict: Verdict
    figures: dict[str, Any]
    workdir: Path
    replay: str
    log_tails: str = ""  # the kill log
    calls: dict[str, dict] = field(default_factory=dict)  # business key -> {applied, requests: [...]}
    run_of: dict[int, dict] = field(default_factory=dict)  # delivery -> {id, status, error}

    def problems(self, categories=None) -> list[str]:
        return self.verdict.failing(categories) if categories else self.verdict.failing()

    def report(self, categories=None) -> str:
        probs = self.problems(categories)
        head = f"chaos trial seed={self.seed} db={self.db}: {len(probs)} problem(s); replay: {self.replay}"
        figs = json.dumps(self.figures, default=str)
        return "\n".join([head, f"figures: {figs}", *probs[:40], f"logs: {self.workdir}"])


def replay_command(seed: int, db: str, runs: int) -> str:
    bench = f".venv/bin/python bench/chaos.py --seed {seed} --db {db} --runs {runs}"
    pytest = f"WASMFLOW_CHAOS_SEEDS={seed} .venv/bin/python -m pytest tests/chaos/test_chaos.py -k {db}-seed{seed}"
    return f"{bench}   (or: {pytest})"


class _Trial:
    def __init__(self, plan: TrialPlan, *, toolchain: Toolchain, workdir: Path, database_url: str) -> None:
        self.plan = plan
        self.toolchain = toolchain
        self.workdir = workdir
        self.database_url = database_url
        self.db = Database(database_url)
        self.fleet = Fleet(workdir, database_url=database_url, artifacts=toolchain.store.root, names=plan.processes())
        self.api = ExtApi(replay_errors=plan.replay_errors, on_apply=self._on_apply)
        self.rng = random.Random(plan.seed * 7919 + 1)  # fallback victims, apart from the plan's own draws
        self.applied_n = 0
        self.kill_log: list[str] = []
        self.restart_at: dict[str, float] = {}
        self._delays = list(plan.restart_delays)
        self._lock = threading.Lock()
        self.t0 = time.monotonic()

    # -- setup ---------------------------------------------------------------------------------------------

    def prepare(self) -> str:
        """Schema, artifact rows, both workflows deployed; returns chaos-order's webhook token."""
        self.db.upgrade()
        src = self.toolchain.store.db
        with src.session() as s, self.db.session() as d:
            for digest in self.toolchain.digests.values():
                row = s.get(Artifact, digest)
                d.add(Artifact(**{c.name: getattr(row, c.name) for c in Artifact.__table__.columns}))
        store = ArtifactStore(self.toolchain.store.root, self.db)
        token = None
        for name, doc in documents().items():
            workflows.import_workflow(self.db, doc, overwrite=True)
            out = workflows.deploy(self.db, store, name, self.toolchain.digests[name])
            token = out["webhook_token"] or token
        assert token, "chaos-order has no webhook token"
        return token

    # -- kills ---------------------------------------------------------------------------------------------

    def _on_apply(self, app: Application) -> None:
        with self._lock:
            self.applied_n += 1
            n = self.applied_n
        if n not in self.plan.apply_kills:
            return
        victim = self._owner_of(app.idempotency_key) or self.rng.choice(self.plan.processes())
        self._kill(victim, f"when the API applied effect #{n} ({app.business_key}, key {app.idempotency_key})")

    def _owner_of(self, key: str | None) -> str | None:
        """The process executing the run that sent ``key`` (``run_id:seq``), if it is one of ours."""
        if not key or ":" not in key:
            return None
        with self.db.session() as s:
            owner = s.execute(sa.select(Run.lease_owner).where(Run.id == key.split(":")[0])).scalar()
        try:
            return self.fleet.name_of_pid(int(owner.split(":")[1])) if owner else None
        except (IndexError, ValueError):
            return None

    def _kill(self, name: str, why: str) -> None:
        if self.fleet.kill(name):
            delay = self._delays.pop(0) if self._delays else 1.0
            with self._lock:
                self.restart_at[name] = time.monotonic() + delay
            self.kill_log.append(f"{time.monotonic() - self.t0:6.2f}s kill -9 {name} {why}; restart in {delay}s")

    def _restart_due(self, *, all_now: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            due = [n for n, at in self.restart_at.items() if all_now or at <= now]
            for n in due:
                del self.restart_at[n]
        for n in due:
            if not self.fleet.alive(n):
                self.fleet.start(n)

    # -- the trial -----------------------------------------------------------------------------------------

    def run(self, settle_seconds: float) -> tuple[dict[int, str], Snapshot, str]:
        token = self.prepare()
        self.api.start()
        self.fleet.start_all()
        self.fleet.wait_healthy()
        watch = StreamWatch(self.fleet)
        watch.start()
        deliveries: dict[int, str] = {}
        timed = list(self.plan.timed_kills)
        self.t0 = start = time.monotonic()
        deadline = start + settle_seconds
        stuck = ""
        while True:
            now = time.monotonic()
            for i in range(len(self.plan.runs)):
                if i not in deliveries and now - start >= i * DELIVERY_SPACING:
                    rid = self._deliver(token, i)
                    if rid:
                        deliveries[i] = rid
            while timed and now - start >= timed[0][0]:
                at, name = timed.pop(0)
                self._kill(name, f"at +{at}s")
            for name in self.fleet.dead_on_their_own():
                self.kill_log.append(f"{now - start:6.2f}s {name} died on its own; restarting")
                self.restart_at[name] = now
            self._restart_due()
            self._approve_pending()
            if len(deliveries) == len(self.plan.runs) and self._all_settled():
                break
            if now > deadline:
                stuck = f"not settled after {settle_seconds:.0f} s"
                break
            time.sleep(0.2)
        self._restart_due(all_now=True)
        base = self.fleet.wait_healthy()
        snap = self._snapshot(base, watch)
        return deliveries, snap, stuck

    def _deliver(self, token: str, i: int) -> str | None:
        base = self.fleet.base()
        if base is None:
            return None
        body = self.plan.runs[i].body(self.api.url)
        headers = {"X-Delivery-Id": f"chaos-{self.plan.seed}-{i}"}
        try:
            r = httpx.post(f"{base}/hooks/{token}", json=body, headers=headers, timeout=10)
        except httpx.HTTPError:
            return None  # the server was killed meanwhile: deliver again (the delivery id makes it one run)
        return r.json()["run_id"] if r.status_code == 202 else None

    def _approve_pending(self) -> None:
        base = self.fleet.base()
        if base is None:
            return
        try:
            pending = httpx.get(f"{base}/api/approvals", timeout=5).json()["approvals"]
            for a in pending:
                httpx.post(
                    f"{base}/api/approvals/{a['id']}/approve",
                    json={"by": "chaos-driver", "reason": f"seed {self.plan.seed}"},
                    timeout=5,
                )
        except (httpx.HTTPError, ValueError, KeyError):
            pass  # killed meanwhile, or the server is starting: next tick

    def _all_settled(self) -> bool:
        with self.db.session() as s:
            open_ = s.execute(
                sa.select(sa.func.count())
                .select_from(Run)
                .where(Run.status.not_in(("succeeded", "failed", "needs_attention", "cancelled")))
            ).scalar()
        return open_ == 0

    def _snapshot(self, base: str, watch: StreamWatch) -> Snapshot:
        with self.db.session() as s:
            runs = {
                r.id: {
                    "workflow": r.workflow_name,
                    "status": r.status,
                    "error": r.error,
                    "output": r.output,
                    "parent": r.parent_run_id,
                }
                for r in s.execute(sa.select(Run)).scalars()
            }
            events: dict[str, list] = {rid: [] for rid in runs}
            for eid, rid, seq, type_ in s.execute(
                sa.select(Event.id, Event.run_id, Event.seq, Event.type).order_by(Event.run_id, Event.seq)
            ):
                events.setdefault(rid, []).append((eid, seq, type_))
            kv = {
                (k.workflow_name, k.key): k.value
                for k in s.execute(sa.select(KvEntry).where(KvEntry.namespace == "chaos")).scalars()
            }
        want = {eid for evs in events.values() for eid, _, _ in evs}
        end = time.monotonic() + 20
        while time.monotonic() < end and not want <= set(watch.ids):
            time.sleep(0.2)  # the live stream catches up (the feed polls every 150 ms)
        watch.stop()
        histories = {rid: run_history(base, rid) for rid in runs}
        return Snapshot(runs, events, kv, list(watch.ids), histories, connects=watch.connects)

    def close(self) -> None:
        self.fleet.stop()
        self.api.stop()
        self.db.dispose()


def run_trial(
    seed: int,
    *,
    toolchain: Toolchain,
    workdir: Path,
    db: str = "sqlite",
    postgres_url: str | None = None,
    runs: int = 6,
    workers: int | None = None,
    kills: int | None = None,
    replay_errors: bool | None = None,
    settle_seconds: float = 120,
    plan: TrialPlan | None = None,
    keep: bool = False,
) -> TrialResult:
    """Run one trial and judge it; never raises for what it finds (see ``TrialResult.problems``)."""
    plan = plan or make_plan(seed, runs=runs, workers=workers, kills=kills, replay_errors=replay_errors)
    shutil.rmtree(workdir, ignore_errors=True)  # a trial starts from nothing (a replay reuses the folder name)
    workdir.mkdir(parents=True)
    url, drop = _database(db, workdir, postgres_url)
    began = time.monotonic()
    trial = _Trial(plan, toolchain=toolchain, workdir=workdir, database_url=url)
    try:
        deliveries, snap, stuck = trial.run(settle_seconds)
        verdict = judge(plan, deliveries, snap, trial.api, kills=trial.fleet.kills)
        if stuck:
            verdict.add("liveness", stuck)
        for crash in trial.fleet.crashed:
            verdict.add("liveness", f"a process died on its own: {crash}")
    finally:
        trial.close()
        drop()
    figures = {
        "seed": seed,
        "db": db,
        "workers": plan.workers,
        "replay_errors": plan.replay_errors,
        "kills": trial.fleet.kills,
        "process_starts": trial.fleet.starts,
        "deliveries": len(deliveries),
        **verdict.figures,
        "stream_connects": snap.connects,
        "wall_seconds": round(time.monotonic() - began, 1),
    }
    result = TrialResult(seed, db, plan, verdict, figures, workdir, replay_command(seed, db, len(plan.runs)))
    result.log_tails = "\n".join(trial.kill_log)
    result.calls = _calls(trial.api)
    result.run_of = {
        i: {"id": rid, **{k: snap.runs.get(rid, {}).get(k) for k in ("status", "error")}}
        for i, rid in deliveries.items()
    }
    if not keep and not result.problems():
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _calls(api: ExtApi) -> dict[str, dict]:
    """What the API saw per business key: applications and each request (key, mode, outcome, status)."""
    out: dict[str, dict] = {}
    applied = api.applied()
    for seen in api.seen:
        if seen.business_key is None:
            continue
        entry = out.setdefault(seen.business_key, {"applied": applied[seen.business_key], "requests": []})
        entry["requests"].append((seen.idempotency_key, seen.mode, seen.outcome, seen.status))
    return out


def _database(kind: str, workdir: Path, postgres_url: str | None):
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'wasmflow.db'}", lambda: None
    assert postgres_url, "db=postgres needs a PostgreSQL URL (WASMFLOW_TEST_POSTGRES_URL)"
    schema = f"chaos_{uuid.uuid4().hex[:12]}"
    eng = sa.create_engine(postgres_url)
    with eng.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with eng.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        eng.dispose()

    sep = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    return url, drop


def exactly_once_problems(result: TrialResult) -> list[str]:
    return result.problems(EXACTLY_ONCE)
