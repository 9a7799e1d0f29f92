"""API figures against a real `wasmflow serve`: webhook-to-completion latency, live-event (WebSocket) latency,
and webhook runs/s with one server and with server + `wasmflow worker` processes.

Run: .venv/bin/python bench/api.py [--quick] [--deliveries 200] [--threads 8] [--per-thread 100] [--workers 2]

A `wasmflow serve` subprocess listens on a free port on 127.0.0.1 (instance folder and SQLite file under
build/bench-api-<random>/, removed at the end unless --keep). The three-step webhook workflow below
(trigger.webhook respond "immediately" -> transform -> transform) is compiled once into the artifact cache
build/bench-cache (WASMFLOW_ARTIFACTS_DIR; ~15 s the first time, then a cache hit) and its artifact row is
copied into the fresh database, so the REST calls that create, compile and deploy it are cache hits.

1. latency: --deliveries sequential webhook POSTs (each with a unique X-Delivery-Id). t0 is taken before the
   POST; completion is the arrival of the run's `run.succeeded` event on ONE WebSocket subscribed to
   `/api/ws?workflow=<name>`. Same machine, same clock.
2. live events: for every `node.finished` event, receive time minus the event's own `at` (the timestamp the
   committing transaction wrote).
3. throughput: --threads client threads each POST --per-thread deliveries back to back; the wall time runs
   from the first POST until the WebSocket has seen `run.succeeded` for every run. Once with the server
   alone, then with --workers `wasmflow worker` processes on the same database; which process executed
   each run is read from the `owner` in its `run.started` event.
Afterwards the database is checked: one run per delivery, all succeeded, every event delivered once.
A full run takes about 50 s on the 2-core machine. The machine is shared and noisy: figures are medians and p99
of what one run saw.
Prints a table, then one JSON line: {"bench": "api", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from simple_websocket import Client, ConnectionClosed  # noqa: E402

from app.compiler import open_compiler  # noqa: E402
from app.config import Settings  # noqa: E402
from app.store.db import Database  # noqa: E402
from app.store.models import Artifact  # noqa: E402

N8N_RUNS_PER_S = 220  # n8n's published single-instance figure on 2 vCPUs (single webhook workflow)
HOST = "127.0.0.1"
WORKFLOW = {
    "dsl": "wasmflow/1",
    "name": "bench-api-three",
    "title": "API bench: webhook -> transform -> transform",
    "nodes": [
        {"id": "hook", "type": "trigger.webhook", "config": {"method": "POST", "respond": "immediately"}},
        {
            "id": "shape",
            "type": "transform",
            "config": {"expression": "{'id': input['body']['i'], 'total': input['body']['i'] * 2}"},
        },
        {
            "id": "label",
            "type": "transform",
            "config": {"code": "return {'label': 'order-' + str(shape['id']), 'big': shape['total'] > 10}"},
        },
    ],
    "edges": [{"from": "hook", "to": "shape"}, {"from": "shape", "to": "label"}],
}
NAME = WORKFLOW["name"]
ENDS = {"run.succeeded", "run.failed", "run.cancelled", "run.needs_attention"}

# -- helpers ----------------------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _dist(seconds: list[float]) -> dict:
    if not seconds:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "n": len(seconds),
        "p50_ms": round(statistics.median(seconds) * 1000, 2),
        "p99_ms": round(_pct(seconds, 0.99) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class Rows:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, what: str, value, note: str = "") -> None:
        self.rows.append((what, str(value), note))
        print(f"  {what}: {value}" + (f"  ({note})" if note else ""), flush=True)

    def table(self) -> None:
        w = max(len(r[0]) for r in self.rows)
        v = max(len(r[1]) for r in self.rows)
        print()
        print(f"{'figure':<{w}}  {'value':>{v}}  note")
        for what, value, note in self.rows:
            print(f"{what:<{w}}  {value:>{v}}  {note}")


REPORT = Rows()

# -- the world: artifact cache, server, workers, live stream -----------------------------------------------------


def compile_cached(cache: Path) -> tuple[str, float]:
    settings = Settings.load(
        cache, database_url=f"sqlite:///{cache / 'wasmflow.db'}", artifacts_dir=cache / "artifacts"
    )
    pool = open_compiler(settings)
    t = time.perf_counter()
    result = pool.compile(WORKFLOW, with_bundle=False)
    pool.shutdown()
    return result.digest, time.perf_counter() - t


def seed_database(url: str, cache: Path, digest: str) -> None:
    """A fresh database with the cached artifact's row (its files are shared through WASMFLOW_ARTIFACTS_DIR)."""
    db = Database(url)
    db.upgrade()
    src = Database(f"sqlite:///{cache / 'wasmflow.db'}")
    with src.session() as s, db.session() as d:
        row = s.get(Artifact, digest)
        d.add(Artifact(**{c.name: getattr(row, c.name) for c in Artifact.__table__.columns}))
    src.dispose()
    db.dispose()


class Processes:
    """The `wasmflow serve` subprocess and any `wasmflow worker` subprocesses (ended by pid, SIGINT then kill)."""

    def __init__(self, instance: Path, env: dict) -> None:
        self.instance = instance
        self.env = env
        self.exe = str(Path(sys.executable).parent / "wasmflow")
        self.server: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.worker_owners: list[str] = []
        self.base = ""

    def start_server(self) -> str:
        port = _free_port()
        log = open(self.instance.parent / "serve.log", "w")  # noqa: SIM115 - lives as long as the process
        self.server = subprocess.Popen(
            [self.exe, "--instance", str(self.instance), "serve", "--host", HOST, "--port", str(port)],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://{HOST}:{port}"
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.server.poll() is not None:
                raise SystemExit(f"wasmflow serve exited: see {self.instance.parent / 'serve.log'}")
            try:
                if httpx.get(f"{self.base}/api/workflows", timeout=2).status_code == 200:
                    return self.base
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise SystemExit("wasmflow serve did not answer within 60 s")

    def start_workers(self, count: int) -> None:
        for _ in range(count):
            p = subprocess.Popen(
                [self.exe, "--instance", str(self.instance), "worker", "--concurrency", "8"],
                env=self.env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.workers.append(p)
        for p in self.workers[-count:]:
            line = p.stderr.readline()
            if "polling" not in line:
                raise SystemExit(f"worker did not start: {line!r}")
            self.worker_owners.append(line.split()[1])  # "worker <owner> polling <db>"

    def roles(self) -> dict[int, str]:
        """pid -> role of every process that takes part, this bench client included."""
        out = {os.getpid(): "bench client", self.server.pid: "server"}
        out.update({p.pid: "workers" for p in self.workers})
        return out

    def stop_workers(self) -> None:
        _stop(self.workers)
        self.workers = []

    def close(self) -> None:
        self.stop_workers()
        if self.server is not None:
            _stop([self.server])


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT if p.args[3] == "serve" else signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class LiveStream:
    """One WebSocket on /api/ws?workflow=<name>, read in a thread; every message is stamped on arrival."""

    def __init__(self, base: str) -> None:
        self.ws = Client.connect(f"{base.replace('http://', 'ws://')}/api/ws?workflow={NAME}")
        first = json.loads(self.ws.receive(timeout=10))
        if first.get("type") != "stream.live":
            raise SystemExit(f"live stream: unexpected first message {first}")
        self.cond = threading.Condition()
        self.ended: dict[str, tuple[str, float]] = {}  # run_id -> (end event type, receive time)
        self.owner: dict[str, str] = {}  # run_id -> owner in run.started
        self.node_lag: list[tuple[str, float]] = []  # (run_id, receive time - at) of node.finished
        self.ids: list[int] = []
        self.other: list[dict] = []
        self.closed: str | None = None
        self._stop = False
        self.thread = threading.Thread(target=self._read, name="ws-reader", daemon=True)
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
            kind = msg.get("type", "")
            if kind.startswith("stream."):
                self.other.append(msg)
                continue
            self.ids.append(msg["id"])
            rid = msg["run_id"]
            if kind == "node.finished":
                self.node_lag.append((rid, now - _at(msg["at"])))
            elif kind in ("run.started", "run.resumed"):
                self.owner.setdefault(rid, (msg.get("data") or {}).get("owner") or "?")
            elif kind in ENDS:
                with self.cond:
                    self.ended[rid] = (kind, now)
                    self.cond.notify_all()

    def wait_end(self, run_id: str, timeout: float = 60) -> tuple[str, float]:
        with self.cond:
            if not self.cond.wait_for(lambda: run_id in self.ended or self.closed, timeout=timeout):
                raise SystemExit(f"run {run_id}: no end event within {timeout} s")
            if self.closed:
                raise SystemExit(f"live stream {self.closed}")
            return self.ended[run_id]

    def wait_all(self, run_ids: list[str], timeout: float) -> float:
        """Wait until every run has its end event; returns the receive time of the last one."""
        with self.cond:
            ok = self.cond.wait_for(lambda: all(r in self.ended for r in run_ids) or self.closed, timeout=timeout)
            if self.closed:
                raise SystemExit(f"live stream {self.closed}")
            if not ok:
                missing = [r for r in run_ids if r not in self.ended]
                raise SystemExit(f"{len(missing)} runs without an end event after {timeout} s, e.g. {missing[:3]}")
            return max(self.ended[r][1] for r in run_ids)

    def close(self) -> None:
        self._stop = True
        self.thread.join(timeout=5)
        self.ws.close()


# -- the REST setup ------------------------------------------------------------------------------------------


def create_and_deploy(base: str) -> tuple[str, dict]:
    with httpx.Client(base_url=base, timeout=120) as c:
        t = time.perf_counter()
        r = c.post("/api/workflows", json=WORKFLOW)
        if r.status_code != 201:
            raise SystemExit(f"create: {r.status_code} {r.text}")
        r = c.post(f"/api/workflows/{NAME}/compile")
        if r.status_code != 200:
            raise SystemExit(f"compile: {r.status_code} {r.text}")
        compiled = r.json()
        r = c.post(f"/api/workflows/{NAME}/deploy", json={"digest": compiled["digest"]})
        if r.status_code != 200:
            raise SystemExit(f"deploy: {r.status_code} {r.text}")
        dep = r.json()
        setup_s = time.perf_counter() - t
    url = dep["webhook_url"] or ""
    token = url.rstrip("/").rsplit("/", 1)[-1]
    return f"/hooks/{token}", {
        "digest": compiled["digest"],
        "compile_cache_hit": compiled.get("cache_hit"),
        "version": dep.get("version"),
        "create_compile_deploy_s": round(setup_s, 3),
    }


class Poster:
    """Webhook deliveries with unique X-Delivery-Id headers over one keep-alive connection."""

    counter = 0
    lock = threading.Lock()
    accepted: list[str] = []  # every run id answered with 202, for the final database check

    def __init__(self, base: str, hook: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=60)
        self.hook = hook
        self.post_s: list[float] = []
        self.errors: list[str] = []

    def deliver(self, i: int) -> str | None:
        with Poster.lock:
            Poster.counter += 1
            delivery = f"d-{Poster.counter}-{secrets.token_hex(4)}"
        t = time.perf_counter()
        r = self.client.post(self.hook, json={"i": i}, headers={"X-Delivery-Id": delivery})
        self.post_s.append(time.perf_counter() - t)
        if r.status_code != 202:
            self.errors.append(f"{r.status_code} {r.text[:200]}")
            return None
        body = r.json()
        if body.get("duplicate"):
            self.errors.append(f"unexpected duplicate: {body}")
        with Poster.lock:
            Poster.accepted.append(body["run_id"])
        return body["run_id"]

    def close(self) -> None:
        self.client.close()


# -- the sections ---------------------------------------------------------------------------------------------


def bench_baseline(base: str, n: int = 100) -> dict:
    """The HTTP stack alone: a POST to an unknown webhook token (404 after one database read)."""
    times = []
    with httpx.Client(base_url=base, timeout=60) as c:
        for i in range(n + 10):
            t = time.perf_counter()
            r = c.post("/hooks/no-such-token", json={"i": i})
            if i >= 10:
                times.append(time.perf_counter() - t)
            if r.status_code != 404:
                raise SystemExit(f"unknown token: {r.status_code} {r.text}")
    d = _dist(times)
    REPORT.add(
        f"baseline: POST to an unknown webhook token -> 404, p50 / p99 ({n})",
        f"{d['p50_ms']} / {d['p99_ms']} ms",
        "HTTP stack + one read",
    )
    return d


def bench_latency(base: str, hook: str, live: LiveStream, n: int) -> dict:
    poster = Poster(base, hook)
    for i in range(10):  # warm: component load, first instances, connection
        rid = poster.deliver(i)
        if rid:
            live.wait_end(rid)
    lag0 = len(live.node_lag)
    poster.post_s.clear()
    total: list[float] = []
    statuses: Counter = Counter()
    run_ids = []
    for i in range(n):
        t0 = time.time()
        rid = poster.deliver(i)
        if rid is None:
            continue
        run_ids.append(rid)
        kind, at = live.wait_end(rid)
        statuses[kind] += 1
        total.append(at - t0)
    poster.close()
    lags = [lag for _, lag in live.node_lag[lag0:]]
    out = {
        "deliveries": n,
        "errors": poster.errors,
        "end_events": dict(statuses),
        "webhook_to_run_succeeded": _dist(total),
        "webhook_post_202": _dist(poster.post_s),
        "ws_node_finished_lag": _dist(lags),
    }
    d = out["webhook_to_run_succeeded"]
    REPORT.add(
        f"webhook POST -> run.succeeded on the WebSocket, p50 / p99 ({n} sequential)",
        f"{d['p50_ms']} / {d['p99_ms']} ms",
    )
    d = out["webhook_post_202"]
    REPORT.add("  of which the POST itself (202 answer), p50 / p99", f"{d['p50_ms']} / {d['p99_ms']} ms")
    d = out["ws_node_finished_lag"]
    REPORT.add(
        f"node.finished `at` -> received by the WebSocket client, p50 / p99 ({d['n']} events)",
        f"{d['p50_ms']} / {d['p99_ms']} ms",
        "same machine clock",
    )
    return out


def bench_throughput(
    base: str, hook: str, live: LiveStream, threads: int, per_thread: int, label: str, procs: Processes
) -> dict:
    posters = [Poster(base, hook) for _ in range(threads)]
    ids: list[list[str]] = [[] for _ in range(threads)]
    lag0 = len(live.node_lag)
    barrier = threading.Barrier(threads + 1)

    def client(k: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            rid = posters[k].deliver(i)
            if rid:
                ids[k].append(rid)

    pool = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    roles = procs.roles()
    cpu0 = {pid: _cpu_s(pid) for pid in roles}
    barrier.wait()
    start = time.time()
    for t in pool:
        t.join()
    posted = time.time()
    all_ids = [r for chunk in ids for r in chunk]
    last = live.wait_all(all_ids, timeout=600)
    wall = last - start
    cpu: Counter = Counter()
    for pid, role in roles.items():
        cpu[role] += _cpu_s(pid) - cpu0[pid]
    errors = [e for p in posters for e in p.errors]
    post_s = [s for p in posters for s in p.post_s]
    for p in posters:
        p.close()
    kinds = Counter(live.ended[r][0] for r in all_ids)
    owners = Counter(live.owner.get(r, "?") for r in all_ids)
    lag_by_run = defaultdict(list)
    for rid, lag in live.node_lag[lag0:]:
        lag_by_run[rid].append(lag)
    total = threads * per_thread
    rate = len(all_ids) / wall
    out = {
        "label": label,
        "threads": threads,
        "deliveries": total,
        "accepted": len(all_ids),
        "errors": errors[:20],
        "error_count": len(errors),
        "end_events": dict(kinds),
        "seconds": round(wall, 3),
        "posting_seconds": round(posted - start, 3),
        "runs_per_s": round(rate, 1),
        "vs_n8n_220": round(rate / N8N_RUNS_PER_S, 2),
        "webhook_post_202": _dist(post_s),
        "owners": dict(owners),
        "cpu_cores_busy": {k: round(v / (time.time() - start), 2) for k, v in cpu.items()},
        "node_lag_by_role": {},
        "_ids": all_ids,
    }
    by_role = defaultdict(list)
    for rid, lags in lag_by_run.items():
        by_role["worker" if live.owner.get(rid) in procs.worker_owners else "server"].extend(lags)
    out["node_lag_by_role"] = {o: _dist(v) for o, v in by_role.items()}
    named: Counter = Counter()
    for owner, count in owners.items():
        named["worker" if owner in procs.worker_owners else "server"] += count
    out["executed_by"] = dict(named)
    REPORT.add(
        f"webhook runs/s, {label} ({threads} threads x {per_thread}, until all succeeded)",
        out["runs_per_s"],
        f"n8n 220/s -> x{out['vs_n8n_220']}; posting took {out['posting_seconds']} s of {out['seconds']} s",
    )
    d = out["webhook_post_202"]
    REPORT.add(f"  POST -> 202 under that load, p50 / p99 ({label})", f"{d['p50_ms']} / {d['p99_ms']} ms")
    if errors:
        REPORT.add(f"  non-202 answers ({label})", len(errors), errors[0][:120])
    REPORT.add(
        f"  runs executed by ({label})",
        ", ".join(f"{k} {v}" for k, v in sorted(named.items())),
        f"owner in run.started of {len(all_ids)} runs",
    )
    for role, d in sorted(out["node_lag_by_role"].items()):
        REPORT.add(
            f"  node.finished -> WebSocket p50 / p99, runs executed by the {role} ({label})",
            f"{d['p50_ms']} / {d['p99_ms']} ms",
            f"{d['n']} events",
        )
    REPORT.add(
        f"  CPU cores busy ({label})",
        ", ".join(f"{k} {v}" for k, v in sorted(out["cpu_cores_busy"].items())),
        "user+system CPU s / wall s, per process role",
    )
    return out


def check_database(db_file: Path, live: LiveStream, accepted: int) -> dict:
    """One run per accepted delivery, all succeeded; every event of the workflow reached the WebSocket once."""
    con = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        statuses = dict(
            con.execute("SELECT status, count(*) FROM runs WHERE workflow_name = ? GROUP BY status", (NAME,))
        )
        deliveries = con.execute("SELECT count(*) FROM webhook_deliveries WHERE workflow_name = ?", (NAME,)).fetchone()[
            0
        ]
        runs_per_delivery = con.execute(
            "SELECT count(*) FROM (SELECT run_id FROM webhook_deliveries WHERE workflow_name = ? "
            "GROUP BY run_id HAVING count(*) > 1)",
            (NAME,),
        ).fetchone()[0]
        event_ids = [
            r[0]
            for r in con.execute(
                "SELECT e.id FROM events e JOIN runs r ON r.id = e.run_id WHERE r.workflow_name = ? ORDER BY e.id",
                (NAME,),
            )
        ]
        executions = dict(
            con.execute(
                "SELECT e.type, count(*) FROM events e JOIN runs r ON r.id = e.run_id "
                "WHERE r.workflow_name = ? AND e.type IN ('run.started', 'run.resumed') GROUP BY e.type",
                (NAME,),
            )
        )
    finally:
        con.close()
    time.sleep(1.0)  # let the stream deliver the tail
    got = Counter(live.ids)
    dup = [i for i, c in got.items() if c > 1]
    missing = sorted(set(event_ids) - set(got))
    out = {
        "runs_by_status": statuses,
        "delivery_rows": deliveries,
        "accepted_by_client": accepted,
        "deliveries_sharing_a_run": runs_per_delivery,
        "events_in_db": len(event_ids),
        "events_received": len(live.ids),
        "events_duplicated": len(dup),
        "events_missing": len(missing),
        "missing_sample": missing[:10],
        "start_events": executions,
        "stream_messages": [m for m in live.other if m.get("type") != "stream.live"][:5],
    }
    ok = (
        statuses == {"succeeded": accepted}
        and deliveries == accepted
        and not dup
        and not missing
        and executions.get("run.resumed", 0) == 0
    )
    out["ok"] = ok
    REPORT.add(
        "check: runs = deliveries, all succeeded, events delivered once",
        "ok" if ok else "PROBLEM",
        f"{sum(statuses.values())} runs {statuses}, {deliveries} delivery rows, events db {len(event_ids)} / "
        f"ws {len(live.ids)}, dup {len(dup)}, missing {len(missing)}",
    )
    return out


# -- main -------------------------------------------------------------------------------------------------------


def bench(args) -> dict:
    cache = Path(args.cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    digest, compile_s = compile_cached(cache)
    print(f"compiled {NAME} in {compile_s:.1f} s (cache {cache})", flush=True)
    (ROOT / "build").mkdir(exist_ok=True)
    workdir = ROOT / "build" / f"bench-api-{secrets.token_hex(4)}"
    instance = workdir / "instance"
    instance.mkdir(parents=True)
    db_file = instance / "wasmflow.db"
    url = f"sqlite:///{db_file}"
    seed_database(url, cache, digest)
    env = {
        **os.environ,
        "WASMFLOW_DATABASE_URL": url,
        "WASMFLOW_ARTIFACTS_DIR": str(cache / "artifacts"),
        "PYTHONUNBUFFERED": "1",
    }
    result: dict = {
        "bench": "api",
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "workdir": str(workdir.relative_to(ROOT)),
    }
    procs = Processes(instance, env)
    live = None
    try:
        base = procs.start_server()
        print(f"wasmflow serve at {base} (instance {instance.relative_to(ROOT)})", flush=True)
        hook, setup = create_and_deploy(base)
        result["setup"] = setup
        REPORT.add(
            "create + compile (cache hit) + deploy through the REST API", f"{setup['create_compile_deploy_s']} s"
        )
        live = LiveStream(base)
        print(f"\n== latency (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores) ==", flush=True)
        result["baseline_404"] = bench_baseline(base)
        result["latency"] = bench_latency(base, hook, live, args.deliveries)
        print(f"\n== throughput, server alone (load average {os.getloadavg()[0]:.1f}) ==", flush=True)
        t1 = bench_throughput(base, hook, live, args.threads, args.per_thread, "server alone", procs)
        result["throughput"] = {"server": t1}
        if args.workers:
            procs.start_workers(args.workers)
            warm = Poster(base, hook)  # let the workers load the component too (they pick up queued runs)
            for i in range(16):
                rid = warm.deliver(i)
                if rid:
                    live.wait_end(rid)
            warm.close()
            label = f"server + {args.workers} workers"
            print(f"\n== throughput, {label} (load average {os.getloadavg()[0]:.1f}) ==", flush=True)
            t2 = bench_throughput(base, hook, live, args.threads, args.per_thread, label, procs)
            result["throughput"]["server_and_workers"] = t2
        for t in result["throughput"].values():
            t.pop("_ids")
        result["check"] = check_database(db_file, live, len(set(Poster.accepted)))
        result["worker_owners"] = procs.worker_owners
    finally:
        if live is not None:
            live.close()
        procs.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (50 sequential, 8 x 25 concurrent)")
    ap.add_argument("--deliveries", type=int, default=None, help="sequential deliveries for latency (200; quick 50)")
    ap.add_argument("--threads", type=int, default=8, help="concurrent client threads for runs/s")
    ap.add_argument("--per-thread", type=int, default=None, help="deliveries per client thread (100; quick 25)")
    ap.add_argument("--workers", type=int, default=2, help="`wasmflow worker` processes in the second run (0: skip)")
    ap.add_argument("--cache", default=str(ROOT / "build" / "bench-cache"), help="compiled artifact cache folder")
    ap.add_argument("--keep", action="store_true", help="keep build/bench-api-*/ (database, serve.log)")
    args = ap.parse_args()
    if args.deliveries is None:
        args.deliveries = 50 if args.quick else 200
    if args.per_thread is None:
        args.per_thread = 25 if args.quick else 100
    started = time.perf_counter()
    result = bench(args)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    REPORT.table()
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
