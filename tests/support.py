"""Paths and helpers shared by the test modules (import with ``from support import ...``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
POSTGRES_URL = os.environ.get("WASMFLOW_TEST_POSTGRES_URL")
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


def run_artifact(store, digest: str, funcs: dict, input_json: str, **limits):
    """Run a compiled artifact in wasmtime as the executor does: its component, or the shared runtime with the
    artifact's program (only ``funcs`` granted, every other capability linked as a denial)."""
    from app.engine.executor import ComponentCache
    from app.runtime import wasm

    component, program = ComponentCache(store).load(digest)
    return wasm.instantiate_and_run(component, funcs, input_json, program=program, **limits)


def check_golden(path: Path, actual: str, update: bool) -> None:
    """Compare ``actual`` with the golden file at ``path``; with --update-golden, rewrite it instead."""
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        if not update:
            pytest.fail(f"golden file {path} did not exist; it was written now: review it and run again")
        return
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"output differs from golden file {path} (run pytest --update-golden to accept)"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def wasmflow_serve(instance: Path, env: dict[str, str], log_path: Path, *, timeout: float = 60) -> Iterator[str]:
    """A real ``wasmflow serve`` subprocess on a free loopback port with ``env`` added to this environment;
    yields its base URL once /api/health answers (its log, on failure to start, is in the assertion), and
    stops it (SIGTERM, then kill) at the end."""
    with wasmflow_server_process(instance, env, log_path, timeout=timeout) as (base, _proc):
        yield base


@contextmanager
def wasmflow_server_process(
    instance: Path, env: dict[str, str], log_path: Path, *, args: tuple[str, ...] = (), timeout: float = 60
) -> Iterator[tuple[str, object]]:
    """``wasmflow serve ARGS`` as in ``wasmflow_serve``, yielding (base URL, its ``subprocess.Popen``)."""
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    wasmflow = Path(sys.executable).parent / "wasmflow"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(wasmflow), "--instance", str(instance), "serve", "--port", str(port), *args],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            end = time.monotonic() + timeout
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < end, f"wasmflow serve did not answer /api/health in {timeout:.0f} s"
                time.sleep(0.2)
            yield base, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def fetch_doc(name: str, url: str) -> dict:
    """start -> GET ``url`` -> a transform of its body: a run that waits on one HTTP call."""
    return {
        "dsl": "wasmflow/1",
        "name": name,
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {"id": "fetch", "type": "http.request", "config": {"method": "GET", "url": url}},
            {"id": "done", "type": "transform", "config": {"expression": "fetch['body']"}},
        ],
        "edges": [{"from": "start", "to": "fetch"}, {"from": "fetch", "to": "done"}],
    }
