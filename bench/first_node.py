"""Server side, per run: instantiate + reach the first node (the first node.event host call), for a program on
the shared runtime and for the same workflow as its own component, measured interleaved so that machine load
hits both alike. ``program_own_linker`` is the program again with a linker built for the run (as every run did
before the process-wide dispatching linker), to show what that lever is worth on this machine and load.

Run: .venv/bin/python bench/first_node.py [--example order-sync] [--rounds 200]
Prints one JSON line: {"bench": "first_node", "program_ms_p50", "component_ms_p50", "program_own_linker_ms_p50",
...}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.compiler import open_compiler  # noqa: E402
from app.config import Settings  # noqa: E402
from app.engine.executor import ComponentCache  # noqa: E402
from app.runtime import wasm  # noqa: E402


class _Reached(Exception):
    pass


def _first_node(component, program, caps) -> float:
    def reach(_r):
        raise _Reached

    funcs = {c: (lambda _r: "{}") for c in caps}
    funcs["node.event"] = reach
    t = time.perf_counter()
    try:
        wasm.instantiate_and_run(component, funcs, "{}", program=program)
    except _Reached:
        pass
    return (time.perf_counter() - t) * 1000


def _first_node_own_linker(component, program, caps) -> float:
    """As ``_first_node`` through the per-run path: a new linker with closures for this run, then a Store."""
    import wasmtime

    def reach(_r):
        raise _Reached

    funcs = {c: (lambda _r: "{}") for c in caps}
    funcs["node.event"] = reach
    t = time.perf_counter()
    failure: list[BaseException] = []
    linker = wasm.make_linker(funcs, failure, deny_others=True)
    store = wasmtime.Store(wasm.engine())
    store.set_limits(memory_size=wasm.DEFAULT_MEMORY_LIMIT)
    store.set_epoch_deadline(int(wasm.DEFAULT_TIMEOUT_SECONDS / wasm.EPOCH_TICK_SECONDS))
    try:
        linker.instantiate(store, component).get_func(store, "run")(store, program.decode("latin-1"), "{}")
    except wasmtime.WasmtimeError:
        assert failure and isinstance(failure[0], _Reached), failure
    finally:
        failure.clear()
    del linker, store
    return (time.perf_counter() - t) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--example", default="order-sync")
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    source = (ROOT / "examples" / f"{args.example}.json").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(Path(tmp), database_url=f"sqlite:///{tmp}/wasmflow.db", compile_concurrency=1)
        pool = open_compiler(settings)
        os.environ["WASMFLOW_SHARED_RUNTIME"] = "1"
        prog = pool.compile(source, with_bundle=False).artifact
        os.environ["WASMFLOW_SHARED_RUNTIME"] = "0"
        comp = pool.compile(source, with_bundle=False).artifact
        cache = ComponentCache(pool.store)
        loaded = {"program": cache.load(prog.digest), "component": cache.load(comp.digest)}
        caps = prog.manifest["capabilities"]
        times: dict[str, list[float]] = {"program": [], "component": [], "program_own_linker": []}
        for _ in range(args.rounds):
            for kind, (component, program) in loaded.items():
                times[kind].append(_first_node(component, program, caps))
            times["program_own_linker"].append(_first_node_own_linker(*loaded["program"], caps))
        pool.shutdown()
    out = {"bench": "first_node", "example": args.example, "rounds": args.rounds}
    for kind, xs in times.items():
        xs.sort()
        out[f"{kind}_ms_p50"] = round(statistics.median(xs), 2)
        out[f"{kind}_ms_p90"] = round(xs[int(0.9 * len(xs))], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
