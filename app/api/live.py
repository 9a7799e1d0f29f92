"""``/api/ws``: live run events over WebSocket (flask-sock); the feed itself lives in app.engine.feed."""

from __future__ import annotations

import json
import threading

from flask import Blueprint, Flask, current_app, g, request
from flask_sock import Sock

from app.engine.feed import EventFeed, Lagging, parse_stream_args
from app.errors import WasmflowError
from app.store import open_database

bp = Blueprint("live", __name__)
sock = Sock()

STOPPING = "the server is stopping; reconnect with the last cursor"
KEEPALIVE_SECONDS = 1.0  # how often a quiet stream checks that its client is still there
_start_lock = threading.Lock()


def feed_of(app: Flask) -> EventFeed | None:
    """The app's one event feed, started on first use; None once the app is stopping."""
    with _start_lock:
        if app.extensions.get("wasmflow.stopping"):
            return None
        return app.extensions.get("wasmflow.feed") or _start_feed(app)


def stop_feed(app: Flask) -> None:
    """The app is stopping: close its feed (open streams end with 1001) and start no other."""
    with _start_lock:
        app.extensions["wasmflow.stopping"] = True
        feed = app.extensions.get("wasmflow.feed")
    if feed is not None:
        feed.close()


def _start_feed(app: Flask) -> EventFeed:
    settings = app.extensions["wasmflow.settings"]
    feed = app.extensions["wasmflow.feed"] = EventFeed(open_database(settings.database_url))
    engine = app.extensions.get("wasmflow.engine")
    if engine is not None:
        engine.add_listener(feed.wake)  # low-latency wakeup; the poll stays the correctness path
    return feed


def _send(ws, msg: dict) -> None:
    ws.send(json.dumps(msg, default=str, separators=(",", ":")))


def _close(ws, code: int, message: str) -> None:
    """Close with ``code`` and wait (bounded) for the client's close reply before the socket goes away:
    tearing it down with the reply unread makes the kernel reset the connection, and the client then loses
    our close frame (it sees 1005 instead of ``code``)."""
    ws.close(reason=code, message=message)
    thread = getattr(ws, "thread", None)
    if thread is not None:
        thread.join(timeout=2)


@sock.route("/api/ws", bp=bp)
def stream(ws) -> None:
    """History after ``after``, then live events; each message carries ``cursor`` to resume with."""
    feed = feed_of(current_app._get_current_object())
    if feed is None:
        _close(ws, 1001, STOPPING)
        return
    try:
        kwargs = parse_stream_args(request.args.get)
        sub = feed.subscribe(**kwargs, workspace=g.get("workspace") or "default")
    except WasmflowError as err:
        _send(ws, {"type": "stream.error", "error": err.to_dict()})
        _close(ws, 1008, err.code)
        return
    try:
        live = False
        while ws.connected and not feed.stopping:
            try:
                batch = sub.next(KEEPALIVE_SECONDS if live else 0.0)
            except Lagging as exc:
                _send(ws, {"type": "stream.lagging", "cursor": sub.last, "message": str(exc)})
                return
            for msg in batch:
                _send(ws, msg)
            if not live and sub.history_done and sub.queue.empty():
                _send(ws, {"type": "stream.live", "cursor": sub.last})  # history sent; what follows is live
                live = True
        if feed.stopping:
            _close(ws, 1001, STOPPING)
    finally:
        feed.unsubscribe(sub)
