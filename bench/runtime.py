"""Runtime figures: host call overhead, durable commits, run start and throughput, resume, HTTP fan-out, memory.

Run: .venv/bin/python bench/runtime.py [--quick] [--only calls,effect,commits,start,throughput,workers,resume,
     fanout,memory] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Four small workflows (defined below) are compiled once into an artifact cache (build/bench-cache; ~90 s cold
on the 2-core machine, later runs hit the cache). A full run takes ~4 min with --postgres, --quick ~1.5 min. Every run uses a fresh database: a SQLite file in a fresh
instance folder under build/ (WAL, synchronous=FULL, same disk as the fsync probe), and with --postgres a fresh
schema on that server (dropped at the end). HTTP goes to a local server in a subprocess on 127.0.0.1 only.
Host calls are timed by wrapping ``RunHost.call`` in this process (no production code is changed).
The machine is shared and noisy: figures are medians of what one run saw.
Prints a table, then one JSON line: {"bench": "runtime", ...}.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["WASMFLOW_HTTP_ALLOW_NETWORKS"] = "127.0.0.1/32"  # the HTTP client may reach the local server

import sqlalchemy as sa  # noqa: E402

from app.compiler import open_compiler  # noqa: E402
from app.config import Settings  # noqa: E402
from app.engine import executor, runs  # noqa: E402
from app.engine.engine import Engine  # noqa: E402
from app.runtime import wasm  # noqa: E402
from app.runtime.committer import GroupCommitter  # noqa: E402
from app.runtime.host import RunHost  # noqa: E402
from app.runtime.wiring import world_services  # noqa: E402
from app.store import open_database  # noqa: E402
from app.store.db import Database, close_database  # noqa: E402
from app.store.models import Artifact, JournalEntry, Run, Wait  # noqa: E402

SECTIONS = ("calls", "effect", "commits", "start", "throughput", "workers", "resume", "fanout", "memory")
MEMORY_CAP_MB = 1200  # the memory section stops adding WAITING runs past this RSS growth (shared machine)
N8N_RUNS_PER_S = 220  # n8n's published single-instance figure on 2 vCPUs (single webhook workflow)

# -- the bench workflows --------------------------------------------------------------------------------------

PURE = {
    "dsl": "wasmflow/1",
    "name": "bench-pure",
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {
            "id": "logs",
            "type": "transform",
            "config": {"code": "for i in range(input.get('logs', 0)):\n    print(i)\nreturn input.get('logs', 0)"},
        },
        {
            "id": "items",
            "type": "map",
            "config": {
                "items": "list(range(input.get('n', 0)))",
                "concurrency": 1,
                "body": {"nodes": [{"id": "get", "type": "kv.get", "config": {"namespace": "bench", "key": "k"}}]},
            },
        },
        {"id": "hold", "type": "branch", "config": {"condition": "input.get('hold', False)"}},
        {"id": "park", "type": "wait", "config": {"duration": "1h"}},
    ],
    "edges": [
        {"from": "start", "to": "logs"},
        {"from": "logs", "to": "items"},
        {"from": "items", "to": "hold"},
        {"from": "hold", "to": "park", "port": "true"},
    ],
}
KVSET = {
    "dsl": "wasmflow/1",
    "name": "bench-kvset",
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {
            "id": "writes",
            "type": "map",
            "config": {
                "items": "list(range(input.get('n', 0)))",
                "concurrency": 1,
                "body": {
                    "nodes": [
                        {
                            "id": "put",
                            "type": "kv.set",
                            "config": {
                                "namespace": "bench",
                                "key": "{{ input.get('r', 0) }}-{{ index }}",
                                "value": "index",
                            },
                        }
                    ]
                },
            },
        },
    ],
    "edges": [{"from": "start", "to": "writes"}],
}


def _http_body(prefix: str) -> dict:
    url = "{{ input['base'] }}{{ input.get('path', '/fast') }}"
    node = {"url": url, "allowed_hosts": ["127.0.0.1"], "timeout_seconds": 60}
    return {"nodes": [{"id": f"{prefix}_get", "type": "http.request", "config": node}]}


HTTP = {
    "dsl": "wasmflow/1",
    "name": "bench-http",
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {"id": "mode", "type": "switch", "config": {"cases": [{"port": "par", "when": "input.get('mode') == 'par'"}]}},
        {
            "id": "seq",
            "type": "map",
            "config": {
                "items": "list(range(input.get('n', 1)))",
                "concurrency": 1,
                "body": _http_body("seq"),
                "result": "seq_get['status']",
            },
        },
        {
            "id": "par",
            "type": "map",
            "config": {
                "items": "list(range(input.get('n', 1)))",
                "concurrency": 20,
                "body": _http_body("par"),
                "result": "par_get['status']",
            },
        },
    ],
    "edges": [
        {"from": "start", "to": "mode"},
        {"from": "mode", "to": "par", "port": "par"},
        {"from": "mode", "to": "seq", "port": "default"},
    ],
}
THREE = {
    "dsl": "wasmflow/1",
    "name": "bench-three",
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {
            "id": "shape",
            "type": "transform",
            "config": {"expression": "{'id': input.get('i', 0), 'total': input.get('i', 0) * 2}"},
        },
        {
            "id": "label",
            "type": "transform",
            "config": {"code": "return {'label': 'order-' + str(shape['id']), 'big': shape['total'] > 10}"},
        },
    ],
    "edges": [{"from": "start", "to": "shape"}, {"from": "shape", "to": "label"}],
}
WORKFLOWS = {"pure": PURE, "kvset": KVSET, "http": HTTP, "three": THREE}

# -- measuring helpers ----------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _dist(seconds: list[float]) -> dict:
    return {
        "n": len(seconds),
        "p50_ms": _ms(statistics.median(seconds)) if seconds else None,
        "p99_ms": _ms(_pct(seconds, 0.99)) if seconds else None,
    }


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Probe:
    """Times every ``RunHost.call`` of this process (per capability), the first call of each run, and the
    moment each execution starts instantiating. Installed by wrapping the class attribute: bench only."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.first_call: dict[str, float] = {}
        self.instantiate_at: dict[str, float] = {}
        self.in_flight: dict[str, int] = defaultdict(int)
        self.recording = False
        self.track = frozenset({"kv.set"})
        self.done: list[tuple[float, str]] = []  # (time, run_id) of each tracked call while recording
        self.batches: list[tuple[float, float, int]] = []  # group commits while recording: (start, end, items)
        self._lock = threading.Lock()
        self._orig_call = RunHost.call
        self._orig_inst = wasm.instantiate_and_run

    def install(self) -> None:
        probe, orig_call, orig_inst = self, self._orig_call, self._orig_inst
        local = threading.local()

        def call(host: RunHost, capability: str, request_json: str) -> str:
            t = time.perf_counter()
            with probe._lock:
                probe.in_flight[capability] += 1
            try:
                return orig_call(host, capability, request_json)
            finally:
                done = time.perf_counter()
                with probe._lock:
                    probe.in_flight[capability] -= 1
                if probe.recording:
                    probe.calls[capability].append(done - t)
                    if capability in probe.track:
                        probe.done.append((done, host.run_id))
                if host.calls == 1:
                    probe.first_call[host.run_id] = done
                local.last_run = host.run_id

        def instantiate_and_run(component, host_funcs, input_json, **kw):
            probe.instantiate_at[threading.get_ident()] = time.perf_counter()
            return orig_inst(component, host_funcs, input_json, **kw)

        orig_run = GroupCommitter._run

        def run_batch(committer: GroupCommitter, batch: list) -> None:
            t = time.perf_counter()
            try:
                return orig_run(committer, batch)
            finally:
                if probe.recording:
                    probe.batches.append((t, time.perf_counter(), len(batch)))

        RunHost.call = call
        wasm.instantiate_and_run = instantiate_and_run
        GroupCommitter._run = run_batch

    def reset(self) -> None:
        self.calls = defaultdict(list)
        self.first_call = {}
        self.instantiate_at = {}
        self.done = []
        self.batches = []


