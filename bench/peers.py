"""Side by side: wasmflow against n8n, Restate and DBOS on the same small workflows, driven by one client.

Run: .venv/bin/python bench/peers.py [--engines wasmflow,restate,dbos,n8n] [--quick]
     [--sequential 200] [--total 1000] [--inflight 8,32] [--wasmflow-db sqlite|postgres]
     [--wasmflow-cmd '...{instance}...{port}...'] [--wasmflow-env KEY=VALUE ...] [--keep]

The peers are installed by this script into build/peers/ (npm and PyPI by name, versions pinned in PINS below;
a stamp file per peer, so a second run installs nothing): n8n (npm, its default SQLite database), the Restate
server (npm @restatedev/restate-server ships the binary) with a Node service on @restatedev/restate-sdk
(bench/peers/restate/service.mjs), and DBOS Transact for Python in its own venv (bench/peers/dbos/app.py) on
a fresh database of the local PostgreSQL (127.0.0.1:5432, user postgres). wasmflow is started exactly as
bench/api.py starts it: `wasmflow serve` on a free port, a fresh instance folder under build/, the artifact
cache build/bench-cache (compiled once, then cache hits), the workflows created and deployed over the REST API.

Workloads, the same for every engine (each node a durable step: a wasmflow node, a Restate ctx.run, a DBOS
@DBOS.step, an n8n node):
  (a) POST {"i": n} -> shape = {id: i, total: i*2} -> label = {label: "order-"+id, big: total>10} -> answer
  (b) the same with a side-effecting POST (JSON) to a local HTTP server of this script between the two steps;
      the server counts calls by business key ("order-<i>"): every run must call it exactly once.
Each in two modes:
  sync:  the HTTP request is answered with the label (wasmflow respond node, Restate ingress call, DBOS
         running the workflow in the request, n8n "Respond to Webhook").
  async: answered at once, completion observed separately: wasmflow 202 + `run.succeeded` on the WebSocket
         /api/ws?workflow=<name> (one socket per workflow, as bench/api.py); Restate /send with an
         idempotency-key + GET /restate/invocation/<id>/attach (blocks until the result); DBOS
         DBOS.start_workflow answering the workflow id + GET /result/<id> awaiting the handle in the app;
         n8n webhook "respond immediately" + polling its executions table (execution_entity in its SQLite
         file, read-only, every 5 ms) until the count of finished executions reaches the count posted.
Figures per engine, workload and mode: sequential p50/p99 (client-observed, POST until answer or completion),
runs/s over --total runs with each --inflight count of client threads (async: that many threads posting back
to back plus as many waiting for completions; the wall time ends at the last completion), CPU ms per run
(user+system of the engine's whole process tree from /proc/<pid>/stat, reaped children included, over the
throughput phase; for PostgreSQL-backed runs the backends of that database are shown apart as "+pg"), and
RSS of the process tree (VmRSS summed) idle after warm-up and the max sampled under load (PostgreSQL
backends apart, without shared memory). Engines run one after the other (started, measured, stopped), never
together, on a 2-core machine shared with other work: the load average is printed and recorded.

Prints a table per workload with one row per engine (its durability setting as measured, ratios
wasmflow/peer for runs/s and p50), a resources table, then one JSON line {"bench": "peers", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from simple_websocket import Client, ConnectionClosed  # noqa: E402

HOST = "127.0.0.1"
PG = "postgresql://postgres@127.0.0.1:5432"
PEERS = ROOT / "build" / "peers"  # installs (kept between runs)
SRC = ROOT / "bench" / "peers"  # the peers' apps (in git)
ENGINES = ("wasmflow", "restate", "dbos", "n8n")
WORKLOADS = ("a", "b")
MODES = ("sync", "async")
TITLES = {
    "a": "(a) webhook -> transform -> transform -> respond",
    "b": "(b) webhook -> transform -> HTTP POST (side effect) -> transform -> respond",
}
PINS = {
    # n8n 1.123.50 is the newest release that runs on Node 20 (2.x wants Node >= 24; from 1.123.60 on it pulls
    # isolated-vm 6, which does not build on Node 20). Its package.json overrides xlsx (see bench/peers/n8n).
    "n8n": {"n8n": "1.123.50", "xlsx (override)": "0.18.5"},
    "restate": {"@restatedev/restate-server": "1.7.12", "@restatedev/restate-sdk": "1.17.2"},
    "dbos": {"dbos": "3.4.0"},
}
RESULTS: dict = {}  # everything measured, printed as the final JSON line

# -- small helpers --------------------------------------------------------------------------------------------


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


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _expected(i: int) -> dict:
    return {"label": f"order-{i}", "big": i * 2 > 10}


def _du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True).stdout.split()
    return float(out[0]) if out else 0.0


def _psql(sql: str, db: str = "postgres") -> str:
    r = subprocess.run(
        ["psql", "-h", HOST, "-U", "postgres", "-d", db, "-Atc", sql], capture_output=True, text=True, timeout=30
    )
    if r.returncode:
        raise RuntimeError(f"psql {sql!r}: {r.stderr.strip()}")
    return r.stdout.strip()


def _wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, ok=(200,)) -> None:
    end = time.monotonic() + timeout
    last = ""
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before {url} answered")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code in ok:
                return
            last = f"{r.status_code} {r.text[:100]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s ({last})")


# -- processes: started in their own session, ended by their process group id ----------------------------------


class Procs:
    """Every process this script starts, each in a session of its own so its children go with it."""

    def __init__(self) -> None:
        self.live: list[subprocess.Popen] = []

    def start(self, cmd: list[str], *, env: dict, log: Path, cwd: Path = ROOT) -> subprocess.Popen:
        out = open(log, "ab")  # noqa: SIM115 - lives as long as the process
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        self.live.append(p)
        return p

    def stop(self, p: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # the group's leftovers (children that outlived their parent), then the leader if still there
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if p.poll() is None:
            p.wait()
        if p in self.live:
            self.live.remove(p)

    def stop_all(self) -> None:
        for p in list(self.live):
            self.stop(p, timeout=10)


PROCS = Procs()


def _tree(roots: list[int]) -> list[int]:
    """The pids of roots and all their descendants (from /proc/<pid>/stat ppid fields)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        if pid in out or not os.path.exists(f"/proc/{pid}"):
            continue
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _cpu_s(pid: int, reaped: bool = True) -> float:
    """utime + stime (+ cutime + cstime: children it has reaped) of one process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if reaped else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_kb(pid: int, without_shared: bool = False) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            rows = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return 0
    if without_shared:
        return sum(int(rows.get(k, "0 kB").split()[0]) for k in ("RssAnon", "RssFile"))
    return int(rows.get("VmRSS", "0 kB").split()[0])


class Meter:
    """CPU and RSS of an engine's process trees, plus the PostgreSQL backends of its database if it has one."""

    def __init__(self, roots: list[int], pg_db: str | None) -> None:
        self.roots = roots
        self.pg_db = pg_db
        self.max_rss_kb = 0
        self.max_pg_kb = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pg_pids(self) -> list[int]:
        if not self.pg_db:
            return []
        out = _psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.pg_db}'")
        return [int(x) for x in out.split()]

    def rss_kb(self) -> int:
        return sum(_rss_kb(p) for p in _tree(self.roots))

    def pg_rss_kb(self) -> int:
        return sum(_rss_kb(p, without_shared=True) for p in self.pg_pids())

    def cpu(self) -> tuple[float, dict[int, float]]:
        return sum(_cpu_s(p) for p in _tree(self.roots)), {p: _cpu_s(p, reaped=False) for p in self.pg_pids()}

    def cpu_since(self, mark) -> tuple[float, float]:
        eng0, pg0 = mark
        eng1, pg1 = self.cpu()
        return eng1 - eng0, sum(v - pg0.get(p, 0.0) for p, v in pg1.items())

    def sample(self) -> None:
        self.max_rss_kb = max(self.max_rss_kb, self.rss_kb())
        if self.pg_db:
            self.max_pg_kb = max(self.max_pg_kb, self.pg_rss_kb())

    def start_sampling(self, every: float = 0.25) -> None:
        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.sample()
                except Exception:  # noqa: BLE001 - a sampling hiccup (a process gone) is not a bench failure
                    pass

        self._thread = threading.Thread(target=loop, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop_sampling(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)


# -- the side-effect server -----------------------------------------------------------------------------------


class EffectServer:
    """A tiny threaded HTTP server on 127.0.0.1: POST JSON {"key": ...} is counted by key, answered {"n": count}."""

    def __init__(self, port: int) -> None:
        self.counts: Counter = Counter()
        self.idempotency_keys: Counter = Counter()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    key = json.loads(self.rfile.read(n) or b"{}").get("key")
                except ValueError:
                    key = None
                with outer.lock:
                    outer.counts[key] += 1
                    count = outer.counts[key]
                    if self.headers.get("Idempotency-Key"):
                        outer.idempotency_keys[self.headers["Idempotency-Key"]] += 1
                data = json.dumps({"ok": key is not None, "n": count}).encode()
                self.send_response(200 if key is not None else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

        self.server = Server((HOST, port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{HOST}:{self.port}/effect"
        self.thread = threading.Thread(target=self.server.serve_forever, name="effect-server", daemon=True)
        self.thread.start()

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.idempotency_keys.clear()

    def check(self, keys: list[int]) -> dict:
        """Exactly one call per business key of `keys`, and no call for any other key."""
        with self.lock:
            counts = dict(self.counts)
        want = {f"order-{i}" for i in keys}
        missing = sorted(k for k in want if counts.get(k, 0) == 0)
        twice = sorted(k for k in want if counts.get(k, 0) > 1)
        extra = sorted(str(k) for k in counts if k not in want)
        return {
            "keys": len(want),
            "calls": sum(counts.values()),
            "missing": len(missing),
            "more_than_once": len(twice),
            "unexpected_keys": len(extra),
            "sample": (missing + twice + extra)[:5],
            "ok": not missing and not twice and not extra,
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- installs ----------------------------------------------------------------------------------------------------


def _stamp_ok(folder: Path, want: dict) -> bool:
    try:
        return json.loads((folder / ".peers-stamp").read_text()) == want
    except (OSError, ValueError):
        return False


def install(engine: str) -> dict:
    """Install one peer into build/peers/<engine>/ unless its stamp says it is there already."""
    folder = PEERS / engine
    want = {"pins": PINS[engine]}
    if engine in ("n8n", "restate"):
        want["package.json"] = (SRC / engine / "package.json").read_text()
    else:
        want["requirements.txt"] = (SRC / "dbos" / "requirements.txt").read_text()
    info = {"versions": PINS[engine], "folder": str(folder.relative_to(ROOT))}
    if _stamp_ok(folder, want):
        info.update(installed_now=False, seconds=0.0, size_mb=_du_mb(folder))
        return info
    folder.mkdir(parents=True, exist_ok=True)
    log = folder.parent / f"{engine}-install.log"
    t = time.perf_counter()
    if engine in ("n8n", "restate"):
        shutil.copy(SRC / engine / "package.json", folder / "package.json")
        cmds = [["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"]]
    else:
        venv = folder / "venv"
        shutil.copy(SRC / "dbos" / "requirements.txt", folder / "requirements.txt")
        cmds = [
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            [str(venv / "bin" / "pip"), "install", "-q", "-r", str(folder / "requirements.txt")],
        ]
    print(f"  installing {engine} {PINS[engine]} into {folder.relative_to(ROOT)} (log {log.name}) ...", flush=True)
    with open(log, "w") as out:
        for cmd in cmds:
            r = subprocess.run(cmd, cwd=folder, stdout=out, stderr=subprocess.STDOUT, timeout=1800)
            if r.returncode:
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"install failed ({' '.join(cmd[:2])} exit {r.returncode}): {' | '.join(tail)}")
    (folder / ".peers-stamp").write_text(json.dumps(want))
    info.update(installed_now=True, seconds=round(time.perf_counter() - t, 1), size_mb=_du_mb(folder))
    return info


# -- engines ---------------------------------------------------------------------------------------------------


class Engine:
    """One engine under test. Subclasses start it, call it (sync / async start / async wait) and stop it."""

    name = ""

    def __init__(self, args, work: Path, effect: EffectServer) -> None:
        self.args = args
        self.work = work
        self.effect = effect
        self.durability = "?"
        self.pg_db: str | None = None
        self.base = ""

    def roots(self) -> list[int]:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=120)

    def sync_call(self, c: httpx.Client, wl: str, i: int) -> dict:
        raise NotImplementedError

    def async_start(self, c: httpx.Client, wl: str, i: int):
        raise NotImplementedError

    def async_wait(self, c: httpx.Client, wl: str, token, timeout: float = 120) -> dict | None:
        """Blocks until the run of `token` has completed; its result if the engine tells it, else None."""
        raise NotImplementedError

    def extra_checks(self) -> dict:
        return {}

    def _createdb(self) -> str:
        name = f"peers_{self.name}_{secrets.token_hex(4)}"
        _psql(f"CREATE DATABASE {name}")
        self.pg_db = name
        return name

    def _dropdb(self) -> None:
        if self.pg_db:
            try:
                _psql(f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)")
            except RuntimeError as exc:
                print(f"  could not drop database {self.pg_db}: {exc}", flush=True)
            self.pg_db = None

    def _pg_durability(self, db: str) -> str:
        sc = _psql("SHOW synchronous_commit", db)
        fs = _psql("SHOW fsync", db)
        return f"PostgreSQL 127.0.0.1 (synchronous_commit={sc}, fsync={fs})"


# wasmflow ------------------------------------------------------------------------------------------------------


def _wasmflow_workflows(effect_url: str) -> dict[tuple[str, str], dict]:
    shape = {
        "id": "shape",
        "type": "transform",
        "config": {"expression": "{'id': input['body']['i'], 'total': input['body']['i'] * 2}"},
    }
    label = {
        "id": "label",
        "type": "transform",
        "config": {"code": "return {'label': 'order-' + str(shape['id']), 'big': shape['total'] > 10}"},
    }
    call = {
        "id": "call",
        "type": "http.request",
        # The static URL's host is the compile-time grant (the manifest's hosts); the operator's network
        # allow-list (WASMFLOW_HTTP_ALLOW_NETWORKS=127.0.0.1/32, as the tests set it) lets it reach loopback.
        "config": {
            "method": "POST",
            "url": effect_url,
            "body": "{'key': 'order-' + str(shape['id']), 'id': shape['id'], 'total': shape['total']}",
        },
    }
    reply = {"id": "reply", "type": "respond", "config": {"status": 200, "body": "label"}}
    out = {}
    for wl in WORKLOADS:
        for mode in MODES:
            nodes = [
                {
                    "id": "hook",
                    "type": "trigger.webhook",
                    "config": {"method": "POST", "respond": "respond_node" if mode == "sync" else "immediately"},
                },
                shape,
                *([call] if wl == "b" else []),
                label,
                *([reply] if mode == "sync" else []),
            ]
            ids = [n["id"] for n in nodes]
            name = f"peers-{'three' if wl == 'a' else 'effect'}-{mode}"
            out[(wl, mode)] = {
                "dsl": "wasmflow/1",
                "name": name,
                "title": f"peers bench {wl} {mode}",
                "nodes": nodes,
                "edges": [{"from": a, "to": b} for a, b in zip(ids, ids[1:], strict=False)],
            }
    return out


class LiveStream:
    """One WebSocket on /api/ws?workflow=<name>: run end events (and the label node's output), stamped on arrival."""

    def __init__(self, base: str, name: str) -> None:
        self.ws = Client.connect(f"{base.replace('http://', 'ws://')}/api/ws?workflow={name}")
        first = json.loads(self.ws.receive(timeout=10))
        if first.get("type") != "stream.live":
            raise RuntimeError(f"live stream: unexpected first message {first}")
        self.cond = threading.Condition()
        self.ended: dict[str, tuple[str, float]] = {}
        self.label: dict[str, dict] = {}
        self.closed: str | None = None
        self._stop = False
        self.thread = threading.Thread(target=self._read, name=f"ws-{name}", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                raw = self.ws.receive(timeout=0.5)
            except ConnectionClosed as exc:
                with self.cond:
                    self.closed = f"closed {exc.reason} {exc.message}"
                    self.cond.notify_all()
                return
            if raw is None:
                continue
            now = time.time()
            msg = json.loads(raw)
            kind = msg.get("type", "")
            if kind == "node.finished" and msg.get("node") == "label":
                self.label[msg["run_id"]] = (msg.get("data") or {}).get("output")
            elif kind in ("run.succeeded", "run.failed", "run.cancelled", "run.needs_attention"):
                with self.cond:
                    self.ended[msg["run_id"]] = (kind, now)
                    self.cond.notify_all()

    def wait_end(self, run_id: str, timeout: float) -> tuple[str, float]:
        with self.cond:
            if not self.cond.wait_for(lambda: run_id in self.ended or self.closed, timeout=timeout):
                raise RuntimeError(f"run {run_id}: no end event within {timeout} s")
            if run_id not in self.ended:
                raise RuntimeError(f"live stream {self.closed}")
            return self.ended[run_id]

    def close(self) -> None:
        self._stop = True
        self.thread.join(timeout=5)
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - the server may be gone already
            pass


class Wasmflow(Engine):
    name = "wasmflow"

    def __init__(self, args, work, effect) -> None:
        super().__init__(args, work, effect)
        self.proc: subprocess.Popen | None = None
        self.hooks: dict[tuple[str, str], str] = {}
        self.streams: dict[str, LiveStream] = {}
        self.setup: dict = {}
        self.counter = 0
        self.lock = threading.Lock()

    def roots(self) -> list[int]:
        return [self.proc.pid]

    def _compile(self, docs: list[dict]) -> list[str]:
        from app.compiler import open_compiler
        from app.config import Settings

        cache = Path(self.args.cache).resolve()
        cache.mkdir(parents=True, exist_ok=True)
        settings = Settings.load(
            cache, database_url=f"sqlite:///{cache / 'wasmflow.db'}", artifacts_dir=cache / "artifacts"
        )
        pool = open_compiler(settings)
        digests = []
        try:
            for doc in docs:
                t = time.perf_counter()
                digests.append(pool.compile(doc, with_bundle=False).digest)
                print(f"  compiled {doc['name']} in {time.perf_counter() - t:.1f} s (cache {cache})", flush=True)
        finally:
            pool.shutdown()
        return digests

    def _seed(self, url: str, digests: list[str]) -> None:
        from app.store.db import Database
        from app.store.models import Artifact

        cache = Path(self.args.cache).resolve()
        db = Database(url)
        db.upgrade()
        src = Database(f"sqlite:///{cache / 'wasmflow.db'}")
        with src.session() as s, db.session() as d:
            for digest in digests:
                row = s.get(Artifact, digest)
                d.add(Artifact(**{c.name: getattr(row, c.name) for c in Artifact.__table__.columns}))
        src.dispose()
        db.dispose()

    def _sqlite_durability(self, url: str) -> str:
        """The pragmas app/store's engine sets on every connection, read back from a connection it makes."""
        from app.store.db import make_engine

        engine = make_engine(url)
        with engine.connect() as conn:
            jm = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        engine.dispose()
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return f"SQLite journal_mode={jm.upper()}, synchronous={names.get(sync, sync)}"

    def start(self) -> None:
        docs = _wasmflow_workflows(self.effect.url)
        digests = self._compile(list(docs.values()))
        instance = self.work / "instance"
        instance.mkdir(parents=True)
        if self.args.wasmflow_db == "postgres":
            url = f"{PG}/{self._createdb()}"
        else:
            url = f"sqlite:///{instance / 'wasmflow.db'}"
        self._seed(url, digests)
        self.durability = self._pg_durability(self.pg_db) if self.pg_db else self._sqlite_durability(url)
        cache = Path(self.args.cache).resolve()
        env = {
            **os.environ,
            "WASMFLOW_DATABASE_URL": url,
            "WASMFLOW_ARTIFACTS_DIR": str(cache / "artifacts"),
            "WASMFLOW_HTTP_ALLOW_NETWORKS": "127.0.0.1/32",
            "PYTHONUNBUFFERED": "1",
        }
        for kv in self.args.wasmflow_env:
            key, _, value = kv.partition("=")
            env[key] = value
        port = _free_port()
        cmd = self.args.wasmflow_cmd.format(
            exe=str(Path(sys.executable).parent / "wasmflow"),
            python=sys.executable,
            instance=str(instance),
            host=HOST,
            port=port,
        )
        self.cmd = shlex.split(cmd)
        self.proc = PROCS.start(self.cmd, env=env, log=self.work / "serve.log")
        self.base = f"http://{HOST}:{port}"
        _wait_http(f"{self.base}/api/workflows", 90, self.proc)
        t = time.perf_counter()
        with httpx.Client(base_url=self.base, timeout=120) as c:
            for key, doc in docs.items():
                name = doc["name"]
                r = c.post("/api/workflows", json=doc)
                if r.status_code != 201:
                    raise RuntimeError(f"create {name}: {r.status_code} {r.text[:300]}")
                r = c.post(f"/api/workflows/{name}/compile")
                if r.status_code != 200:
                    raise RuntimeError(f"compile {name}: {r.status_code} {r.text[:300]}")
                compiled = r.json()
                if not compiled.get("cache_hit"):
                    print(f"  note: {name} compile was not a cache hit", flush=True)
                r = c.post(f"/api/workflows/{name}/deploy", json={"digest": compiled["digest"]})
                if r.status_code != 200:
                    raise RuntimeError(f"deploy {name}: {r.status_code} {r.text[:300]}")
                url_ = r.json().get("webhook_url") or ""
                self.hooks[key] = "/hooks/" + url_.rstrip("/").rsplit("/", 1)[-1]
        self.setup = {"create_compile_deploy_4_workflows_s": round(time.perf_counter() - t, 2)}
        for wl in WORKLOADS:
            self.streams[wl] = LiveStream(self.base, docs[(wl, "async")]["name"])

    def _post(self, c: httpx.Client, wl: str, mode: str, i: int) -> httpx.Response:
        with self.lock:
            self.counter += 1
            delivery = f"d-{self.counter}-{secrets.token_hex(4)}"
        return c.post(self.hooks[(wl, mode)], json={"i": i}, headers={"X-Delivery-Id": delivery})

    def sync_call(self, c, wl, i):
        r = self._post(c, wl, "sync", i)
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code} {r.text[:200]}")
        return r.json()

    def async_start(self, c, wl, i):
        r = self._post(c, wl, "async", i)
        if r.status_code != 202:
            raise RuntimeError(f"{r.status_code} {r.text[:200]}")
        return r.json()["run_id"]

    def async_wait(self, c, wl, token, timeout=120):
        stream = self.streams[wl]
        kind, _at = stream.wait_end(token, timeout)
        if kind != "run.succeeded":
            raise RuntimeError(f"run {token} ended {kind}")
        return stream.label.get(token)

    def stop(self) -> None:
        for s in self.streams.values():
            s.close()
        if self.proc is not None:
            PROCS.stop(self.proc, signal.SIGINT)  # as bench/api.py ends `wasmflow serve`
        self._dropdb()


# Restate -------------------------------------------------------------------------------------------------------


class Restate(Engine):
    name = "restate"

    def __init__(self, args, work, effect) -> None:
        super().__init__(args, work, effect)
        self.server: subprocess.Popen | None = None
        self.service: subprocess.Popen | None = None
        self.handler = {"a": "three", "b": "effect"}

    def roots(self) -> list[int]:
        return [self.server.pid, self.service.pid]

    def start(self) -> None:
        folder = PEERS / "restate"
        binary = folder / "node_modules" / "@restatedev" / "restate-server-linux-x64" / "bin" / "restate-server"
        ingress, admin, fabric, svc = _free_port(), _free_port(), _free_port(), _free_port()
        env = {
            **os.environ,
            "RESTATE_NODE_NAME": "peers-bench",
            "RESTATE_LISTEN_MODE": "tcp",
            "RESTATE_BIND_ADDRESS": f"{HOST}:{fabric}",
            "RESTATE_INGRESS__BIND_ADDRESS": f"{HOST}:{ingress}",
            "RESTATE_ADMIN__BIND_ADDRESS": f"{HOST}:{admin}",
            "RESTATE_DISABLE_TELEMETRY": "true",
        }
        dumped = subprocess.run([str(binary), "--dump-config"], env=env, capture_output=True, text=True, timeout=60)
        cfg = tomllib.loads(dumped.stdout)
        fsync = not cfg.get("log-server", {}).get("rocksdb-disable-wal-fsync", False)
        self.durability = (
            f"Restate default: {cfg.get('bifrost', {}).get('default-provider')} loglet, "
            f"replication {cfg.get('default-replication')}, RocksDB WAL fsync {'on' if fsync else 'off'}"
        )
        self.config = {
            k: cfg.get(k) for k in ("default-num-partitions", "default-replication", "default-idempotency-retention")
        }
        base_dir = self.work / "restate-data"
        base_dir.mkdir(parents=True)
        self.server = PROCS.start(
            [str(binary), "--base-dir", str(base_dir), "--no-logo"], env=env, log=self.work / "restate-server.log"
        )
        _wait_http(f"http://{HOST}:{admin}/health", 60, self.server)
        shutil.copy(SRC / "restate" / "service.mjs", folder / "service.mjs")  # next to its node_modules
        self.service = PROCS.start(
            ["node", str(folder / "service.mjs")],
            env={**os.environ, "PORT": str(svc), "EFFECT_URL": self.effect.url, "RESTATE_LOGGING": "WARN"},
            log=self.work / "restate-service.log",
            cwd=folder,
        )
        end = time.monotonic() + 60
        while True:
            try:
                r = httpx.post(f"http://{HOST}:{admin}/deployments", json={"uri": f"http://{HOST}:{svc}"}, timeout=10)
                if r.status_code in (200, 201):
                    break
                err = f"{r.status_code} {r.text[:200]}"
            except httpx.TransportError as exc:
                err = repr(exc)
            if time.monotonic() > end or self.service.poll() is not None:
                raise RuntimeError(f"registering the service failed: {err}")
            time.sleep(0.2)
        self.base = f"http://{HOST}:{ingress}"
        end = time.monotonic() + 30
        while True:  # the ingress learns of the new deployment asynchronously
            r = httpx.post(f"{self.base}/peers/three", json={"i": 0}, timeout=30)
            if r.status_code == 200:
                break
            if time.monotonic() > end:
                raise RuntimeError(f"ingress: {r.status_code} {r.text[:200]}")
            time.sleep(0.2)

    def sync_call(self, c, wl, i):
        r = c.post(f"/peers/{self.handler[wl]}", json={"i": i})
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code} {r.text[:200]}")
        return r.json()

    def async_start(self, c, wl, i):
        key = f"k-{wl}-{i}-{secrets.token_hex(4)}"  # keeps the result for attach (idempotency retention)
        r = c.post(f"/peers/{self.handler[wl]}/send", json={"i": i}, headers={"idempotency-key": key})
        if r.status_code not in (200, 202):
            raise RuntimeError(f"{r.status_code} {r.text[:200]}")
        return r.json()["invocationId"]

    def async_wait(self, c, wl, token, timeout=120):
        r = c.get(f"/restate/invocation/{token}/attach", timeout=timeout)
        if r.status_code != 200:
            raise RuntimeError(f"attach {r.status_code} {r.text[:200]}")
        return r.json()

    def stop(self) -> None:
        if self.service is not None:
            PROCS.stop(self.service)
        if self.server is not None:
            PROCS.stop(self.server)


# DBOS ----------------------------------------------------------------------------------------------------------


class Dbos(Engine):
    name = "dbos"

    def __init__(self, args, work, effect) -> None:
        super().__init__(args, work, effect)
        self.proc: subprocess.Popen | None = None
        self.wf = {"a": "three", "b": "effect"}

    def roots(self) -> list[int]:
        return [self.proc.pid]

    def start(self) -> None:
        db = self._createdb()
        self.durability = self._pg_durability(db)
        port = _free_port()
        env = {
            **os.environ,
            "PORT": str(port),
            "DBOS_DATABASE_URL": f"{PG}/{db}",
            "EFFECT_URL": self.effect.url,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("VIRTUAL_ENV", None)
        python = PEERS / "dbos" / "venv" / "bin" / "python"
        self.proc = PROCS.start([str(python), str(SRC / "dbos" / "app.py")], env=env, log=self.work / "dbos.log")
        self.base = f"http://{HOST}:{port}"
        _wait_http(f"{self.base}/healthz", 60, self.proc)

    def sync_call(self, c, wl, i):
        r = c.post(f"/run/{self.wf[wl]}", json={"i": i})
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code} {r.text[:200]}")
        return r.json()

    def async_start(self, c, wl, i):
        r = c.post(f"/start/{self.wf[wl]}", json={"i": i})
        if r.status_code != 202:
            raise RuntimeError(f"{r.status_code} {r.text[:200]}")
        return r.json()["workflow_id"]

    def async_wait(self, c, wl, token, timeout=120):
        r = c.get(f"/result/{token}", timeout=timeout)
        if r.status_code != 200:
            raise RuntimeError(f"result {r.status_code} {r.text[:200]}")
        return r.json()

    def extra_checks(self) -> dict:
        out = _psql("SELECT status, count(*) FROM dbos.workflow_status GROUP BY status ORDER BY 1", self.pg_db)
        return {"dbos_workflow_status": dict(line.split("|") for line in out.splitlines())}

    def stop(self) -> None:
        if self.proc is not None:
            PROCS.stop(self.proc)
        self._dropdb()


# n8n -----------------------------------------------------------------------------------------------------------


class N8n(Engine):
    name = "n8n"
    IDS = {
        ("a", "sync"): "PeersThreeSync01",
        ("a", "async"): "PeersThreeAsync1",
        ("b", "sync"): "PeersEffectSync1",
        ("b", "async"): "PeersEffectAsyn1",
    }

    def __init__(self, args, work, effect) -> None:
        super().__init__(args, work, effect)
        self.proc: subprocess.Popen | None = None
        self.posted: Counter = Counter()  # async posts per workflow id
        self.finished: dict[str, int] = {}
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self.poller: threading.Thread | None = None

    def roots(self) -> list[int]:
        return [self.proc.pid]

    def start(self) -> None:
        folder = PEERS / "n8n"
        exe = folder / "node_modules" / ".bin" / "n8n"
        user = self.work / "n8n-user"
        user.mkdir(parents=True)
        port, broker = _free_port(), _free_port()
        self.env = {
            **os.environ,
            "N8N_USER_FOLDER": str(user),
            "N8N_PORT": str(port),
            "N8N_LISTEN_ADDRESS": HOST,
            "N8N_RUNNERS_BROKER_PORT": str(broker),
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
        }
        wf = user / "workflows.json"
        wf.write_text((SRC / "n8n" / "workflows.json").read_text().replace("__EFFECT_URL__", self.effect.url))
        t = time.perf_counter()
        for cmd in (
            [str(exe), "import:workflow", f"--input={wf}"],
            [str(exe), "update:workflow", "--all", "--active=true"],  # import deactivates; this 1.x CLI re-activates
        ):
            r = subprocess.run(cmd, env=self.env, cwd=folder, capture_output=True, text=True, timeout=300)
            if r.returncode:
                raise RuntimeError(f"{cmd[1]}: exit {r.returncode}: {(r.stdout + r.stderr)[-300:]}")
        self.setup = {"import_and_activate_s": round(time.perf_counter() - t, 1)}
        self.db_file = user / ".n8n" / "database.sqlite"
        self.proc = PROCS.start([str(exe), "start"], env=self.env, log=self.work / "n8n.log", cwd=folder)
        self.base = f"http://{HOST}:{port}"
        _wait_http(f"{self.base}/healthz", 120, self.proc)
        end = time.monotonic() + 120
        while True:  # /healthz answers before the active workflows' webhooks are registered
            r = httpx.post(f"{self.base}/webhook/peers-three-sync", json={"i": 0}, timeout=30)
            if r.status_code == 200:
                break
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError(f"webhook not registered: {r.status_code} {r.text[:200]}")
            time.sleep(0.25)
        self.durability = self._durability()
        self.poller = threading.Thread(target=self._poll, name="n8n-executions", daemon=True)
        self.poller.start()

    def _durability(self) -> str:
        con = sqlite3.connect(f"file:{self.db_file}?mode=ro", uri=True)
        try:
            jm = con.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            con.close()
        # n8n sets no synchronous pragma on its (non-pooled, default) SQLite connection: the driver's default.
        probe = (
            "const s=require('sqlite3');const d=new s.Database(':memory:');"
            "d.get('PRAGMA synchronous',(e,r)=>{console.log(JSON.stringify(r));d.close()})"
        )
        r = subprocess.run(["node", "-e", probe], cwd=PEERS / "n8n", capture_output=True, text=True, timeout=30)
        try:
            sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[json.loads(r.stdout)["synchronous"]]
        except (ValueError, KeyError, TypeError):
            sync = "?"
        return (
            f"SQLite journal_mode={jm.upper()}, synchronous={sync} (driver default); an execution is saved when "
            "it ends (defaults: save on success, not on progress)"
        )

    def _poll(self) -> None:
        """Counts of finished executions per workflow, from n8n's SQLite file (read-only) every 5 ms."""
        con = sqlite3.connect(f"file:{self.db_file}?mode=ro", uri=True, timeout=10, check_same_thread=False)
        try:
            while not self._stop.wait(0.005):
                try:
                    rows = con.execute(
                        "SELECT workflowId, count(*) FROM execution_entity "
                        "WHERE status IN ('success', 'error', 'crashed', 'canceled') GROUP BY workflowId"
                    ).fetchall()
                except sqlite3.OperationalError:
                    continue
                with self.cond:
                    self.finished = dict(rows)
                    self.cond.notify_all()
        finally:
            con.close()

    def sync_call(self, c, wl, i):
        r = c.post("/webhook/peers-three-sync" if wl == "a" else "/webhook/peers-effect-sync", json={"i": i})
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code} {r.text[:200]}")
        return r.json()

    def async_start(self, c, wl, i):
        wid = self.IDS[(wl, "async")]
        r = c.post("/webhook/peers-three-async" if wl == "a" else "/webhook/peers-effect-async", json={"i": i})
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code} {r.text[:200]}")
        with self.lock:
            self.posted[wid] += 1
            return self.posted[wid]  # done once that many executions of the workflow have finished

    def async_wait(self, c, wl, token, timeout=120):
        wid = self.IDS[(wl, "async")]
        with self.cond:
            if not self.cond.wait_for(lambda: self.finished.get(wid, 0) >= token, timeout=timeout):
                raise RuntimeError(f"{wid}: {self.finished.get(wid, 0)} finished executions, waiting for {token}")
        return None

    def extra_checks(self) -> dict:
        con = sqlite3.connect(f"file:{self.db_file}?mode=ro", uri=True, timeout=10)
        try:
            rows = con.execute(
                "SELECT workflowId, status, count(*) FROM execution_entity GROUP BY workflowId, status"
            ).fetchall()
        finally:
            con.close()
        by = {f"{w}:{s}": n for w, s, n in rows}
        async_ok = all(
            by.get(f"{wid}:success", 0) == self.posted[wid]
            and sum(n for k, n in by.items() if k.startswith(wid + ":")) == self.posted[wid]
            for wid in (self.IDS[("a", "async")], self.IDS[("b", "async")])
        )
        return {"n8n_executions": by, "n8n_async_posted": dict(self.posted), "n8n_async_all_succeeded": async_ok}

    def stop(self) -> None:
        self._stop.set()
        if self.poller is not None:
            self.poller.join(timeout=5)
        if self.proc is not None:
            PROCS.stop(self.proc)


