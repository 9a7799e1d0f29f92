"""The processes of a trial (one ``wasmflow serve``, one or two ``wasmflow worker``), killed with -9 and
restarted, and a WebSocket watcher of ``/api/ws?all=1`` that reconnects with its cursor across restarts.

Like tests/runtime/procs.py (same command and environment: 1 s leases so that takeover is quick), but output
goes to a log file per process name instead of a pipe: these processes live for a whole trial and a full
pipe would block them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from simple_websocket import Client
from support import free_port


class Fleet:
    def __init__(self, workdir: Path, *, database_url: str, artifacts: Path, names: list[str]) -> None:
        self.workdir = workdir
        self.instance = workdir / "instance"
        self.instance.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "WASMFLOW_DATABASE_URL": database_url,
            "WASMFLOW_ARTIFACTS_DIR": str(artifacts),
            "WASMFLOW_LEASE_SECONDS": "1",
            "WASMFLOW_HTTP_ALLOW_NETWORKS": "127.0.0.1/32",
        }
        self.names = names
        self.procs: dict[str, subprocess.Popen] = {}
        self.killed: set[int] = set()  # pids we killed with -9
        self.crashed: list[str] = []  # processes that died on their own
        self.kills = 0
        self.starts = 0
        self.port: int | None = None
        self._lock = threading.Lock()

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start(self, name: str) -> None:
        cmd = [sys.executable, "-c", "from app.cli import main; main()", "--instance", str(self.instance)]
        if name == "serve":
            self.port = free_port()  # a new port each time: the old one may linger in TIME_WAIT
            cmd += ["serve", "--port", str(self.port)]
        else:
            cmd += ["worker", "--concurrency", "8"]
        with self.log(name).open("ab") as out:
            out.write(f"\n===== start {name} at {time.time():.3f}\n".encode())
            out.flush()
            proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        with self._lock:
            self.procs[name] = proc
            self.starts += 1

    def start_all(self) -> None:
        for name in self.names:
            self.start(name)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def pid_of(self, name: str) -> int | None:
        proc = self.procs.get(name)
        return proc.pid if proc is not None and proc.poll() is None else None

    def name_of_pid(self, pid: int) -> str | None:
        with self._lock:
            return next((n for n, p in self.procs.items() if p.pid == pid and p.poll() is None), None)

    def kill(self, name: str) -> bool:
        """kill -9 ``name`` if it is alive; True if this call killed it."""
        with self._lock:
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                return False
            os.kill(proc.pid, signal.SIGKILL)
            self.killed.add(proc.pid)
            self.kills += 1
        proc.wait(timeout=30)
        return True

    def dead_on_their_own(self) -> list[str]:
        """Names of processes that exited without being killed by us (each reported once)."""
        out = []
        with self._lock:
            for name, proc in self.procs.items():
                code = proc.poll()
                if code is not None and proc.pid not in self.killed:
                    self.killed.add(proc.pid)  # report once
                    tail = self.log(name).read_text(errors="replace")[-3000:]
                    self.crashed.append(f"{name} (pid {proc.pid}) exited {code}:\n{tail}")
                    out.append(name)
        return out

    def base(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.alive("serve") and self.port else None

    def wait_healthy(self, timeout: float = 120) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            base = self.base()
            if base is None and not self.alive("serve"):
                self.start("serve")
                continue
            try:
                if base and httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    return base
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"wasmflow serve did not become healthy in {timeout:.0f} s\n{self.tail('serve')}")

    def tail(self, name: str, n: int = 4000) -> str:
        path = self.log(name)
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


class StreamWatch(threading.Thread):
    """Reads ``/api/ws?all=1`` for the whole trial; after a drop (the server was killed) it reconnects to the
    current server with the last cursor, as the docs promise that loses nothing and repeats nothing."""

    def __init__(self, fleet: Fleet) -> None:
        super().__init__(name="chaos-stream", daemon=True)
        self.fleet = fleet
        self.ids: list[int] = []
        self.cursor = 0
        self.connects = 0
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            base = self.fleet.base()
            if base is None:
                time.sleep(0.1)
                continue
            try:
                ws = Client.connect(f"{base.replace('http://', 'ws://')}/api/ws?all=1&after={self.cursor}")
            except Exception:  # noqa: BLE001 - not up yet, or just killed: try again
                time.sleep(0.2)
                continue
            self.connects += 1
            try:
                while not self._halt.is_set():
                    raw = ws.receive(timeout=0.5)
                    if raw is None:
                        continue
                    msg = json.loads(raw)
                    if msg.get("type") == "stream.lagging":
                        break
                    if msg.get("type", "").startswith("stream."):
                        if msg["type"] == "stream.error":
                            self.errors.append(json.dumps(msg))
                        continue
                    self.ids.append(msg["id"])
                    if not msg.get("late"):
                        self.cursor = max(self.cursor, int(msg["cursor"]))
            except Exception:  # noqa: BLE001 - the server went away: reconnect with the cursor
                pass
            finally:
                try:
                    ws.close()
                except Exception:  # noqa: BLE001
                    pass

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def run_history(base: str, run_id: str, timeout: float = 30) -> list[tuple[int, str]]:
    """``(seq, type)`` of a run's events as ``/api/ws?run=`` sends its history (up to ``stream.live``)."""
    ws = Client.connect(f"{base.replace('http://', 'ws://')}/api/ws?run={run_id}")
    out: list[tuple[int, str]] = []
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            raw = ws.receive(timeout=max(0.05, end - time.monotonic()))
            if raw is None:
                continue
            msg = json.loads(raw)
            if msg.get("type") == "stream.live":
                return out
            if msg.get("type", "").startswith("stream."):
                raise AssertionError(f"stream of run {run_id}: {msg}")
            out.append((msg["seq"], msg["type"]))
    finally:
        ws.close()
    raise AssertionError(f"stream of run {run_id}: no stream.live after {timeout:.0f} s ({len(out)} events)")