PROBE = Probe()


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def row(self, section: str, what: str, value, note: str = "") -> None:
        if isinstance(value, float):
            text = f"{value:,.3f}".rstrip("0").rstrip(".")
        elif isinstance(value, int):
            text = f"{value:,}"
        else:
            text = str(value)
        self.rows.append((section, what, text, note))
        print(f"  {section:<12} {what:<58} {text:>12}  {note}", flush=True)

    def table(self) -> None:
        print()
        print(f"{'section':<12} {'figure':<58} {'value':>12}  note")
        for section, what, text, note in self.rows:
            print(f"{section:<12} {what:<58} {text:>12}  {note}")


REPORT = Report()

# -- world: compiled artifacts, a local HTTP server, databases, engines ---------------------------------------


def compile_all(cache: Path) -> dict[str, str]:
    settings = Settings.load(
        cache,
        database_url=f"sqlite:///{cache / 'wasmflow.db'}",
        artifacts_dir=cache / "artifacts",
        compile_concurrency=2,
    )
    pool = open_compiler(settings)
    t = time.perf_counter()
    futures = {k: pool.submit(doc, with_bundle=False) for k, doc in WORKFLOWS.items()}
    digests = {k: f.result().digest for k, f in futures.items()}
    pool.shutdown()
    print(f"compiled {len(digests)} bench workflows in {time.perf_counter() - t:.1f} s (cache {cache})", flush=True)
    return digests


