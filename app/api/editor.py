"""The browser editor: the Vite build in ``static/`` served at ``/``.

Hashed assets under ``/assets/`` are immutable; ``index.html`` is never cached, so a rebuilt editor is picked
up on reload. Any other path that is not an API route gets ``index.html`` (the editor routes in the browser).
Without a build, ``/`` explains how to make one instead of a bare 404.
"""

from __future__ import annotations

import gzip
import mimetypes
import os
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, current_app, request, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
IMMUTABLE = "public, max-age=31536000, immutable"

bp = Blueprint("editor", __name__)


def _static_dir() -> Path:
    """The build to serve: the app's EDITOR_STATIC_DIR, else env WASMFLOW_EDITOR_STATIC_DIR, else static/."""
    return Path(
        current_app.config.get("EDITOR_STATIC_DIR") or os.environ.get("WASMFLOW_EDITOR_STATIC_DIR") or STATIC_DIR
    )


def _index() -> Response:
    root = _static_dir()
    if not (root / "index.html").is_file():
        body = (
            "<!doctype html><title>wasmflow</title><p>The editor is not built. Run <code>make run</code> "
            "(or <code>npm run build</code>) in the wasmflow checkout, then reload.</p>"
        )
        return Response(body, status=503, mimetype="text/html")
    resp = send_from_directory(root, "index.html")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/")
def index():
    return _index()


COMPRESSIBLE = (".js", ".css", ".map", ".svg", ".json", ".html")


@lru_cache(maxsize=256)
def _gzipped(path: str, mtime_ns: int) -> bytes:
    """The gzip of a built asset, made once per file version (assets are a few hundred KiB in all)."""
    return gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)


@bp.get("/assets/<path:name>")
def asset(name: str):
    root = _static_dir() / "assets"
    full = safe_join(str(root), name)
    if full is None or not Path(full).is_file():
        raise NotFound()
    if name.endswith(COMPRESSIBLE) and "gzip" in request.headers.get("Accept-Encoding", ""):
        resp = Response(_gzipped(full, Path(full).stat().st_mtime_ns), mimetype=_mimetype(name))
        resp.headers["Content-Encoding"] = "gzip"
    else:
        resp = send_from_directory(root, name)
    resp.headers["Vary"] = "Accept-Encoding"
    resp.headers["Cache-Control"] = IMMUTABLE
    return resp


def _mimetype(name: str) -> str:
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return "text/javascript" if name.endswith(".js") else kind


@bp.get("/<path:path>")
def fallback(path: str):
    # API and webhook paths keep their JSON 404; anything else is an editor route (or a top-level file).
    if path.startswith(("api/", "hooks/")):
        raise NotFound()
    root = _static_dir()
    if (root / path).is_file():
        return send_from_directory(root, path)
    return _index()