CLASSES = {"wasmflow": Wasmflow, "restate": Restate, "dbos": Dbos, "n8n": N8n}

# -- the measurements ------------------------------------------------------------------------------------------


class Keys:
    """Business keys: every run of an engine gets its own i (so its side-effect key is unique)."""

    def __init__(self) -> None:
        self.next = 1000
        self.lock = threading.Lock()
        self.used: dict[str, list[int]] = {wl: [] for wl in WORKLOADS}

    def take(self, wl: str) -> int:
        with self.lock:
            self.next += 1
            self.used[wl].append(self.next)
            return self.next


def _check(result: dict | None, i: int, errors: list[str]) -> None:
    if result is not None and result != _expected(i):
        errors.append(f"wrong answer for i={i}: {result}")


def sequential(eng: Engine, wl: str, mode: str, n: int, keys: Keys) -> dict:
    times, errors, unchecked = [], [], 0
    with eng.client() as c:
        for _ in range(n):
            i = keys.take(wl)
            t0 = time.perf_counter()
            try:
                if mode == "sync":
                    res = eng.sync_call(c, wl, i)
                else:
                    res = eng.async_wait(c, wl, eng.async_start(c, wl, i))
            except Exception as exc:  # noqa: BLE001 - counted and shown, the bench goes on
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            times.append(time.perf_counter() - t0)
            unchecked += res is None
            _check(res, i, errors)
    return {**_dist(times), "errors": len(errors), "error_sample": errors[:3], "results_unchecked": unchecked}


