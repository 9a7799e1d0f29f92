"""Compiler figures: cold compile per example (with its steps), cache hit, sizes, precompiled load.

Run: .venv/bin/python bench/compile.py [--examples order-sync,...] [--hits 50] [--loads 50]
Each example is compiled cold into a fresh instance folder (one compile at a time, so steps do not compete
for the two cores), then: cache-hit latency (validate + digest + store lookup), component and bundle sizes
(raw and gzip), and the wasmtime load of the precompiled artifact (deserialize) and instantiate.
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


def bench(names: list[str], hits: int, loads: int) -> dict:
    out: dict = {"bench": "compile", "examples": {}}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(Path(tmp), database_url=f"sqlite:///{tmp}/wasmflow.db", compile_concurrency=1)
        pool = open_compiler(settings)
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
    args = ap.parse_args()
    result = bench(args.examples.split(","), args.hits, args.loads)
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
