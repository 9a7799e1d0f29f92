"""Browser bundle files and shared core modules, by content address: cached forever (``immutable``).

File names are checked against a strict pattern and served from the artifact folder only, so no path can
leave it; the digest/hash in the URL is what makes caching forever safe.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, send_file

from app.api.common import engine, operation
from app.compiler.artifacts import BUNDLE_DIR, PROGRAM
from app.errors import NotFound

bp = Blueprint("artifacts", __name__, url_prefix="/api/artifacts")

IMMUTABLE = "public, max-age=31536000, immutable"
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")
_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
}


def _send(path: Path, etag: str):
    if not path.is_file():
        raise NotFound(f"no file {path.name}", details={"field": "file"})
    mimetype = _TYPES.get(path.suffix, "application/octet-stream")
    resp = send_file(path, mimetype=mimetype, conditional=True, etag=etag, max_age=31536000)
    resp.headers["Cache-Control"] = IMMUTABLE
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.get("/<digest>/bundle/<file>")
@operation(
    "A file of a workflow's browser bundle (cached forever)",
    ok=(200, None),
    errors=(404,),
    content="application/octet-stream",
)
def bundle_file(digest: str, file: str):
    if not _FILE.fullmatch(file) or len(file) > 200:
        raise NotFound(f"{file!r} is not a bundle file name", details={"field": "file"})
    store = engine().store
    info = store.require(digest)
    path = store.path(digest) / BUNDLE_DIR / file
    if not path.is_file() and file in (info.bundle or {}).get("core_modules", {}):
        path = store.core_module_path(file)  # published core modules move to the shared folder
    return _send(path, f"{digest}/{file}")


@bp.get("/core/<name>")
@operation(
    "A shared core WebAssembly module by sha256 (cached forever)",
    ok=(200, None),
    errors=(404,),
    content="application/wasm",
)
def core_module(name: str):
    if not name.endswith(".wasm"):
        raise NotFound(f"{name!r} is not <sha256>.wasm", details={"field": "name"})
    path = engine().store.core_module_path(name)  # rejects anything but 64 hex digits
    return _send(path, name.removesuffix(".wasm"))


@bp.get("/<digest>/program")
@operation(
    "A program artifact's bytecode for the shared runtime (cached forever: the digest covers it)",
    ok=(200, None),
    errors=(404,),
    content="application/octet-stream",
)
def program_file(digest: str):
    store = engine().store
    info = store.require(digest)
    if not info.is_program:
        raise NotFound(f"artifact {digest} is a component, not a program", details={"digest": digest})
    return _send(store.path(digest) / PROGRAM, f"{digest}/program")


@bp.get("/runtime/<key>/<file>")
@operation(
    "A file of the shared runtime's browser bundle by runtime key (cached forever; fetched once per tab cache)",
    ok=(200, None),
    errors=(404,),
    content="application/octet-stream",
)
def runtime_file(key: str, file: str):
    from app.compiler import runtime

    if not _FILE.fullmatch(file) or len(file) > 200:
        raise NotFound(f"{file!r} is not a bundle file name", details={"field": "file"})
    rt = runtime.find(engine().store.runtime_root, key)  # rejects anything but 64 hex digits
    if rt is None:
        raise NotFound(f"no shared runtime {key}", details={"field": "key"})
    return _send(rt.bundle_dir / file, f"runtime/{key}/{file}")


@bp.get("/runtime-status")
@operation("What the shared runtime build is doing (state, step, elapsed seconds)", ok=(200, None))
def runtime_status():
    from app.compiler import runtime, toolchain

    store = engine().store
    built = runtime.find(store.runtime_root) if toolchain.shared_runtime() else None
    status = runtime.status()
    if built is not None:
        status = {"state": "ready", "key": built.key}
    return {"shared_runtime": toolchain.shared_runtime(), **status}