def throughput(eng: Engine, wl: str, mode: str, total: int, inflight: int, keys: Keys, meter: Meter) -> dict:
    errors: list[str] = []
    done: list[float] = []
    lock = threading.Lock()
    left = [total]
    unchecked = [0]
    todo: queue.Queue = queue.Queue()
    barrier = threading.Barrier(inflight * (2 if mode == "async" else 1) + 1)

    def take() -> bool:
        with lock:
            if left[0] <= 0:
                return False
            left[0] -= 1
            return True

    def record(res, i, exc=None) -> None:
        with lock:
            if exc is not None:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                return
            done.append(time.time())
            unchecked[0] += res is None
            _check(res, i, errors)

    def caller() -> None:  # sync: call and wait for the answer; async: post back to back
        with eng.client() as c:
            barrier.wait()
            while take():
                i = keys.take(wl)
                try:
                    if mode == "sync":
                        record(eng.sync_call(c, wl, i), i)
                    else:
                        todo.put((i, eng.async_start(c, wl, i)))
                except Exception as exc:  # noqa: BLE001
                    record(None, i, exc)

    def waiter() -> None:  # async: wait for completions as they are posted
        with eng.client() as c:
            barrier.wait()
            while True:
                item = todo.get()
                if item is None:
                    return
                i, token = item
                try:
                    record(eng.async_wait(c, wl, token, timeout=600), i)
                except Exception as exc:  # noqa: BLE001
                    record(None, i, exc)

    callers = [threading.Thread(target=caller, name=f"caller-{k}", daemon=True) for k in range(inflight)]
    waiters = [
        threading.Thread(target=waiter, name=f"waiter-{k}", daemon=True)
        for k in range(inflight if mode == "async" else 0)
    ]
    for t in callers + waiters:
        t.start()
    mark = meter.cpu()
    barrier.wait()
    start = time.time()
    for t in callers:
        t.join()
    posted = time.time()
    for _ in waiters:
        todo.put(None)
    for t in waiters:
        t.join()
    end = max(done) if done else time.time()
    cpu_eng, cpu_pg = meter.cpu_since(mark)
    wall = end - start
    runs = len(done)
    return {
        "inflight": inflight,
        "runs": runs,
        "seconds": round(wall, 3),
        "posting_seconds": round(posted - start, 3),
        "runs_per_s": round(runs / wall, 1) if wall > 0 and runs else None,
        "cpu_ms_per_run": round(cpu_eng * 1000 / runs, 2) if runs else None,
        "pg_cpu_ms_per_run": round(cpu_pg * 1000 / runs, 2) if runs and meter.pg_db else None,
        "cpu_cores_busy": round(cpu_eng / wall, 2) if wall > 0 else None,
        "errors": len(errors),
        "error_sample": errors[:3],
        "results_unchecked": unchecked[0],
        "load_avg_1m": _load(),
    }


