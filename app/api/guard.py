"""The browser boundary: which Host names this server answers to and which page origins may call it.

Loopback is no wall for a browser. A page on another site can open ``ws://127.0.0.1:8000/api/ws`` (the
WebSocket handshake is not subject to CORS) or send form posts; and with DNS rebinding a name the attacker
controls resolves to 127.0.0.1, so the browser treats the attacker's page as same-origin with this server.
Two checks close both, before any route runs:

- ``Host`` must be one of this server's names: loopback names and addresses, and the names in
  ``WASMFLOW_PUBLIC_NAMES`` (comma separated; ``wasmflow serve --host`` adds its own address). A rebinding
  page sends its own name and is refused with 421.
- ``Origin``, when a browser sends one (every WebSocket upgrade, every cross-origin or POST request), must be
  this server's own origin or one of ``WASMFLOW_ALLOWED_ORIGINS`` (comma separated, e.g.
  ``https://editor.example.com``). Anything else is refused with 403. Clients that are not browsers (the CLI,
  curl, webhooks callers) send no Origin and are not affected.

Webhooks (``/hooks/...``) are meant for callers elsewhere and carry their own token and signature: neither
check applies to them.
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from flask import Flask, jsonify, request

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
OPEN_PREFIXES = ("/hooks/", "/healthz", "/readyz")  # webhook callers anywhere; orchestrators' probes by pod IP


def _names(raw: str | None) -> frozenset[str]:
    return frozenset(n.strip().lower().rstrip(".") for n in (raw or "").split(",") if n.strip())


def _hostname(host: str) -> str:
    """The name part of a Host header value: ``[::1]:8000`` -> ``::1``, ``Example.com:80`` -> ``example.com``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback(name: str) -> bool:
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _origin(value: str) -> str | None:
    """``scheme://host[:port]`` of an Origin header, lower case, or None if it is not one (``null``)."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _refused(status: int, code: str, field: str, message: str):
    return jsonify({"error": {"kind": "user", "code": code, "field": field, "message": message}}), status


def install(app: Flask) -> None:
    """Check Host and Origin on every request (see the module docstring)."""
    public = _names(os.environ.get("WASMFLOW_PUBLIC_NAMES")) | _names(app.config.get("PUBLIC_NAMES"))
    origins = {o for o in map(_origin, (os.environ.get("WASMFLOW_ALLOWED_ORIGINS") or "").split(",")) if o}
    origins |= {o for o in map(_origin, (app.config.get("ALLOWED_ORIGINS") or "").split(",")) if o}

    @app.before_request
    def _browser_boundary():
        if request.path.startswith(OPEN_PREFIXES):
            return None
        host = request.host or ""
        name = _hostname(host)
        if not (_is_loopback(name) or name in public):
            return _refused(
                421,
                "host_not_allowed",
                "Host",
                f"this server does not answer to the name {name!r}; if that is its public name, add it to "
                "WASMFLOW_PUBLIC_NAMES (comma separated)",
            )
        raw = request.headers.get("Origin")
        if raw is None:
            return None
        origin = _origin(raw)
        if origin is not None and (origin in origins or urlsplit(origin).netloc == host.lower()):
            return None
        return _refused(
            403,
            "origin_not_allowed",
            "Origin",
            f"requests from pages on {raw!r} are not allowed (this server is {request.scheme}://{host}); "
            "add trusted editor origins to WASMFLOW_ALLOWED_ORIGINS",
        )
