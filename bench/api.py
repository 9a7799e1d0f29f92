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

--compare-servers [--rounds 2] (issue 13): gunicorn against Werkzeug's development server. For each of
`wasmflow serve` (gunicorn, default processes: one per core, at most 4), `wasmflow serve --processes 1` and
`wasmflow serve --dev`, a fresh instance (SQLite, the artifact row seeded as above) and a server in a session
of its own; a sync variant of the workflow (trigger.webhook respond "respond_node" -> transform -> transform
-> respond), so one POST is a start-and-wait: the client times POST -> 200 with the respond node's body.
Per server: idle RSS of the whole process tree (VmRSS of the gunicorn master + workers, or of the reloader
process + the child it serves from) once settled after start and again after the load; idle CPU over 5 s;
--deliveries sequential calls (p50 / p90); --threads clients x --per-thread calls back to back (runs/s,
p50 / p90, server CPU); then every run must be `succeeded` in the database. Rounds alternate the order. Prints
a table per round with ratios (gunicorn / dev), then one JSON line: {"bench": "api-servers", ...}.
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


def compile_cached(cache: Path, workflow: dict = WORKFLOW) -> tuple[str, float]:
    settings = Settings.load(
        cache, database_url=f"sqlite:///{cache / 'wasmflow.db'}", artifacts_dir=cache / "artifacts"
    )
    pool = open_compiler(settings)
    t = time.perf_counter()
    result = pool.compile(workflow, with_bundle=False)
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


def create_and_deploy(base: str, workflow: dict = WORKFLOW) -> tuple[str, dict]:
    name = workflow["name"]
    with httpx.Client(base_url=base, timeout=120) as c:
        t = time.perf_counter()
        r = c.post("/api/workflows", json=workflow)
        if r.status_code != 201:
            raise SystemExit(f"create: {r.status_code} {r.text}")
        r = c.post(f"/api/workflows/{name}/compile")
        if r.status_code != 200:
            raise SystemExit(f"compile: {r.status_code} {r.text}")
        compiled = r.json()
        r = c.post(f"/api/workflows/{name}/deploy", json={"digest": compiled["digest"]})
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


# -- --compare-servers: gunicorn (`wasmflow serve`) vs Werkzeug's development server (`wasmflow serve --dev`) --

SYNC_WORKFLOW = {
    **WORKFLOW,
    "name": "bench-api-sync",
    "title": "API bench: sync webhook -> transform -> transform -> respond",
    "nodes": [
        {"id": "hook", "type": "trigger.webhook", "config": {"method": "POST", "respond": "respond_node"}},
        *WORKFLOW["nodes"][1:],
        {"id": "reply", "type": "respond", "config": {"status": 200, "body": "label"}},
    ],
    "edges": [*WORKFLOW["edges"], {"from": "label", "to": "reply"}],
}
SERVERS = {  # label -> extra `wasmflow serve` arguments
    "gunicorn": [],
    "gunicorn-1": ["--processes", "1"],
    "dev": ["--dev"],
}


def _tree(root: int) -> list[int]:
    """root and all its descendants (ppid fields of /proc/<pid>/stat)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    children[int(f.read().rsplit(")", 1)[1].split()[1])].append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid not in out and os.path.exists(f"/proc/{pid}"):
            out.append(pid)
            todo.extend(children.get(pid, []))
    return out


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _tree_cpu_s(root: int) -> float:
    total = 0.0
    for pid in _tree(root):
        try:
            total += _cpu_s(pid)
        except OSError:
            pass
    return total


def _tree_rss(root: int) -> dict:
    per = {pid: round(_rss_mb(pid), 1) for pid in _tree(root)}
    return {"total_mb": round(sum(per.values()), 1), "processes": len(per), "per_process_mb": sorted(per.values())}


def _settled_rss(root: int, want_processes: int, timeout: float = 30) -> dict:
    """The tree's RSS once it has want_processes processes and its total moved < 1 MB over the last second."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        now = _tree_rss(root)
        if now["processes"] >= want_processes and last is not None and abs(now["total_mb"] - last) < 1.0:
            return now
        last = now["total_mb"]
        time.sleep(1.0)
    return {**_tree_rss(root), "unsettled": True}