def bench_engine(name: str, args, effect: EffectServer) -> dict:
    out: dict = {"engine": name}
    if name != "wasmflow":
        try:
            out["install"] = install(name)
            inst = out["install"]
            print(
                f"  {name}: {inst['versions']} ({'installed in ' + str(inst['seconds']) + ' s' if inst['installed_now'] else 'already installed'}, "
                f"{inst['size_mb']:.0f} MB)",
                flush=True,
            )
        except Exception as exc:  # noqa: BLE001 - a failed install is a row in the table
            out["error"] = f"install: {exc}"[:500]
            return out
    work = ROOT / "build" / f"bench-peers-{name}-{secrets.token_hex(4)}"
    work.mkdir(parents=True)
    out["workdir"] = str(work.relative_to(ROOT))
    eng = CLASSES[name](args, work, effect)
    effect.reset()
    keys = Keys()
    meter = None
    try:
        try:
            t = time.perf_counter()
            eng.start()
            out["start_s"] = round(time.perf_counter() - t, 1)
        except Exception as exc:  # noqa: BLE001
            out["error"] = f"start: {exc}"[:500]
            print(f"  {name} did not start: {out['error']}", flush=True)
            return out
        out["durability"] = eng.durability
        out["setup"] = getattr(eng, "setup", {})
        if name == "wasmflow":
            out["command"] = eng.cmd
        if name == "restate":
            out["restate_config"] = eng.config
        print(f"  {name} started in {out['start_s']} s; durability: {eng.durability}", flush=True)
        meter = Meter(eng.roots(), eng.pg_db)
        for wl in WORKLOADS:  # warm-up: connections, caches, JITs
            for mode in MODES:
                w = sequential(eng, wl, mode, args.warmup, keys)
                if w["errors"]:
                    out.setdefault("warmup_errors", {})[f"{wl}-{mode}"] = w["error_sample"]
        time.sleep(1.0)
        out["rss_idle_kb"] = meter.rss_kb()
        out["pg_rss_idle_kb"] = meter.pg_rss_kb() if eng.pg_db else None
        meter.start_sampling()
        for wl in WORKLOADS:
            for mode in MODES:
                key = f"{wl}-{mode}"
                print(f"  {name} {key}: sequential {args.sequential} (load {_load()})", flush=True)
                res = {"sequential": sequential(eng, wl, mode, args.sequential, keys), "throughput": {}}
                for k in args.inflight:
                    print(f"  {name} {key}: {args.total} runs, {k} in flight (load {_load()})", flush=True)
                    res["throughput"][str(k)] = throughput(eng, wl, mode, args.total, k, keys, meter)
                out[key] = res
                s = res["sequential"]
                print(
                    f"    p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms; runs/s "
                    + ", ".join(f"@{k} {v['runs_per_s']}" for k, v in res["throughput"].items())
                    + f"; errors {s['errors'] + sum(v['errors'] for v in res['throughput'].values())}",
                    flush=True,
                )
        meter.stop_sampling()
        meter.sample()
        out["rss_max_kb"] = meter.max_rss_kb
        out["pg_rss_max_kb"] = meter.max_pg_kb if eng.pg_db else None
        time.sleep(0.5)
        out["side_effect_check"] = effect.check(keys.used["b"])
        out["side_effect_idempotency_keys"] = len(effect.idempotency_keys)
        try:
            out["checks"] = eng.extra_checks()
        except Exception as exc:  # noqa: BLE001
            out["checks"] = {"error": str(exc)[:300]}
    except Exception as exc:  # noqa: BLE001 - an engine that breaks midway is reported, the others still run
        out["error"] = f"run: {type(exc).__name__}: {exc}"[:500]
        print(f"  {name} failed: {out['error']}", flush=True)
    finally:
        if meter is not None:
            meter.stop_sampling()
        eng.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return out


