"""Compiler figures: cold compile per example (with its steps), cache hit, sizes, precompiled load.

Run: .venv/bin/python bench/compile.py [--examples order-sync,...] [--hits 50] [--loads 50] [--edits 20]
Each example is compiled cold into a fresh instance folder (one compile at a time, so steps do not compete
for the two cores), then: cache-hit latency (validate + digest + store lookup), component and bundle sizes
(raw and gzip), and the wasmtime load of the precompiled artifact (deserialize) and instantiate.

With the shared runtime (the default; WASMFLOW_SHARED_RUNTIME=0 measures per-workflow components) the
runtime is built first if this toolchain's is not in the runtime folder (reported as runtime_build_s), and
per example: the cold compile, the p50 of --edits compiles of edited variants (a new digest each: an
expression's constant changes), the program's size, the disk of the artifact folder, the bytes a browser
fetches for it once it has the runtime (artifact JSON + program, gzip), and on the server instantiate and
instantiate + reach the first node (the first node.event host call).
Prints a table, then one JSON line: {"bench": "compile", ...}.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.compiler import artifacts, open_compiler  # noqa: E402
from app.config import Settings  # noqa: E402
from app.runtime import wasm  # noqa: E402


def _gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class _Reached(Exception):
    pass


def _edited(source: bytes, n: int) -> dict:
    """The example with one edit: a transform's expression (or the name, if it has none) gets a new constant."""
    doc = json.loads(source)
    for node in doc["nodes"]:
        if node.get("type") == "transform" and (node.get("config") or {}).get("expression"):
            node["config"]["expression"] = f"[({node['config']['expression']}), {n}][0]"
            return doc
    doc["title"] = f"{doc.get('title') or doc['name']} (edit {n})"
    return doc


def _program_figures(pool, name: str, source: bytes, cold, *, edits: int, loads: int) -> dict:
    info = cold.artifact
    edit_ms = []
    for n in range(edits):
        t = time.perf_counter()
        r = pool.compile(_edited(source, time.time_ns() + n))
        edit_ms.append((time.perf_counter() - t) * 1000)
        assert not r.cache_hit
    folder = pool.store.path(info.digest)
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    program = (folder / artifacts.PROGRAM).read_bytes()
    meta = json.dumps(info.to_dict()).encode()
    component, prog = pool.store.runtime_component(pool.store.runtime_for(info)), pool.store.program(info.digest)
    import wasmtime

    inst_ms, first_ms = [], []
    for _ in range(loads):
        t = time.perf_counter()
        linker = wasm.make_linker({c: (lambda _r: "{}") for c in info.manifest["capabilities"]}, [], deny_others=True)
        store = wasmtime.Store(wasm.engine())
        store.set_epoch_deadline(1000)
        linker.instantiate(store, component)
        inst_ms.append((time.perf_counter() - t) * 1000)

        def reach(_r):
            raise _Reached

        funcs = {c: (lambda _r: "{}") for c in info.manifest["capabilities"]}
        funcs["node.event"] = reach
        t = time.perf_counter()
        try:
            wasm.instantiate_and_run(component, funcs, "{}", program=prog)
        except _Reached:
            pass
        first_ms.append((time.perf_counter() - t) * 1000)
    return {
        "cold_s": round(cold.seconds, 3),
        "steps_s": {k: round(v, 3) for k, v in cold.steps.items()},
        "edit_ms_p50": round(statistics.median(edit_ms), 1) if edit_ms else None,
        "edit_ms_max": round(max(edit_ms), 1) if edit_ms else None,
        "program_kb": round(len(program) / 1e3, 1),
        "disk_kb": round(disk / 1e3, 1),
        "browser_new_kb_gzip": round((_gz(meta) + _gz(program)) / 1e3, 1),
        "instantiate_ms_p50": round(statistics.median(inst_ms), 2),
        "first_node_ms_p50": round(statistics.median(first_ms), 2),
    }