def serve(slow: float) -> None:
    """Subprocess mode: a threaded HTTP server on 127.0.0.1 (tests/runtime/httpserver.py) until stdin closes."""
    sys.path.insert(0, str(ROOT / "tests" / "runtime"))
    import socketserver

    from httpserver import TestServer

    socketserver.TCPServer.request_queue_size = 128  # the default backlog of 5 drops SYNs of 20 parallel connects
    srv = TestServer()
    # http.server writes headers and body in two sends: without TCP_NODELAY each response waits ~40 ms for
    # the client's delayed ACK (Nagle), which would be measured as engine latency.
    srv._httpd.RequestHandlerClass.disable_nagle_algorithm = True
    srv.route("/fast", json={"ok": True})
    srv.route("/lat20", json={"ok": True}, delay=0.02)
    srv.route("/slow", json={"ok": True}, delay=slow)
    srv.start()
    print(srv.url(""), flush=True)
    sys.stdin.read()
    srv.stop()


class LocalServer:
    def __init__(self, slow: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(slow)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.base = self.proc.stdout.readline().strip().rstrip("/")
        if not self.base.startswith("http://127.0.0.1:"):
            raise SystemExit(f"local HTTP server did not start: {self.base!r}")

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Target:
    """One fresh database (SQLite file in a fresh instance folder, or a PostgreSQL schema) with the artifacts."""

    def __init__(self, label: str, workdir: Path, cache: Path, digests: dict[str, str], pg_url: str | None):
        self.label = label
        self.cache = cache
        self.digests = digests
        self.instance = workdir / label
        self.instance.mkdir(parents=True, exist_ok=True)
        self.schema = None
        self.pg_url = pg_url
        if pg_url:
            self.schema = f"bench_{uuid.uuid4().hex[:10]}"
            admin = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
            admin.dispose()
            sep = "&" if "?" in pg_url else "?"
            self.url = f"{pg_url}{sep}options=-csearch_path%3D{self.schema}"
        else:
            self.url = f"sqlite:///{self.instance / 'wasmflow.db'}"
        self.db = open_database(self.url)
        src = Database(f"sqlite:///{cache / 'wasmflow.db'}")
        with src.session() as s, self.db.session() as d:
            for digest in digests.values():
                row = s.get(Artifact, digest)
                if d.get(Artifact, digest) is None:
                    d.add(Artifact(**{c.name: getattr(row, c.name) for c in Artifact.__table__.columns}))
        src.dispose()
        self.settings = Settings.load(self.instance, database_url=self.url, artifacts_dir=cache / "artifacts")
        self.http, self.secrets = world_services(self.settings)

    def engine(self, concurrency: int = 8) -> Engine:
        return Engine(self.settings, http=self.http, secrets=self.secrets, poll=False, run_concurrency=concurrency)

    def statuses(self, ids: list[str] | None = None) -> dict[str, int]:
        with self.db.session() as s:
            q = sa.select(Run.status, sa.func.count()).group_by(Run.status)
            if ids is not None:
                q = q.where(Run.id.in_(ids))
            return dict(s.execute(q).all())

    def close(self) -> None:
        self.http.close()
        close_database(self.url)
        if self.schema:
            admin = sa.create_engine(self.pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            admin.dispose()


def run_all(engine: Engine, digest: str, inputs: list[dict], *, timeout: float = 600) -> tuple[float, list[str]]:
    """Start every input with ``engine.start_run`` and wait until all executions ended; (seconds, run ids)."""
    t = time.perf_counter()
    ids = [engine.start_run(digest, i) for i in inputs]
    engine.wait_idle(timeout=timeout)
    return time.perf_counter() - t, ids


def run_one(engine: Engine, digest: str, inp: dict) -> tuple[float, runs.Run | object]:
    t = time.perf_counter()
    rid = engine.create_run(digest, inp)
    out = engine.run_sync(rid)
    return time.perf_counter() - t, out


def _check(outcome, want: str = runs.SUCCEEDED) -> None:
    if outcome.status != want:
        raise SystemExit(f"bench run {outcome.run_id} ended {outcome.status}, not {want}: {outcome.error}")


# -- sections -------------------------------------------------------------------------------------------------


def bench_calls(t: Target, q: bool) -> dict:
    """1. Pure host calls: a run dominated by log.write calls, and one by kv.get (+ node.event) calls."""
    eng = t.engine()
    d = t.digests["pure"]
    n = 500 if q else 2000
    reps = 2 if q else 3
    run_one(eng, d, {"logs": 10, "n": 10})  # warm: component loaded, first instance made
    out: dict = {}
    for label, inp in (("log.write", {"logs": n}), ("kv.get", {"n": n})):
        walls, per_call = [], []
        PROBE.reset()
        PROBE.recording = True
        for _ in range(reps):
            before = sum(len(v) for v in PROBE.calls.values())
            wall, outcome = run_one(eng, d, inp)
            _check(outcome)
            calls = sum(len(v) for v in PROBE.calls.values()) - before
            walls.append(wall)
            per_call.append(wall / calls)
        PROBE.recording = False
        host_all = [x for v in PROBE.calls.values() for x in v]
        out[label] = {
            "items": n,
            "calls_per_run": round(sum(len(v) for v in PROBE.calls.values()) / reps),
            "run_ms_p50": _ms(statistics.median(walls)),
            "wall_per_call_ms_p50": _ms(statistics.median(per_call)),
            "host_call_all": _dist(host_all),
            "host_call_by_capability": {k: _dist(v) for k, v in PROBE.calls.items()},
        }
        dist = out[label]["host_call_by_capability"][label]
        REPORT.row(
            "calls", f"run of {n:,} {label} calls: wall per call (guest+host)", out[label]["wall_per_call_ms_p50"], "ms"
        )
        REPORT.row("calls", f"{label} host-side p50 (RunHost.call)", dist["p50_ms"], "ms, target <= 0.3")
        REPORT.row("calls", f"{label} host-side p99", dist["p99_ms"], "ms")
        if "node.event" in out[label]["host_call_by_capability"]:
            ne = out[label]["host_call_by_capability"]["node.event"]
            REPORT.row("calls", "node.event host-side p50 / p99", f"{ne['p50_ms']} / {ne['p99_ms']}", "ms")
    eng.close()
    return out


def _raw_fsync(folder: Path, n: int) -> list[float]:
    path = folder / "fsync-probe.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    out = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, b"x" * 128)
            os.fsync(fd)
            out.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return out


def _raw_sqlite_commit(folder: Path, n: int) -> list[float]:
    path = folder / "commit-probe.db"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    out = []
    for i in range(n):
        t = time.perf_counter()
        con.execute("BEGIN")
        con.execute("INSERT INTO t (v) VALUES (?)", (f"row {i}" * 8,))
        con.execute("COMMIT")
        out.append(time.perf_counter() - t)
    con.close()
    for p in folder.glob("commit-probe.db*"):
        p.unlink()
    return out


def _raw_pg_commit(t: Target, n: int) -> list[float]:
    eng = sa.create_engine(t.url.replace("postgresql://", "postgresql+psycopg://", 1))
    out = []
    with eng.connect() as conn:
        conn.execute(sa.text("CREATE TABLE commit_probe (id serial PRIMARY KEY, v text)"))
        conn.commit()
        for i in range(n):
            s = time.perf_counter()
            conn.execute(sa.text("INSERT INTO commit_probe (v) VALUES (:v)"), {"v": f"row {i}"})
            conn.commit()
            out.append(time.perf_counter() - s)
        conn.execute(sa.text("DROP TABLE commit_probe"))
        conn.commit()
    eng.dispose()
    return out


def _raw_http(base: str, n: int) -> list[float]:
    import httpx

    out = []
    with httpx.Client(trust_env=False) as c:
        c.get(base + "/fast")
        for _ in range(n):
            s = time.perf_counter()
            c.get(base + "/fast").raise_for_status()
            out.append(time.perf_counter() - s)
    return out


def bench_effect(t: Target, q: bool, server: LocalServer) -> dict:
    """2. A side-effecting call (http.request to 127.0.0.1: one durable intent commit + the request)."""
    n = 100 if q else 300
    eng = t.engine()
    d = t.digests["http"]
    run_one(eng, d, {"base": server.base, "n": 5})
    PROBE.reset()
    PROBE.recording = True
    wall, outcome = run_one(eng, d, {"base": server.base, "n": n})
    PROBE.recording = False
    _check(outcome)
    eng.close()
    call = _dist(PROBE.calls["http.request"])
    fsync = _dist(_raw_fsync(t.instance, n))
    http_raw = _dist(_raw_http(server.base, n))
    out = {"http_request": call, "raw_fsync": fsync, "raw_http_roundtrip": http_raw, "run_ms": _ms(wall)}
    if t.schema:
        out["raw_commit"] = _dist(_raw_pg_commit(t, n))
        commit_label = "raw PostgreSQL INSERT+COMMIT (synchronous_commit default)"
    else:
        out["raw_commit"] = _dist(_raw_sqlite_commit(t.instance, n))
        commit_label = "raw SQLite INSERT+COMMIT (WAL, synchronous=FULL)"
    REPORT.row("effect", "http.request to 127.0.0.1 (intent commit + request) p50", call["p50_ms"], "ms")
    REPORT.row("effect", "http.request p99", call["p99_ms"], "ms")
    REPORT.row(
        "effect",
        "raw os.fsync of 128 B in the instance folder p50 / p99",
        f"{fsync['p50_ms']} / {fsync['p99_ms']}",
        "ms",
    )
    REPORT.row(
        "effect", f"{commit_label} p50 / p99", f"{out['raw_commit']['p50_ms']} / {out['raw_commit']['p99_ms']}", "ms"
    )
    REPORT.row(
        "effect", "raw httpx GET to the same server p50 / p99", f"{http_raw['p50_ms']} / {http_raw['p99_ms']}", "ms"
    )
    over = call["p50_ms"] - out["raw_commit"]["p50_ms"] - http_raw["p50_ms"]
    out["overhead_ms_p50"] = round(over, 3)
    REPORT.row("effect", "http.request p50 minus raw commit minus raw GET (engine overhead)", round(over, 3), "ms")
    return out


def bench_commits(t: Target, q: bool) -> dict:
    """3. Durable commits per second with 1, 8 and 64 concurrent runs, each doing kv.set after kv.set.

    Each kv.set commits with its journal record (one group-committer item). Besides the whole wall time
    (which includes starting and finishing the runs), the rate is taken over the middle 80% of all kv.set
    completions (steady state). The committer thread's busy share in that window says whether it is the
    bottleneck, and its time per item what a commit costs besides the fsync.
    """
    d = t.digests["kvset"]
    plan = {1: 100, 8: 40, 64: 10} if q else {1: 400, 8: 150, 64: 40}
    out: dict = {}
    for conc, per_run in plan.items():
        eng = t.engine(concurrency=conc)
        run_one(eng, d, {"n": 2, "r": "warm"})
        c0, i0 = eng.committer.commits, eng.committer.items
        PROBE.reset()
        PROBE.recording = True
        ids = [eng.create_run(d, {"n": per_run, "r": f"{conc}-{k}"}) for k in range(conc)]
        started = time.perf_counter()
        for rid in ids:  # created first, then kicked together, so that all runs overlap
            eng.kick(rid)
        eng.wait_idle(timeout=600)
        wall = time.perf_counter() - started
        PROBE.recording = False
        commits, items = eng.committer.commits - c0, eng.committer.items - i0
        st = t.statuses(ids)
        eng.close()
        if st.get(runs.SUCCEEDED) != conc:
            raise SystemExit(f"commits bench: runs ended {st}")
        done = sorted(when for when, _ in PROBE.done)
        lo, hi = int(len(done) * 0.1), int(len(done) * 0.9)
        t_a, t_b = done[lo], done[hi]
        window = t_b - t_a
        steady = (hi - lo) / window
        in_win = [(a, b, n) for a, b, n in PROBE.batches if t_a <= b <= t_b]
        busy = sum(b - a for a, b, _ in in_win) / window
        per_item = sum(b - a for a, b, _ in PROBE.batches) / max(1, sum(n for *_, n in PROBE.batches))
        writes = conc * per_run
        out[conc] = {
            "runs": conc,
            "kv_set_per_run": per_run,
            "seconds": round(wall, 3),
            "kv_sets_per_s": round(writes / wall, 1),
            "steady_kv_sets_per_s": round(steady, 1),
            "steady_window_s": round(window, 3),
            "transactions": commits,
            "items": items,
            "items_per_transaction": round(items / max(commits, 1), 2),
            "steady_items_per_transaction": round(sum(n for *_, n in in_win) / max(1, len(in_win)), 2),
            "committer_busy_share": round(busy, 2),
            "committer_ms_per_item": _ms(per_item),
        }
        r = out[conc]
        REPORT.row(
            "commits",
            f"{conc:>2} runs x {per_run} kv.set: durable kv.set/s (whole / steady)",
            f"{r['kv_sets_per_s']} / {r['steady_kv_sets_per_s']}",
            f"{items:,} items in {commits:,} txns ({r['items_per_transaction']}/txn, steady "
            f"{r['steady_items_per_transaction']}); committer busy {r['committer_busy_share']}, "
            f"{r['committer_ms_per_item']} ms/item",
        )
    out["scaling_64_vs_1"] = round(out[64]["steady_kv_sets_per_s"] / out[1]["steady_kv_sets_per_s"], 2)
    REPORT.row("commits", "steady throughput ratio 64 runs / 1 run", out["scaling_64_vs_1"], "x")
    return out


def bench_start(t: Target, q: bool) -> dict:
    """4a. Run start: create + claim + instantiate + first node event, sequentially, one at a time."""
    eng = t.engine()
    d = t.digests["three"]
    n = 30 if q else 100
    for _ in range(3):
        run_one(eng, d, {"i": 1})
    create, to_inst, to_first, total, whole = [], [], [], [], []
    for i in range(n):
        PROBE.reset()
        s = time.perf_counter()
        rid = eng.create_run(d, {"i": i})
        c = time.perf_counter()
        outcome = eng.run_sync(rid)
        e = time.perf_counter()
        _check(outcome)
        inst = PROBE.instantiate_at[threading.get_ident()]
        first = PROBE.first_call[rid]
        create.append(c - s)
        to_inst.append(inst - c)
        to_first.append(first - inst)
        total.append(first - s)
        whole.append(e - s)
    eng.close()
    out = {
        "start": _dist(total),
        "create": _dist(create),
        "claim_and_prepare": _dist(to_inst),
        "instantiate_to_first_event": _dist(to_first),
        "whole_run": _dist(whole),
    }
    REPORT.row(
        "start", "run start p50 (create+claim+instantiate+first node event)", out["start"]["p50_ms"], "ms, target <= 5"
    )
    REPORT.row("start", "  create_run (one commit) p50", out["create"]["p50_ms"], "ms")
    REPORT.row("start", "  claim + load journal + run.started event p50", out["claim_and_prepare"]["p50_ms"], "ms")
    REPORT.row("start", "  instantiate + first node.event p50", out["instantiate_to_first_event"]["p50_ms"], "ms")
    REPORT.row("start", "whole three-step run, one at a time, p50", out["whole_run"]["p50_ms"], "ms")
    return out


def bench_throughput(t: Target, q: bool) -> dict:
    """4b. Three-step workflows per second in one process: runs started with engine.start_run (created and
    claimed in the calling thread) and executed by the engine's pool; run_concurrency 8, and 2 to compare."""
    d = t.digests["three"]
    n = 200 if q else 600
    out: dict = {}
    for conc in (8, 2):
        eng = t.engine(concurrency=conc)
        run_all(eng, d, [{"i": i} for i in range(16)])
        c0, i0 = eng.committer.commits, eng.committer.items
        wall, ids = run_all(eng, d, [{"i": i} for i in range(n)])
        commits, items = eng.committer.commits - c0, eng.committer.items - i0
        eng.close()
        st = t.statuses(ids)
        if st.get(runs.SUCCEEDED) != n:
            raise SystemExit(f"throughput bench: runs ended {st}")
        rate = n / wall
        out[f"run_concurrency_{conc}"] = r = {
            "runs": n,
            "seconds": round(wall, 3),
            "runs_per_s": round(rate, 1),
            "vs_n8n_220": round(rate / N8N_RUNS_PER_S, 2),
            "group_commit_items_per_transaction": round(items / max(commits, 1), 2),
        }
        REPORT.row(
            "throughput",
            f"three-step runs/s, one process, run_concurrency {conc} ({n} runs)",
            r["runs_per_s"],
            f"n8n 220/s -> x{r['vs_n8n_220']}",
        )
    return out


def bench_workers(t: Target, q: bool, workers_list: tuple[int, ...]) -> dict:
    """4c. Three-step workflows per second executed by `wasmflow worker` processes on one database."""
    d = t.digests["three"]
    n = 200 if q else 600
    out: dict = {}
    env = dict(os.environ, WASMFLOW_DATABASE_URL=t.url, WASMFLOW_ARTIFACTS_DIR=str(t.cache / "artifacts"))
    exe = str(Path(sys.executable).parent / "wasmflow")
    for count in workers_list:
        procs = []
        try:
            for _ in range(count):
                procs.append(
                    subprocess.Popen(
                        [exe, "--instance", str(t.instance), "worker", "--concurrency", "8"],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                )
            for p in procs:
                line = p.stderr.readline()
                if "polling" not in line:
                    raise SystemExit(f"worker did not start: {line!r}")
            with t.db.session() as s:  # warm each worker (component load, first instance)
                warm = [
                    runs.create_run(s, workflow_name="bench-three", digest=d, input={"i": 0}) for _ in range(8 * count)
                ]
            _wait_done(t, warm, timeout=120)
            with t.db.session() as s:
                ids = [runs.create_run(s, workflow_name="bench-three", digest=d, input={"i": i}) for i in range(n)]
            start = time.perf_counter()
            _wait_done(t, ids, timeout=600)
            wall = time.perf_counter() - start
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        rate = n / wall
        out[count] = {"workers": count, "runs": n, "seconds": round(wall, 3), "runs_per_s": round(rate, 1)}
        REPORT.row(
            "workers",
            f"three-step runs/s with {count} `wasmflow worker` process(es) ({n} queued)",
            out[count]["runs_per_s"],
            f"n8n 220/s -> x{rate / N8N_RUNS_PER_S:.2f}",
        )
    return out


def _wait_done(t: Target, ids: list[str], *, timeout: float) -> None:
    end = time.monotonic() + timeout
    first, last = min(ids), max(ids)  # run ids sort by creation time: count the batch by range, every 50 ms
    while time.monotonic() < end:
        with t.db.session() as s:
            q = sa.select(Run.status, sa.func.count()).where(Run.id >= first, Run.id <= last).group_by(Run.status)
            st = dict(s.execute(q).all())
        if st.get(runs.SUCCEEDED, 0) >= len(ids):
            return
        if st.get(runs.FAILED) or st.get(runs.NEEDS_ATTENTION):
            raise SystemExit(f"worker runs ended badly: {st}")
        time.sleep(0.05)
    raise SystemExit(f"worker runs did not finish in {timeout} s: {t.statuses(ids)}")


def bench_resume(t: Target, q: bool) -> dict:
    """5. Resume by replay of a run with ~1,000 and ~10,000 journaled calls (kv.get map, then a 1 h wait)."""
    d = t.digests["pure"]
    eng = t.engine()
    run_one(eng, d, {"n": 5})
    sizes = (1000, 4000) if q else (1000, 10000)
    orig_load = executor.load_journal
    load_s: list[float] = []

    def timed_load(world, run_id):
        s = time.perf_counter()
        try:
            return orig_load(world, run_id)
        finally:
            load_s.append(time.perf_counter() - s)

    executor.load_journal = timed_load
    out: dict = {}
    try:
        for size in sizes:
            items = max(1, (size - 14) // 3)  # 3 calls per item (node.event x2, kv.get) + ~14 around it
            live, outcome = run_one(eng, d, {"n": items, "hold": True})
            _check(outcome, runs.WAITING)
            rid = outcome.run_id
            past = runs.utcnow() - timedelta(seconds=1)
            with t.db.session() as s:
                journaled = s.execute(sa.select(sa.func.count()).where(JournalEntry.run_id == rid)).scalar_one()
                s.execute(sa.update(Wait).where(Wait.run_id == rid).values(wake_at=past))
                s.execute(sa.update(Run).where(Run.id == rid).values(wake_at=past))
            load_s.clear()
            st = time.perf_counter()
            outcome = eng.run_sync(rid)
            resume = time.perf_counter() - st
            _check(outcome)
            out[size] = {
                "journaled_calls": journaled,
                "first_execution_ms": _ms(live),
                "resume_ms": _ms(resume),
                "load_journal_ms": _ms(load_s[-1]),
                "resume_ms_per_1000_calls": round(resume * 1000 / journaled * 1000, 2),
            }
            REPORT.row(
                "resume",
                f"resume (replay) of {journaled:,} journaled calls to completion",
                out[size]["resume_ms"],
                f"ms ({out[size]['resume_ms_per_1000_calls']} ms/1k calls; load_journal {out[size]['load_journal_ms']} ms;"
                f" live first execution {out[size]['first_execution_ms']:.0f} ms)",
            )
    finally:
        executor.load_journal = orig_load
        eng.close()
    a, b = (out[s]["resume_ms_per_1000_calls"] for s in sizes)
    out["per_call_ratio_large_vs_small"] = round(b / a, 2)
    REPORT.row("resume", "ms per 1k calls, large / small (1.0 = linear)", out["per_call_ratio_large_vs_small"], "x")
    return out


def bench_fanout(t: Target, q: bool, server: LocalServer) -> dict:
    """6. A map of HTTP calls against a local endpoint with 20 ms latency, at concurrency 1 and 20."""
    eng = t.engine()
    d = t.digests["http"]
    n_seq = 100 if q else 1000
    n_par = 200 if q else 1000
    run_one(eng, d, {"base": server.base, "n": 20, "mode": "par"})
    out = {}
    for mode, n in (("seq", n_seq), ("par", n_par)):
        wall, outcome = run_one(eng, d, {"base": server.base, "n": n, "mode": mode, "path": "/lat20"})
        _check(outcome)
        conc = 1 if mode == "seq" else 20
        ideal = n * 0.02 / conc
        out[f"concurrency_{conc}"] = {"items": n, "seconds": round(wall, 2), "ideal_s": round(ideal, 2)}
        REPORT.row(
            "fanout",
            f"{n:,} x GET (20 ms latency) in a map, concurrency {conc}",
            round(wall, 2),
            f"s (ideal {ideal:.1f} s)",
        )
    eng.close()
    return out


def bench_memory(t: Target, q: bool, server: LocalServer) -> dict:
    """7. RSS per live run (20 runs blocked in an HTTP call), and RSS of many WAITING runs.

    WAITING runs are started in chunks of 100; should the RSS grow past MEMORY_CAP_MB (a leak), the
    section stops there and reports the growth per run measured so far instead of exhausting the machine.
    """
    live = 20
    waiting = 200 if q else 1000
    eng = t.engine(concurrency=live)
    d_http, d_pure = t.digests["http"], t.digests["pure"]
    run_all(eng, d_http, [{"base": server.base, "n": 1} for _ in range(live)])  # threads, pools, instances warm
    gc.collect()
    time.sleep(0.5)
    base = rss_kb()
    ids = [eng.start_run(d_http, {"base": server.base, "n": 1, "path": "/slow"}) for _ in range(live)]
    end = time.monotonic() + 30
    while PROBE.in_flight["http.request"] < live and time.monotonic() < end:
        time.sleep(0.01)
    blocked = PROBE.in_flight["http.request"]
    time.sleep(0.3)
    during = rss_kb()
    eng.wait_idle(timeout=60)
    st = t.statuses(ids)
    if st.get(runs.SUCCEEDED) != live:
        raise SystemExit(f"memory bench: live runs ended {st}")
    gc.collect()
    time.sleep(0.5)
    base2 = after = rss_kb()
    started, wall, wids = 0, 0.0, []
    while started < waiting and (after - base2) / 1024 < MEMORY_CAP_MB:
        chunk = min(100, waiting - started)
        seconds, ids = run_all(eng, d_pure, [{"hold": True} for _ in range(chunk)])
        wall += seconds
        wids += ids
        started += chunk
        gc.collect()
        time.sleep(0.3)
        after = rss_kb()
    st = t.statuses(wids)
    eng.close()
    if st.get(runs.WAITING) != started:
        raise SystemExit(f"memory bench: waiting runs ended {st}")
    per_live = (during - base) / blocked if blocked else float("nan")
    per_waiting = (after - base2) / started
    out = {
        "rss_idle_mb": round(base / 1024, 1),
        "live_runs_blocked": blocked,
        "rss_with_live_runs_mb": round(during / 1024, 1),
        "rss_per_live_run_mb": round(per_live / 1024, 2),
        "waiting_runs_planned": waiting,
        "waiting_runs": started,
        "rss_before_waiting_mb": round(base2 / 1024, 1),
        "rss_after_waiting_mb": round(after / 1024, 1),
        "rss_per_waiting_run_kb": round(per_waiting, 1),
        "rss_for_1000_waiting_runs_mb_extrapolated": round(per_waiting * 1000 / 1024, 1),
        "stopped_at_cap": started < waiting,
        "waiting_runs_suspended_per_s": round(started / wall, 1),
    }
    REPORT.row(
        "memory",
        f"RSS growth per live run ({blocked} blocked in http.request)",
        out["rss_per_live_run_mb"],
        f"MB (idle {out['rss_idle_mb']} MB)",
    )
    cap = (
        f"; stopped at the {MEMORY_CAP_MB} MB cap, 1,000 would be ~{per_waiting * 1000 / 1024:,.0f} MB"
        if started < waiting
        else ""
    )
    REPORT.row(
        "memory",
        f"RSS growth for {started:,} WAITING runs (total)",
        round((after - base2) / 1024, 1),
        f"MB ({out['rss_per_waiting_run_kb']} kB/run; {out['rss_before_waiting_mb']} -> {out['rss_after_waiting_mb']} MB{cap})",
    )
    return out


# -- main -----------------------------------------------------------------------------------------------------


def bench(args) -> dict:
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = only - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--only: unknown sections {', '.join(sorted(unknown))} (choose from {', '.join(SECTIONS)})")
    cache = Path(args.cache).resolve()
    digests = compile_all(cache)
    PROBE.install()
    (ROOT / "build").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-runtime-", dir=ROOT / "build"))
    server = LocalServer(slow=4.0)
    result: dict = {
        "bench": "runtime",
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "databases": {},
    }
    targets = [("sqlite", None)] + ([("postgres", args.postgres)] if args.postgres else [])
    try:
        for label, pg in targets:
            print(f"\n== {label} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores) ==", flush=True)
            res: dict = {}
            result["databases"][label] = res
            t = Target(label, workdir, cache, digests, pg)
            try:
                if "calls" in only and label == "sqlite":
                    res["calls"] = bench_calls(t, args.quick)
                if "effect" in only:
                    res["effect"] = bench_effect(t, args.quick, server)
                if "commits" in only:
                    res["commits"] = bench_commits(t, args.quick)
                if "start" in only:
                    res["start"] = bench_start(t, args.quick)
                if "throughput" in only:
                    res["throughput"] = bench_throughput(t, args.quick)
                if "workers" in only:
                    res["workers"] = bench_workers(t, args.quick, (2,) if args.quick else (1, 2))
                if "resume" in only:
                    res["resume"] = bench_resume(t, args.quick)
                if "fanout" in only and label == "sqlite":
                    res["fanout"] = bench_fanout(t, args.quick, server)
                if "memory" in only and label == "sqlite":
                    res["memory"] = bench_memory(t, args.quick, server)
            finally:
                t.close()
    finally:
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(float(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(SECTIONS)}")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    ap.add_argument("--postgres", metavar="URL", help="also measure on PostgreSQL (a fresh schema, dropped after)")
    ap.add_argument("--cache", default=str(ROOT / "build" / "bench-cache"), help="compiled artifact cache folder")
    args = ap.parse_args()
    started = time.perf_counter()
    result = bench(args)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    REPORT.table()
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