# -- report ----------------------------------------------------------------------------------------------------


def _fmt(v, suffix: str = "") -> str:
    return "-" if v is None else f"{v}{suffix}"


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if a and b else "-"


def report(results: dict, args) -> None:
    wf = results.get("wasmflow") or {}
    for wl in WORKLOADS:
        for mode in MODES:
            key = f"{wl}-{mode}"
            how = (
                "sync: the HTTP request answered with the label"
                if mode == "sync"
                else "async: answered at once, completion observed apart"
            )
            print(f"\n{TITLES[wl]}  [{how}]")
            header = ["engine", "p50 ms", "p99 ms"]
            for k in args.inflight:
                header += [f"runs/s @{k}", f"CPU ms/run @{k}"]
            header += ["wf/peer runs/s", "wf/peer p50", "errors", "checks", "durability"]
            rows = [header]
            for name, r in results.items():
                if "error" in r and key not in r:
                    rows.append([name, "FAILED", "", *[""] * (2 * len(args.inflight)), "", "", "", "", r["error"]])
                    continue
                m = r.get(key) or {}
                s = m.get("sequential") or {}
                tp = m.get("throughput") or {}
                row = [name, _fmt(s.get("p50_ms")), _fmt(s.get("p99_ms"))]
                ratios = []
                for k in args.inflight:
                    t = tp.get(str(k)) or {}
                    cpu = _fmt(t.get("cpu_ms_per_run"))
                    if t.get("pg_cpu_ms_per_run") is not None:
                        cpu += f" (+{t['pg_cpu_ms_per_run']} pg)"
                    row += [_fmt(t.get("runs_per_s")), cpu]
                    w = ((wf.get(key) or {}).get("throughput") or {}).get(str(k)) or {}
                    ratios.append(_ratio(w.get("runs_per_s"), t.get("runs_per_s")))
                wp50 = ((wf.get(key) or {}).get("sequential") or {}).get("p50_ms")
                errors = s.get("errors", 0) + sum(t.get("errors", 0) for t in tp.values())
                unchecked = s.get("results_unchecked", 0) + sum(t.get("results_unchecked", 0) for t in tp.values())
                checks = []
                if name == "n8n" and mode == "async":
                    checks.append("labels not read")
                elif unchecked:
                    checks.append(f"{unchecked} answers not seen")
                else:
                    checks.append("labels ok" if errors == 0 else "label errors")
                if wl == "b" and r.get("side_effect_check"):
                    checks.append("1 call/key ok" if r["side_effect_check"]["ok"] else "CALLS WRONG")
                if mode == "async" and name == "n8n" and r.get("checks"):
                    checks.append("execs ok" if r["checks"].get("n8n_async_all_succeeded") else "EXECS WRONG")
                row += [
                    "/".join(ratios),
                    _ratio(wp50, s.get("p50_ms")),
                    str(errors),
                    ", ".join(checks),
                    r.get("durability", "?"),
                ]
                rows.append(row)
            _table(rows)
    print("\n(c) memory and process tree  [RSS: VmRSS summed over the engine's processes; pg: its database's backends]")
    rows = [["engine", "RSS idle MB", "RSS max MB", "pg idle/max MB", "start s", "install MB", "versions"]]
    for name, r in results.items():
        inst = r.get("install") or {}
        pg = "-"
        if r.get("pg_rss_idle_kb") is not None:
            pg = f"{r['pg_rss_idle_kb'] / 1024:.0f}/{(r.get('pg_rss_max_kb') or 0) / 1024:.0f}"
        rows.append(
            [
                name,
                _fmt(r.get("rss_idle_kb") and round(r["rss_idle_kb"] / 1024)),
                _fmt(r.get("rss_max_kb") and round(r["rss_max_kb"] / 1024)),
                pg,
                _fmt(r.get("start_s")),
                _fmt(inst.get("size_mb") and round(inst["size_mb"])),
                json.dumps(inst.get("versions") or {"wasmflow": "this checkout"}),
            ]
        )
    _table(rows)


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(str(r[c])) for r in rows if c < len(r)) for c in range(len(rows[0]))]
    for n, r in enumerate(rows):
        print("  ".join(f"{str(v):<{widths[c]}}" for c, v in enumerate(r)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


# -- main ------------------------------------------------------------------------------------------------------


def _on_sigterm(_sig, _frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default=",".join(ENGINES), help="any subset of wasmflow,restate,dbos,n8n")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 20 sequential, 100 per throughput phase")
    ap.add_argument("--sequential", type=int, default=None, help="sequential runs per workload and mode (200)")
    ap.add_argument("--total", type=int, default=None, help="runs per throughput phase (1000)")
    ap.add_argument("--inflight", default="8,32", help="client threads in flight, comma-separated (8,32)")
    ap.add_argument("--warmup", type=int, default=None, help="unmeasured runs per workload and mode (20; quick 5)")
    ap.add_argument(
        "--wasmflow-cmd",
        default="{exe} --instance {instance} serve --host {host} --port {port}",
        help="the server command line; {exe} {python} {instance} {host} {port} are filled in",
    )
    ap.add_argument("--wasmflow-env", action="append", default=[], help="KEY=VALUE for the wasmflow server")
    ap.add_argument("--wasmflow-db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--effect-port", type=int, default=18931, help="side-effect server port (fixed: cache hits)")
    ap.add_argument("--cache", default=str(ROOT / "build" / "bench-cache"), help="compiled artifact cache folder")
    ap.add_argument("--keep", action="store_true", help="keep build/bench-peers-*/ (logs, databases' files)")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    bad = [e for e in engines if e not in ENGINES]
    if bad:
        ap.error(f"unknown engines {bad}; choose from {','.join(ENGINES)}")
    args.sequential = args.sequential or (20 if args.quick else 200)
    args.total = args.total or (100 if args.quick else 1000)
    args.warmup = args.warmup if args.warmup is not None else (5 if args.quick else 20)
    args.inflight = [int(x) for x in args.inflight.split(",") if x.strip()]
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C also when started with SIGINT ignored
    started = time.perf_counter()
    RESULTS.update(
        bench="peers",
        quick=args.quick,
        engines=engines,
        cpus=os.cpu_count(),
        sequential=args.sequential,
        total=args.total,
        inflight=args.inflight,
        warmup=args.warmup,
        wasmflow_db=args.wasmflow_db,
        pins=PINS,
        loadavg_at_start=[round(x, 2) for x in os.getloadavg()],
    )
    print(f"peers bench: {engines}, load average {RESULTS['loadavg_at_start']} on {os.cpu_count()} cores", flush=True)
    port = args.effect_port if _port_free(args.effect_port) else 0
    effect = EffectServer(port)
    if port == 0:
        print(f"  port {args.effect_port} busy: side-effect server on {effect.port} (wasmflow recompiles)", flush=True)
    results: dict = {}
    try:
        for name in engines:
            print(f"\n== {name} (load average {_load()}) ==", flush=True)
            results[name] = bench_engine(name, args, effect)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything this script started", flush=True)
        PROCS.stop_all()
        raise SystemExit(130) from None
    finally:
        PROCS.stop_all()
        effect.close()
    RESULTS["results"] = results
    RESULTS["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report(results, args)
    print(f"\nload average at start {RESULTS['loadavg_at_start']}, at end {RESULTS['loadavg_at_end']}")
    print(json.dumps(RESULTS, default=str))


if __name__ == "__main__":
    main()