def bench(names: list[str], hits: int, loads: int, edits: int = 20) -> dict:
    from app.compiler import runtime, toolchain

    out: dict = {"bench": "compile", "shared_runtime": toolchain.shared_runtime(), "examples": {}}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(Path(tmp), database_url=f"sqlite:///{tmp}/wasmflow.db", compile_concurrency=1)
        pool = open_compiler(settings)
        if toolchain.shared_runtime():
            cached = runtime.find(pool.store.runtime_root) is not None
            t = time.perf_counter()
            rt = runtime.ensure(pool.store.runtime_root)
            core = [rt.bundle_dir / n for n in rt.bundle.get("core_modules", {})]
            out["runtime"] = {
                "was_cached": cached,
                "runtime_build_s": round(time.perf_counter() - t, 2) if not cached else rt.build_seconds,
                "component_mb": round(rt.component_size / 1e6, 2),
                "browser_once_gzip_mb": round(sum(_gz(p.read_bytes()) for p in core) / 1e6, 2),
            }
        shared_core: set[str] = set()
        for name in names:
            source = (ROOT / "examples" / f"{name}.json").read_bytes()
            cold = pool.compile(source)
            assert not cold.cache_hit
            hit_ms = []
            for _ in range(hits):
                t = time.perf_counter()
                again = pool.compile(source)
                hit_ms.append((time.perf_counter() - t) * 1000)
                assert again.cache_hit
            if cold.artifact.is_program:
                row = _program_figures(pool, name, source, cold, edits=edits, loads=loads)
                row["hit_ms_p50"] = round(statistics.median(hit_ms), 2)
                row["hit_ms_p99"] = round(_pct(hit_ms, 0.99), 2)
                out["examples"][name] = row
                continue
            folder = pool.store.path(cold.digest)
            component = (folder / artifacts.COMPONENT).read_bytes()
            core = cold.artifact.bundle.get("core_modules", {})
            core_paths = [pool.store.core_module_path(n) for n in core]
            bundle_js = sum(p.stat().st_size for p in (folder / artifacts.BUNDLE_DIR).rglob("*") if p.is_file())
            core_raw = sum(p.stat().st_size for p in core_paths)
            core_gz = sum(_gz(p.read_bytes()) for p in core_paths)
            new_core = {n for n in core if n not in shared_core}
            new_core_gz = sum(_gz(pool.store.core_module_path(n).read_bytes()) for n in new_core)
            shared_core |= set(core)
            load_ms, inst_ms = [], []
            for _ in range(loads):
                t = time.perf_counter()
                comp = wasm.load_precompiled(pool.store.precompiled_path(cold.digest))
                load_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                linker = wasm.make_linker({c: (lambda _r: "{}") for c in cold.artifact.manifest["capabilities"]}, [])
                import wasmtime

                store = wasmtime.Store(wasm.engine())
                store.set_epoch_deadline(1000)
                linker.instantiate(store, comp)
                inst_ms.append((time.perf_counter() - t) * 1000)
            out["examples"][name] = {
                "cold_s": round(cold.seconds, 2),
                "steps_s": {k: round(v, 2) for k, v in cold.steps.items()},
                "hit_ms_p50": round(statistics.median(hit_ms), 2),
                "hit_ms_p99": round(_pct(hit_ms, 0.99), 2),
                "component_mb": round(len(component) / 1e6, 2),
                "component_gzip_mb": round(_gz(component) / 1e6, 2),
                "bundle_js_kb": round(bundle_js / 1e3, 1),
                "core_modules_mb": round(core_raw / 1e6, 2),
                "core_modules_gzip_mb": round(core_gz / 1e6, 2),
                "new_core_gzip_mb": round(new_core_gz / 1e6, 2),
                "load_precompiled_ms_p50": round(statistics.median(load_ms), 2),
                "instantiate_ms_p50": round(statistics.median(inst_ms), 2),
            }
        pool.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", default="order-sync,webhook-approval,daily-report,lead-routing")
    ap.add_argument("--hits", type=int, default=50)
    ap.add_argument("--loads", type=int, default=30)
    ap.add_argument("--edits", type=int, default=20)
    args = ap.parse_args()
    result = bench(args.examples.split(","), args.hits, args.loads, args.edits)
    if result["shared_runtime"]:
        print("runtime:", json.dumps(result["runtime"]))
        cols = ["cold_s", "edit_ms_p50", "hit_ms_p50", "program_kb", "disk_kb", "browser_new_kb_gzip"]
        cols += ["instantiate_ms_p50", "first_node_ms_p50"]
        print(f"{'example':<18}" + "".join(f"{c:>21}" for c in cols))
        for name, row in result["examples"].items():
            print(f"{name:<18}" + "".join(f"{row[c]!s:>21}" for c in cols))
        print(json.dumps(result))
        return
    cols = [
        "cold_s",
        "hit_ms_p50",
        "component_mb",
        "component_gzip_mb",
        "core_modules_gzip_mb",
        "new_core_gzip_mb",
        "load_precompiled_ms_p50",
        "instantiate_ms_p50",
    ]
    print(f"{'example':<18}" + "".join(f"{c:>24}" for c in cols))
    for name, row in result["examples"].items():
        print(f"{name:<18}" + "".join(f"{row[c]:>24}" for c in cols))
        print(f"{'':<18}steps: " + ", ".join(f"{k} {v} s" for k, v in row["steps_s"].items()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
