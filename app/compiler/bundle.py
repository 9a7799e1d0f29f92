"""Component -> browser bundle: ``jco transpile --instantiation async``, core modules named by content hash.

jco names core modules ``workflow.coreN.wasm``; we rename each to ``<sha256>.wasm`` and rewrite the
``getCoreModule('...')`` literals in the entry module, so the ~6 MB CPython core module (identical across
workflows) is fetched and cached once. Output appears complete or not at all (built in a sibling folder).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from app.compiler import toolchain
from app.errors import CompileError

ENTRY_NAME = "workflow"
# --instantiation async: the caller supplies getCoreModule and the imports object (no WASI shim needed).
# --no-nodejs-compat: no fs fallback in the browser build. Core modules are never inlined in this mode,
# so --base64-cutoff has no effect. The .d.ts files are dropped (jco writes them despite --no-typescript).
JCO_FLAGS = ("--instantiation", "async", "--no-nodejs-compat", "--no-typescript", "--name", ENTRY_NAME, "--quiet")
_CORE_REF = re.compile(r"'(" + re.escape(ENTRY_NAME) + r"\.core\d*\.wasm)'")


def _transpile(component_path: Path, out: Path, timeout: float) -> None:
    cmd = [str(toolchain.jco_path()), "transpile", str(component_path), "-o", str(out), *JCO_FLAGS]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CompileError(
            f"bundle step timed out after {timeout:g} s (jco transpile)", details={"step": "bundle"}
        ) from None
    except OSError as exc:
        raise CompileError(f"bundle step could not start jco ({cmd[0]}): {exc}", details={"step": "bundle"}) from None
    if proc.returncode != 0:
        text = proc.stderr or proc.stdout or ""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("at ")]
        tail = " ".join(lines[:6])[:1000] or "no output"  # the JS stack frames say nothing about the input
        raise CompileError(
            f"bundle step failed (jco transpile exit {proc.returncode}): {tail}", details={"step": "bundle"}
        )


def _hash_core_modules(out: Path) -> dict[str, Any]:
    """Rename core modules to their sha256 and rewrite the entry's references; returns the manifest."""
    entry = out / f"{ENTRY_NAME}.js"
    if not entry.is_file():
        raise CompileError(f"bundle step failed: jco wrote no {entry.name}", details={"step": "bundle"})
    js = entry.read_text(encoding="utf-8")
    renamed: dict[str, str] = {}
    core_modules: dict[str, dict[str, Any]] = {}
    for path in sorted(out.glob(f"{ENTRY_NAME}.core*.wasm")):
        data = path.read_bytes()
        name = hashlib.sha256(data).hexdigest() + ".wasm"
        renamed[path.name] = name
        core_modules[name] = {"size": len(data)}
        os.replace(path, out / name)  # identical modules collapse into one file
    missing = sorted(set(_CORE_REF.findall(js)) - set(renamed))
    if missing:
        raise CompileError(f"bundle step failed: the entry refers to unknown core modules {missing}")
    js = _CORE_REF.sub(lambda m: f"'{renamed[m.group(1)]}'", js)
    entry.write_text(js, encoding="utf-8")
    for junk in [*out.glob("*.d.ts"), out / "interfaces"]:
        shutil.rmtree(junk) if junk.is_dir() else junk.unlink(missing_ok=True)
    files = sorted(p.name for p in out.iterdir())
    return {
        "entry": entry.name,
        "entry_sha256": hashlib.sha256(js.encode("utf-8")).hexdigest(),
        "core_modules": dict(sorted(core_modules.items())),
        "files": files,
        "size": sum((out / f).stat().st_size for f in files),
    }


def transpile_bundle(component_path: Path, out_dir: Path, *, timeout: float = 120) -> dict[str, Any]:
    """Transpile ``component_path`` into ``out_dir`` (replaced whole); returns the bundle manifest."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _transpile(Path(component_path), tmp, timeout)
        manifest = _hash_core_modules(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest
