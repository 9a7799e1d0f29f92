"""Generated guest module + capability set -> one WebAssembly component, via componentize-py --stub-wasi.

The build runs in a fresh folder (WIT dir, app dir with the guest module and the guest runtime package)
as a subprocess with a timeout; any failure becomes a ``CompileError`` naming the step with the tail of
componentize-py's stderr, and the output file appears only complete (temp file, then ``os.replace``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from app.compiler import toolchain, wit
from app.errors import CompileError

APP_MODULE = "workflow_app"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", "test_*", ".*")
# Run componentize-py's entry point with the interpreter running us, so no PATH or venv activation matters.
_COMPONENTIZE = "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())"


def import_name(capability: str) -> str:
    """The import a component has for ``capability``: ``wasmflow:host/clock-now@1.0.0``."""
    return wit.instance_name(capability)


def layout_build_dir(
    guest_source: str, capabilities: Iterable[str] | None, *, workdir: Path, runtime_dir: Path
) -> Path:
    """Write WIT, the guest module and a copy of the guest runtime into a fresh ``workdir``; returns the app dir."""
    if workdir.exists():
        shutil.rmtree(workdir)
    app_dir = workdir / "app"
    app_dir.mkdir(parents=True)
    wit.write_wit_dir(workdir / "wit", capabilities)
    (app_dir / f"{APP_MODULE}.py").write_text(guest_source, encoding="utf-8")
    if runtime_dir.is_dir():
        for entry in sorted(runtime_dir.iterdir()):
            if entry.name.startswith((".", "__pycache__", "test")):
                continue
            if entry.is_dir():
                shutil.copytree(entry, app_dir / entry.name, ignore=_IGNORE)
            elif entry.suffix == ".py":
                shutil.copy2(entry, app_dir / entry.name)
    return app_dir


def _tail(text: str, *, lines: int = 12, chars: int = 1500) -> str:
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept)[-chars:]


def _explain(stderr: str) -> tuple[str, str]:
    """(one-line cause, guest traceback tail) from componentize-py's stderr, minus its own host-side wrapper."""
    text = stderr.split("AssertionError: ", 1)[-1]  # the wrapper's traceback precedes the guest's
    body, _, cause = text.partition("Caused by:")
    cause = " ".join(line.strip() for line in cause.splitlines() if line.strip())
    where = re.findall(r'File "/\d+/([^"]+)", line (\d+)', body)
    if not cause:
        cause = (_tail(body, lines=1) or "no output").strip()
    if where:
        cause += f" (at {where[-1][0]} line {where[-1][1]})"
    return cause, _tail(body)


def build_component(
    guest_source: str,
    capabilities: Iterable[str] | None,
    *,
    workdir: Path,
    runtime_dir: Path = toolchain.GUEST_RUNTIME_DIR,
    timeout: float = 300,
    output: Path | None = None,
    world: str = wit.WORLD,
) -> bytes:
    """Build the component for ``guest_source`` importing exactly ``capabilities``; returns its bytes.

    ``capabilities=None`` with ``world=wit.RUNTIME_WORLD`` builds the shared runtime (every capability).
    With ``output`` the bytes are also written there atomically. ``workdir`` is wiped and reused.
    """
    workdir = Path(workdir)
    app_dir = layout_build_dir(guest_source, capabilities, workdir=workdir, runtime_dir=Path(runtime_dir))
    partial = workdir / "component.wasm.partial"
    cmd = [sys.executable, "-c", _COMPONENTIZE, "-q", "-d", str(workdir / "wit"), "-w", world]
    cmd += ["componentize", "--stub-wasi", APP_MODULE, "-p", str(app_dir), "-o", str(partial)]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONDONTWRITEBYTECODE="1", RUST_BACKTRACE="0")
    try:
        proc = subprocess.run(cmd, cwd=app_dir, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        partial.unlink(missing_ok=True)
        raise CompileError(
            f"componentize step timed out after {timeout:g} s building the workflow component",
            code="compile_timeout",
            details={"step": "componentize"},
        ) from None
    except OSError as exc:
        raise CompileError(f"componentize step could not start: {exc}", details={"step": "componentize"}) from None
    if proc.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        cause, tail = _explain(proc.stderr or proc.stdout or "")
        raise CompileError(
            f"componentize step failed (componentize-py exit {proc.returncode}): {cause}",
            details={"step": "componentize", "stderr_tail": tail},
        )
    data = partial.read_bytes()
    if output is not None:
        output = Path(output)
        tmp = output.with_name(output.name + ".partial")
        tmp.write_bytes(data)
        os.replace(tmp, output)
    partial.unlink()
    return data