class Server:
    """One `wasmflow serve [args]` on a fresh instance, in a session of its own (ended by its process group)."""

    def __init__(self, label: str, extra: list[str], cache: Path, digest: str) -> None:
        self.label = label
        self.workdir = ROOT / "build" / f"bench-api-{label}-{secrets.token_hex(4)}"
        self.instance = self.workdir / "instance"
        self.instance.mkdir(parents=True)
        self.db_file = self.instance / "wasmflow.db"
        url = f"sqlite:///{self.db_file}"
        seed_database(url, cache, digest)
        env = {
            **os.environ,
            "WASMFLOW_DATABASE_URL": url,
            "WASMFLOW_ARTIFACTS_DIR": str(cache / "artifacts"),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("WASMFLOW_SERVE_PROCESSES", None)
        port = _free_port()
        exe = str(Path(sys.executable).parent / "wasmflow")
        self.cmd = [exe, "--instance", str(self.instance), "serve", "--host", HOST, "--port", str(port), *extra]
        self.log = self.workdir / "serve.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                self.cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.base = f"http://{HOST}:{port}"
        t = time.perf_counter()
        end = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"{' '.join(self.cmd)} exited: see {self.log}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > end:
                raise SystemExit(f"{self.label} did not answer /readyz within 90 s")
            time.sleep(0.05)
        self.ready_s = time.perf_counter() - t
        first = self.log.read_text(errors="replace").splitlines()[:1]
        self.banner = first[0] if first else ""
        if "--dev" in extra:
            self.processes = 1
        else:
            self.processes = int(self.banner.split(", ")[-1].split()[0])  # "... (instance ..., N processes)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)  # as the rest of this script ends `wasmflow serve`
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print(f"  {self.label}: still running 30 s after SIGINT, killed", flush=True)
        try:  # leftovers of its group (a child that outlived its parent)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait()


class SyncCaller:
    """Sync webhook deliveries (the respond node answers) over one keep-alive connection, timed by the client."""

    def __init__(self, base: str, hook: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=60)
        self.hook = hook
        self.seconds: list[float] = []
        self.errors: list[str] = []

    def call(self, i: int) -> None:
        with Poster.lock:
            Poster.counter += 1
            delivery = f"s-{Poster.counter}-{secrets.token_hex(4)}"
        t = time.perf_counter()
        r = self.client.post(self.hook, json={"i": i}, headers={"X-Delivery-Id": delivery})
        took = time.perf_counter() - t
        want = {"label": f"order-{i}", "big": i * 2 > 10}
        if r.status_code != 200 or r.json() != want:
            self.errors.append(f"{r.status_code} {r.text[:200]}")
        else:
            self.seconds.append(took)

    def close(self) -> None:
        self.client.close()


def _concurrent(base: str, hook: str, threads: int, per_thread: int) -> tuple[float, list[SyncCaller]]:
    callers = [SyncCaller(base, hook) for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def client(k: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            callers[k].call(i)

    pool = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    wall = time.perf_counter() - start
    for c in callers:
        c.close()
    return wall, callers


def _dist90(seconds: list[float]) -> dict:
    return {**_dist(seconds), "p90_ms": round(_pct(seconds, 0.90) * 1000, 2) if seconds else None}


def _runs_check(db_file: Path, expected: int, wait_s: float = 15) -> dict:
    """Every sync run of the bench workflow succeeded (waits for the last runs' final commits); who ran them."""
    end = time.monotonic() + wait_s
    while True:
        con = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
        try:
            statuses = dict(
                con.execute(
                    "SELECT status, count(*) FROM runs WHERE workflow_name = ? GROUP BY status",
                    (SYNC_WORKFLOW["name"],),
                )
            )
            owners = Counter(
                json.loads(d or "{}").get("owner", "?")
                for (d,) in con.execute(
                    "SELECT e.data FROM events e JOIN runs r ON r.id = e.run_id "
                    "WHERE r.workflow_name = ? AND e.type = 'run.started'",
                    (SYNC_WORKFLOW["name"],),
                )
            )
            resumed = con.execute("SELECT count(*) FROM events WHERE type = 'run.resumed'").fetchone()[0]
        finally:
            con.close()
        if statuses.get("succeeded", 0) >= expected or time.monotonic() > end:
            break
        time.sleep(0.2)
    return {
        "runs_by_status": statuses,
        "expected": expected,
        "ok": statuses == {"succeeded": expected} and resumed == 0,
        "resumed": resumed,
        "runs_by_owner": sorted(owners.values(), reverse=True),
    }


def measure_server(label: str, extra: list[str], cache: Path, digest: str, args) -> dict:
    load0 = os.getloadavg()[0]
    server = Server(label, extra, cache, digest)
    out: dict = {"label": label, "command": " ".join(["wasmflow serve", *extra]), "load_at_start": round(load0, 2)}
    try:
        root = server.proc.pid
        out["processes"] = server.processes
        out["ready_s"] = round(server.ready_s, 2)
        # gunicorn: master + workers; --dev: Werkzeug's reloader process + the serving child it spawns
        want = server.processes + 1
        out["idle_rss_started"] = _settled_rss(root, want)
        c0 = _tree_cpu_s(root)
        time.sleep(5)
        out["idle_cpu_cores"] = round((_tree_cpu_s(root) - c0) / 5, 3)
        hook, setup = create_and_deploy(server.base, SYNC_WORKFLOW)
        out["setup"] = setup
        _concurrent(server.base, hook, args.threads, 5)  # warm: every worker's connection, component, instances
        warm = SyncCaller(server.base, hook)
        for i in range(10):
            warm.call(i)
        warm.close()
        seq = SyncCaller(server.base, hook)
        for i in range(args.deliveries):
            seq.call(i)
        seq.close()
        out["sequential"] = {**_dist90(seq.seconds), "errors": seq.errors[:5]}
        out["load_before_concurrent"] = round(os.getloadavg()[0], 2)
        c0 = _tree_cpu_s(root)
        wall, callers = _concurrent(server.base, hook, args.threads, args.per_thread)
        cpu = _tree_cpu_s(root) - c0
        secs = [s for c in callers for s in c.seconds]
        errors = [e for c in callers for e in c.errors]
        out["concurrent"] = {
            "threads": args.threads,
            "requests": args.threads * args.per_thread,
            "answered_200": len(secs),
            "errors": errors[:5],
            "error_count": len(errors),
            "seconds": round(wall, 3),
            "runs_per_s": round(len(secs) / wall, 1),
            "latency": _dist90(secs),
            "server_cpu_cores": round(cpu / wall, 2),
            "server_cpu_ms_per_run": round(cpu / max(1, len(secs)) * 1000, 1),
        }
        total = args.threads * 5 + 10 + args.deliveries + args.threads * args.per_thread
        out["check"] = _runs_check(server.db_file, total)
        time.sleep(2)
        out["idle_rss_after_load"] = _settled_rss(root, want)
        out["load_at_end"] = round(os.getloadavg()[0], 2)
    except BaseException:
        args.keep = True  # keep the instance and serve.log of a failed measurement
        tail = server.log.read_text(errors="replace").splitlines()[-15:]
        print(f"  {label} failed; {server.log.relative_to(ROOT)} ends:\n    " + "\n    ".join(tail), flush=True)
        raise
    finally:
        server.stop()
        # the development server restarts its child when a file under app/ changes (someone editing): say so
        log = server.log.read_text(errors="replace")
        out["dev_reloads"] = log.count("Detected change in")
        if not args.keep:
            shutil.rmtree(server.workdir, ignore_errors=True)
        else:
            out["workdir"] = str(server.workdir.relative_to(ROOT))
    c = out.get("concurrent", {})
    print(
        f"  {label:<11} {c.get('runs_per_s')} runs/s, p50 {c.get('latency', {}).get('p50_ms')} ms "
        f"(sequential p50 {out.get('sequential', {}).get('p50_ms')} ms), idle RSS "
        f"{out['idle_rss_started']['total_mb']} MB in {out['idle_rss_started']['processes']} processes, "
        f"check {'ok' if out.get('check', {}).get('ok') else 'PROBLEM'} (load {os.getloadavg()[0]:.1f})"
        + (f", RELOADED {out['dev_reloads']}x (app/ changed)" if out["dev_reloads"] else ""),
        flush=True,
    )
    return out


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def _ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def compare_servers(args) -> dict:
    cache = Path(args.cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    digest, compile_s = compile_cached(cache, SYNC_WORKFLOW)
    print(f"compiled {SYNC_WORKFLOW['name']} in {compile_s:.1f} s (cache {cache})", flush=True)
    (ROOT / "build").mkdir(exist_ok=True)
    result: dict = {
        "bench": "api-servers",
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "per_thread": args.per_thread,
        "sequential": args.deliveries,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": _git("rev-parse", "--short", "HEAD"),
        "app_changes_at_start": _git("status", "--short", "app"),
        "rounds": [],
    }
    labels = list(SERVERS)
    for k in range(args.rounds):
        order = labels if k % 2 == 0 else labels[::-1]  # alternate, so a load trend hits all alike
        print(f"\n== round {k + 1}: {', '.join(order)} (load average {os.getloadavg()[0]:.1f}) ==", flush=True)
        result["rounds"].append({label: measure_server(label, SERVERS[label], cache, digest, args) for label in order})
    # the table: per round, each server's figures and the ratios against the development server
    rows = [
        ("server processes (+ master / reloader)", lambda r: r["processes"], None),
        ("runs/s at 8 clients (sync webhook, 3 nodes + respond)", lambda r: r["concurrent"]["runs_per_s"], "hi"),
        ("  latency under that load p50 (ms)", lambda r: r["concurrent"]["latency"]["p50_ms"], "lo"),
        ("  latency under that load p90 (ms)", lambda r: r["concurrent"]["latency"]["p90_ms"], "lo"),
        ("  server CPU (cores)", lambda r: r["concurrent"]["server_cpu_cores"], None),
        ("  server CPU per run (ms)", lambda r: r["concurrent"]["server_cpu_ms_per_run"], None),
        ("sequential p50 (ms)", lambda r: r["sequential"]["p50_ms"], "lo"),
        ("sequential p90 (ms)", lambda r: r["sequential"]["p90_ms"], "lo"),
        ("idle RSS of the tree after start (MB)", lambda r: r["idle_rss_started"]["total_mb"], "lo"),
        ("idle RSS of the tree after the load (MB)", lambda r: r["idle_rss_after_load"]["total_mb"], "lo"),
        ("idle CPU of the tree (cores)", lambda r: r["idle_cpu_cores"], None),
        ("ready after start (s)", lambda r: r["ready_s"], None),
        ("development server reloads (app/ changed meanwhile)", lambda r: r["dev_reloads"], None),
    ]
    result["ratios_vs_dev"] = []
    for k, rnd in enumerate(result["rounds"]):
        print(f"\nround {k + 1} (load {rnd['dev']['load_at_start']}-{rnd['dev']['load_at_end']} during dev)")
        head = f"{'figure':<56}" + "".join(f"{label:>12}" for label in labels)
        head += "".join(f"{label + '/dev':>16}" for label in labels if label != "dev")
        print(head)
        ratios: dict = {}
        for name, get, kind in rows:
            vals = {label: get(rnd[label]) for label in labels}
            line = f"{name:<56}" + "".join(f"{vals[label]!s:>12}" for label in labels)
            for label in labels:
                if label != "dev":
                    r = _ratio(vals[label], vals["dev"]) if kind else "-"
                    line += f"{r:>16}"
                    if kind:
                        ratios.setdefault(label, {})[name.strip()] = (
                            round(vals[label] / vals["dev"], 3) if vals[label] and vals["dev"] else None
                        )
            print(line)
        result["ratios_vs_dev"].append(ratios)
        bad = [label for label in labels if not rnd[label]["check"]["ok"] or rnd[label]["concurrent"]["error_count"]]
        print(
            "check: every request answered 200 with the right body, every run succeeded once: "
            + ("ok" if not bad else f"PROBLEM in {bad}")
        )
    result["app_changes_at_end"] = _git("status", "--short", "app")
    if result["app_changes_at_end"] != result["app_changes_at_start"]:
        print("note: files under app/ changed during the bench (servers may have run different code)", flush=True)
    return result


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
    ap.add_argument(
        "--compare-servers",
        action="store_true",
        help="gunicorn (default processes, --processes 1) vs --dev: sync webhook runs/s, p50/p90, idle RSS",
    )
    ap.add_argument("--rounds", type=int, default=1, help="--compare-servers: rounds (order alternates)")
    args = ap.parse_args()
    if args.deliveries is None:
        args.deliveries = 50 if args.quick else 200
    if args.per_thread is None:
        args.per_thread = 25 if args.quick else 100
    started = time.perf_counter()
    if args.compare_servers:
        result = compare_servers(args)
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, default=str))
        return
    result = bench(args)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    REPORT.table()
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
