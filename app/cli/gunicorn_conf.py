"""gunicorn settings of ``wasmflow serve`` (``gunicorn -c python:app.cli.gunicorn_conf app.wsgi:app``).

The serve command sets the environment this reads. gthread workers: each worker process has its own engine
(runs, leases, timers) and serves requests and live WebSockets on threads (flask-sock holds a thread per
open stream). On SIGTERM (or SIGINT) a worker stops accepting, its live streams close with 1001 ("reconnect"),
and its executing runs hand back to the queue at their next host call with their leases released, so
another process resumes them by replay at once; then it exits within ``graceful_timeout``.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading

WAKE_DIR_ENV = "WASMFLOW_WAKE_DIR"  # app.engine.feed.WAKE_DIR_ENV (a test keeps them equal)

bind = [os.environ.get("WASMFLOW_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WASMFLOW_SERVE_PROCESSES") or 1)
worker_class = "gthread"
threads = int(os.environ.get("WASMFLOW_SERVE_THREADS") or 32)  # requests and open live streams per worker
graceful_timeout = int(os.environ.get("WASMFLOW_GRACEFUL_SECONDS") or 30)
timeout = 60  # seconds a worker may be unresponsive (its main loop, not a request) before it is replaced
keepalive = 5
proc_name = "wasmflow"
errorlog = "-"
accesslog = os.environ.get("WASMFLOW_ACCESS_LOG") or None  # "-" for stdout
loglevel = os.environ.get("WASMFLOW_LOG_LEVEL", "info")
forwarded_allow_ips = ""  # proxy headers are the app's (WASMFLOW_TRUSTED_PROXIES), not gunicorn's


def on_starting(server) -> None:
    # a private folder where the workers' live feeds poke each other after commits (app.engine.feed)
    if not os.environ.get(WAKE_DIR_ENV):
        os.environ[WAKE_DIR_ENV] = tempfile.mkdtemp(prefix="wasmflow-wake-")
        server._wasmflow_wake_dir = os.environ[WAKE_DIR_ENV]


def on_exit(server) -> None:
    wake_dir = getattr(server, "_wasmflow_wake_dir", None)
    if wake_dir:
        shutil.rmtree(wake_dir, ignore_errors=True)


def post_worker_init(worker) -> None:
    """A stopping worker closes its app at once (not after its last request): live streams end, runs hand
    back. gunicorn's own handler then stops the accept loop."""
    from app import wsgi

    close = wsgi.app.extensions["wasmflow.close"]
    for sig, original in ((signal.SIGTERM, worker.handle_exit), (signal.SIGINT, worker.handle_quit)):

        def handler(signum, frame, _original=original) -> None:
            threading.Thread(target=close, name="wasmflow-close", daemon=True).start()
            _original(signum, frame)

        signal.signal(sig, handler)


def worker_exit(server, worker) -> None:
    from app import wsgi

    wsgi.app.extensions["wasmflow.close"]()  # idempotent: waits for the runs' hand-back if still under way
