"""Durable-execution figures (issue 7) against a real `wasmflow serve`: approval decision -> next node, many runs
waiting at once (database rows, server RSS), and timer wake-up lateness.

Run: .venv/bin/python bench/durable.py [--quick] [--approvals 50] [--waiting 10000] [--timers 100]
     [--create api|engine] [--keep]

Setup as bench/api.py (whose helpers this reuses): a `wasmflow serve` subprocess on a free port of 127.0.0.1
with a fresh SQLite file under build/bench-durable-<random>/; the two workflows below are compiled once into
build/bench-cache and their artifact rows copied into the fresh database; they are created and deployed over
REST. One WebSocket on /api/ws?all=1, read in a thread, records every event with its arrival time.

1. timers: --timers runs of `start -> wait 2s -> after` started over REST back to back. Lateness of a run =
   the `at` of `after`'s node.started minus the `wake_at` its `run.waiting` event announced (both written by
   the server; same clock). The server's scheduler polls every 0.5 s (ENGINE_POLL_SECONDS).
2. approvals: --approvals runs of `start -> approval -> after` are started and left waiting; then, one at a
   time, t0 = wall clock just before `POST /api/approvals/<key>/approve`; the figure is the `at` of the
   `after` node's node.started minus t0 (and its arrival on the WebSocket minus t0).
3. waiting: server RSS (VmRSS of the serve process) and the rows of every table, before and after --waiting
   more approval runs are left waiting (RSS sampled every quarter). How they are made (--create):
   - clone (default): one real run started over REST and left waiting is the model; its rows (runs, events,
     journal, waits) are copied with fresh run ids, 1,000 runs per SQLite transaction. Executing a run up to
     its approval costs ~0.1 s of CPU here, so 10,000 real ones would take ~20 min on the shared machine;
     copies are the same rows, and approving some of them afterwards shows the server resumes them for real.
   - api: the server starts and executes every run up to its approval (POST .../runs, 8 client threads):
     its RSS then covers executing them, not only holding them.
   - engine: an Engine in this process executes them on the same database (the server only holds them).
   After --settle seconds (the server's live feed reads the new events meanwhile: 70,000 for 10,000 clones),
   RSS and rows are read again, then 20 approvals (of clones when cloning) are timed with all of them waiting.
Prints a table, then one JSON line: {"bench": "durable", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from api import REPORT, Processes, _at, _dist, seed_database  # noqa: E402 - bench/api.py's helpers
from simple_websocket import Client, ConnectionClosed  # noqa: E402

from app.compiler import open_compiler  # noqa: E402
from app.config import Settings  # noqa: E402

APPROVAL = {
    "dsl": "wasmflow/1",
    "name": "bench-approval",
    "title": "Durable bench: approval then one node",
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {"id": "ask", "type": "approval", "config": {"title": "Go {{ input['i'] }}?", "timeout": "7d"}},
        {"id": "after", "type": "transform", "config": {"expression": "ask['approved']"}},
    ],
    "edges": [{"from": "start", "to": "ask"}, {"from": "ask", "to": "after"}],
}
TIMER = {
    "dsl": "wasmflow/1",
    "name": "bench-timer",
    "title": "Durable bench: a 2 s timer then one node",
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {"id": "pause", "type": "wait", "config": {"duration": "2s"}},
        {"id": "after", "type": "transform", "config": {"expression": "'woke'"}},
    ],
    "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "after"}],
}
ENDS = {"run.succeeded", "run.failed", "run.cancelled", "run.needs_attention"}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def table_rows(db_file: Path) -> dict[str, int]:
    con = sqlite3.connect(db_file, timeout=60)
    try:
        names = [
            r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        ]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in sorted(names)}  # noqa: S608
    finally:
        con.close()


def table_max_event(db_file: Path) -> int:
    con = sqlite3.connect(db_file, timeout=60)
    try:
        return con.execute("SELECT max(id) FROM events").fetchone()[0] or 0
    finally:
        con.close()


def waiting_count(db_file: Path, workflow: str) -> int:
    con = sqlite3.connect(db_file, timeout=60)
    try:
        q = "SELECT count(*) FROM runs WHERE workflow_name = ? AND status = 'waiting'"
        return con.execute(q, (workflow,)).fetchone()[0]
    finally:
        con.close()


class Events:
    """Every event of /api/ws?all=1 by run, with its arrival time; waiters wake on each one."""

    def __init__(self, base: str, after: int = 0) -> None:
        self.ws = Client.connect(f"{base.replace('http://', 'ws://')}/api/ws?all=1&after={after}")
        self.cond = threading.Condition()
        self.by_run: dict[str, list[tuple[dict, float]]] = defaultdict(list)
        self.closed: str | None = None
        self._stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                raw = self.ws.receive(timeout=0.5)
            except ConnectionClosed as exc:
                self.closed = f"closed {exc.reason} {exc.message}"
                with self.cond:
                    self.cond.notify_all()
                return
            now = time.time()
            if raw is None:
                continue
            msg = json.loads(raw)
            if msg.get("type", "").startswith("stream."):
                continue
            with self.cond:
                self.by_run[msg["run_id"]].append((msg, now))
                self.cond.notify_all()

    def find(self, run_id: str, pred) -> tuple[dict, float] | None:
        for msg, now in self.by_run.get(run_id, []):
            if pred(msg):
                return msg, now
        return None

    def wait(self, run_id: str, pred, timeout: float = 120) -> tuple[dict, float]:
        with self.cond:
            ok = self.cond.wait_for(lambda: self.find(run_id, pred) or self.closed, timeout=timeout)
            if self.closed:
                raise SystemExit(f"live stream {self.closed}")
            if not ok:
                raise SystemExit(f"run {run_id}: no matching event within {timeout} s")
            return self.find(run_id, pred)

    def close(self) -> None:
        self._stop = True
        self.thread.join(timeout=5)
        self.ws.close()


def node_started(node: str):
    return lambda m: m["type"] == "node.started" and m["node"] == node


def compile_cached(cache: Path) -> dict[str, str]:
    settings = Settings.load(
        cache, database_url=f"sqlite:///{cache / 'wasmflow.db'}", artifacts_dir=cache / "artifacts"
    )
    pool = open_compiler(settings)
    try:
        futures = {d["name"]: pool.submit(d, with_bundle=False) for d in (APPROVAL, TIMER)}
        return {name: f.result().digest for name, f in futures.items()}
    finally:
        pool.shutdown()


def deploy(c: httpx.Client, doc: dict) -> None:
    for method, path, body in (
        ("POST", "/api/workflows", doc),
        ("POST", f"/api/workflows/{doc['name']}/compile", None),
    ):
        r = c.request(method, path, json=body)
        if r.status_code >= 300:
            raise SystemExit(f"{path}: {r.status_code} {r.text}")
    r = c.post(f"/api/workflows/{doc['name']}/deploy", json={"digest": r.json()["digest"]})
    if r.status_code != 200:
        raise SystemExit(f"deploy: {r.status_code} {r.text}")


def start(c: httpx.Client, name: str, i: int) -> str:
    r = c.post(f"/api/workflows/{name}/runs", json={"input": {"i": i}})
    if r.status_code != 202:
        raise SystemExit(f"start {name}: {r.status_code} {r.text}")
    return r.json()["run_id"]


# -- 1. timers -----------------------------------------------------------------------------------------------


def bench_timers(c: httpx.Client, ev: Events, n: int) -> dict:
    ids = [start(c, TIMER["name"], i) for i in range(n)]
    late = []
    for rid in ids:
        waiting, _ = ev.wait(rid, lambda m: m["type"] == "run.waiting")
        woke, _ = ev.wait(rid, node_started("after"), timeout=120)
        late.append(_at(woke["at"]) - _at(waiting["data"]["wake_at"]))
        ev.wait(rid, lambda m: m["type"] in ENDS)
    out = _dist(late)
    out["min_ms"] = round(min(late) * 1000, 2)
    REPORT.add(
        f"timer wake-up lateness p50 / p99 ({n} runs, 2 s timers)",
        f"{out['p50_ms']} / {out['p99_ms']} ms",
        f"max {out['max_ms']} ms, min {out['min_ms']} ms; scheduler tick 0.5 s",
    )
    return out


# -- 2. approvals ---------------------------------------------------------------------------------------------


def start_waiting(c: httpx.Client, ev: Events, n: int, offset: int = 0) -> list[str]:
    ids = [start(c, APPROVAL["name"], offset + i) for i in range(n)]
    for rid in ids:
        ev.wait(rid, lambda m: m["type"] == "run.waiting")
    return ids


def bench_approvals(c: httpx.Client, ev: Events, ids: list[str], label: str) -> dict:
    to_start, to_arrive, answered = [], [], []
    for rid in ids:
        key = c.get("/api/approvals", params={"run_id": rid}).json()["approvals"][0]["id"]
        t0 = time.time()
        r = c.post(f"/api/approvals/{key}/approve", json={"by": "bench", "reason": "go"})
        answered.append(time.time() - t0)
        if r.status_code != 200:
            raise SystemExit(f"approve: {r.status_code} {r.text}")
        msg, arrived = ev.wait(rid, node_started("after"))
        to_start.append(_at(msg["at"]) - t0)
        to_arrive.append(arrived - t0)
        end, _ = ev.wait(rid, lambda m: m["type"] in ENDS)
        if end["type"] != "run.succeeded":
            raise SystemExit(f"approved run {rid} ended {end['type']}: {end.get('data')}")
    out = {"to_node_started": _dist(to_start), "to_event_arrival": _dist(to_arrive), "answered": _dist(answered)}
    s, a, d = out["to_node_started"], out["to_event_arrival"], out["answered"]
    REPORT.add(
        f"approve -> next node started p50 / p99 ({label})",
        f"{s['p50_ms']} / {s['p99_ms']} ms",
        f"the approve call answered: p50 {d['p50_ms']} ms; the event on the WebSocket: p50 {a['p50_ms']} ms",
    )
    return out


# -- 3. many waiting runs ----------------------------------------------------------------------------------------


def create_api(base: str, n: int, offset: int, samples: list, pid: int) -> None:
    quarter = max(1, n // 4)
    done = [0]
    lock = threading.Lock()

    def one(i: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as cc:  # one connection per call keeps threads independent
            start(cc, APPROVAL["name"], offset + i)
        with lock:
            done[0] += 1
            if done[0] % quarter == 0:
                samples.append((done[0], round(rss_mb(pid), 1)))
                print(f"    {done[0]:,} started, server RSS {samples[-1][1]} MB", flush=True)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(n)))


def create_engine(settings: Settings, digest: str, n: int, offset: int, samples: list, pid: int) -> None:
    from app.engine.engine import Engine

    engine = Engine(settings, poll=False, run_concurrency=8)
    quarter = max(1, n // 4)
    try:
        for i in range(n):
            engine.start_run(digest, {"i": offset + i}, workflow_name=APPROVAL["name"])
            while len(engine._active) >= 64:  # noqa: SLF001 - keep the pool's queue short
                time.sleep(0.005)
            if (i + 1) % quarter == 0:
                samples.append((i + 1, round(rss_mb(pid), 1)))
                print(f"    {i + 1:,} started, server RSS {samples[-1][1]} MB", flush=True)
        engine.wait_idle(timeout=3600)
    finally:
        engine.close()


def create_clones(db_file: Path, template: str, n: int, samples: list, pid: int) -> list[str]:
    """``n`` copies of the waiting run ``template``: its rows in runs, events, journal and waits with a new run
    id (wherever the id appears, e.g. the approval key ``run_id:seq``), 1,000 runs per transaction."""
    from app.engine.runs import new_run_id

    con = sqlite3.connect(db_file, timeout=60)
    tables = {"runs": "id", "events": "run_id", "journal": "run_id", "waits": "run_id"}
    rows: dict[str, tuple[list[str], list[tuple]]] = {}
    for table, col in tables.items():
        cur = con.execute(f'SELECT * FROM "{table}" WHERE "{col}" = ?', (template,))  # noqa: S608
        names = [d[0] for d in cur.description]
        keep = [i for i, name in enumerate(names) if not (table == "events" and name == "id")]  # autoincrement
        rows[table] = ([names[i] for i in keep], [tuple(r[i] for i in keep) for r in cur.fetchall()])
    ids: list[str] = []
    quarter = max(1, n // 4)
    try:
        for chunk_start in range(0, n, 1000):
            chunk = [new_run_id() for _ in range(min(1000, n - chunk_start))]
            with con:
                for table, (names, template_rows) in rows.items():
                    sql = f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({", ".join("?" * len(names))})'  # noqa: S608
                    con.executemany(
                        sql,
                        [
                            tuple(v.replace(template, rid) if isinstance(v, str) else v for v in row)
                            for rid in chunk
                            for row in template_rows
                        ],
                    )
            ids.extend(chunk)
            if len(ids) // quarter > (len(ids) - len(chunk)) // quarter:
                samples.append((len(ids), round(rss_mb(pid), 1)))
                print(f"    {len(ids):,} cloned, server RSS {samples[-1][1]} MB", flush=True)
    finally:
        con.close()
    return ids


def bench_waiting(args, procs: Processes, db_file: Path, settings: Settings, digest: str, template: str) -> dict:
    pid = procs.server.pid
    before_rows = table_rows(db_file)
    rss_before = rss_mb(pid)
    samples: list[tuple[int, float]] = [(0, round(rss_before, 1))]
    already = waiting_count(db_file, APPROVAL["name"])
    t = time.perf_counter()
    clones: list[str] = []
    if args.create == "api":
        create_api(procs.base, args.waiting, 10_000_000, samples, pid)
    elif args.create == "engine":
        create_engine(settings, digest, args.waiting, 10_000_000, samples, pid)
    else:
        clones = create_clones(db_file, template, args.waiting, samples, pid)
    while waiting_count(db_file, APPROVAL["name"]) < already + args.waiting:
        time.sleep(0.5)
    seconds = time.perf_counter() - t
    time.sleep(args.settle)  # scheduler ticks with all of them waiting; the live feed reads the new events
    rss_after = rss_mb(pid)
    after_rows = table_rows(db_file)
    added = {k: after_rows[k] - before_rows.get(k, 0) for k in after_rows if after_rows[k] != before_rows.get(k, 0)}
    per_run = {k: round(v / args.waiting, 2) for k, v in added.items()}
    size_mb = (db_file.stat().st_size + sum(p.stat().st_size for p in db_file.parent.glob(db_file.name + "-wal"))) / 1e6
    out = {
        "runs": args.waiting,
        "create": args.create,
        "create_seconds": round(seconds, 1),
        "runs_per_s": round(args.waiting / seconds, 1),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_after, 1),
        "rss_samples": samples + [(args.waiting, round(rss_after, 1))],
        "rows_added": added,
        "rows_per_run": per_run,
        "database_mb": round(size_mb, 1),
        "clones": clones,
    }
    REPORT.add(
        f"{args.waiting:,} runs left waiting (created via {args.create})",
        f"{out['create_seconds']} s",
        f"{out['runs_per_s']} runs/s",
    )
    REPORT.add(
        "server RSS before -> after",
        f"{out['rss_before_mb']} -> {out['rss_after_mb']} MB",
        "samples " + ", ".join(f"{k:,}: {v}" for k, v in out["rss_samples"]),
    )
    REPORT.add("rows added per waiting run", json.dumps(per_run), f"database now {out['database_mb']} MB")
    return out


def bench(args) -> dict:
    cache = ROOT / "build" / "bench-cache"
    cache.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    digests = compile_cached(cache)
    print(f"compiled/cached both workflows in {time.perf_counter() - t:.1f} s", flush=True)
    work = ROOT / "build" / f"bench-durable-{secrets.token_hex(4)}"
    instance = work / "instance"
    instance.mkdir(parents=True)
    db_file = work / "wasmflow.db"
    url = f"sqlite:///{db_file}"
    for d in digests.values():
        seed_database(url, cache, d)
    env = {**os.environ, "WASMFLOW_DATABASE_URL": url, "WASMFLOW_ARTIFACTS_DIR": str(cache / "artifacts")}
    settings = Settings.load(instance, database_url=url, artifacts_dir=cache / "artifacts")
    procs = Processes(instance, env)
    result: dict = {"bench": "durable", "quick": args.quick}
    try:
        base = procs.start_server()
        with httpx.Client(base_url=base, timeout=120) as c:
            deploy(c, APPROVAL)
            deploy(c, TIMER)
            ev = Events(base)
            try:
                result["timers"] = bench_timers(c, ev, args.timers)
                ids = start_waiting(c, ev, args.approvals + 1)
                template = ids.pop()  # stays waiting: the model of --create clone
                result["approvals"] = bench_approvals(c, ev, ids, f"{args.approvals} runs, few waiting")
                if args.waiting:
                    ev.close()  # the clones' events would flood an all=1 subscriber: reopen after them
                    result["waiting"] = bench_waiting(
                        args, procs, db_file, settings, digests[APPROVAL["name"]], template
                    )
                    ev = Events(base, after=table_max_event(db_file))
                    clones = result["waiting"].pop("clones")
                    ids = clones[:: max(1, len(clones) // 20)][:20] or start_waiting(c, ev, 20, offset=20_000_000)
                    what = "cloned runs" if clones else "runs"
                    result["approvals_with_many_waiting"] = bench_approvals(
                        c, ev, ids, f"20 {what}, {args.waiting:,} waiting"
                    )
            finally:
                ev.close()
    finally:
        procs.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes: 10 approvals, 500 waiting, 20 timers")
    p.add_argument("--approvals", type=int, default=50)
    p.add_argument("--waiting", type=int, default=10_000)
    p.add_argument("--timers", type=int, default=100)
    p.add_argument(
        "--create",
        choices=("clone", "api", "engine"),
        default="clone",
        help="how the waiting runs are made: copies of a real waiting run's rows (default), the API, an Engine here",
    )
    p.add_argument("--settle", type=float, default=10.0, help="seconds to let the server settle after creating")
    p.add_argument("--keep", action="store_true", help="keep build/bench-durable-*/ (database, serve.log)")
    args = p.parse_args()
    if args.quick:
        args.approvals, args.waiting, args.timers = 10, 500, 20
    result = bench(args)
    REPORT.table()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
