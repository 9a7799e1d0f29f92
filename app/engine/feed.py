"""Live events from the database, for any process's runs: one poller per app fans events out to subscribers.

Events reach the feed through the ``events`` table only, so events written by a ``wasmflow worker`` elsewhere
arrive like local ones. Wakeups only cut latency: the in-process engine listener, and on PostgreSQL
``LISTEN wasmflow_events`` (``Notifier`` sends the NOTIFY after a process commits events), and for the processes
of one ``wasmflow serve --processes N`` a datagram to each sibling's socket in ``WASMFLOW_WAKE_DIR`` (SQLite has
no NOTIFY); polling stays the correctness path.

The gap problem: ids are taken at insert time but concurrent transactions (PostgreSQL) may commit out of id
order, so "remember max(id)" can skip an id that commits later. The feed keeps a *released* watermark: every
id at or below it was delivered (or given up on). A missing id above it is a hole: delivery holds back for up
to ``hole_grace`` seconds waiting for it, so subscribers see events strictly in id order and a cursor is
exact. A hole that never fills in time (usually a rolled-back insert) is passed; if it still shows up within
``late_seconds`` it is delivered late (out of order, never lost for live subscribers).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from app.engine import runs
from app.errors import NotFound, UserError
from app.store import Database
from app.store.models import Event, Run

log = logging.getLogger(__name__)

BATCH = 1000
QUEUE_LIMIT = 10_000  # events buffered per subscriber before it is cut off as lagging
HISTORY_PAGE = 500
LATE_LIMIT = 1000  # passed holes watched at once (rolled-back inserts leave holes on PostgreSQL)
WAKE_DIR_ENV = "WASMFLOW_WAKE_DIR"  # set by `serve --processes N` for its children: sibling wakeups


def event_message(row: Any, workflow: str | None) -> dict[str, Any]:
    """The wire form of one event (without its subscription-specific ``cursor``)."""
    at = runs.as_utc(row.at)
    return {
        "id": row.id,
        "run_id": row.run_id,
        "workflow": workflow,
        "seq": row.seq,
        "type": row.type,
        "node": row.node,
        "data": row.data,
        "at": at.isoformat() if at else None,
    }


def _select():
    return sa.select(Event, Run.workflow_name).outerjoin(Run, Run.id == Event.run_id)


@dataclass
class Subscription:
    """One subscriber: a run (cursor = seq), a workflow or everything (cursor = global event id).

    Its history (events up to ``until``, the feed's watermark when it subscribed) is read from the database
    page by page; live events after ``until`` wait in ``queue`` meanwhile, so memory stays bounded."""

    db: Database
    until: int
    run_id: str | None = None
    workflow: str | None = None
    workspace: str | None = None  # everything: of this workspace's workflows only (app.workspaces)
    spaces: dict = field(default_factory=dict)  # workflow -> its workspace, read once per stream
    last: int = 0  # seq for a run subscription, else event id
    watch: set = field(default_factory=set)  # ids <= until the feed may still deliver late
    history_done: bool = False
    queue: queue.Queue = field(default_factory=queue.Queue)
    lagging: bool = False
    closed: bool = False

    def matches(self, msg: dict) -> bool:
        if self.run_id is not None:
            return msg["run_id"] == self.run_id
        if self.workflow is not None and msg["workflow"] != self.workflow:
            return False
        return self.workspace is None or self._in_workspace(msg["workflow"])

    def _in_workspace(self, workflow: str | None) -> bool:
        if workflow not in self.spaces:
            from app.workspaces import of_workflow

            self.spaces[workflow] = of_workflow(self.db, workflow)
        return self.spaces[workflow] == self.workspace

    def cursor_of(self, msg: dict) -> int:
        return msg["seq"] if self.run_id is not None else msg["id"]

    def offer(self, msg: dict) -> None:
        if self.closed or self.lagging:
            return
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.lagging = True  # the reader is too slow: it must reconnect with its cursor
            self.queue.put(None)
            return
        self.queue.put(msg)

    def next(self, timeout: float) -> list[dict]:
        """Messages not yet delivered, in order (with ``cursor``); [] on timeout. Raises ``Lagging``."""
        if not self.history_done:
            page = self._history_page()
            if page:
                return page
            self.history_done = True
        out: list[dict] = []
        try:
            item = self.queue.get(timeout=0 if self.lagging else timeout)
            while True:
                if item is None:  # what came before the cut-off is still delivered, then Lagging
                    break
                cursor = self.cursor_of(item)
                if item.get("late") and self.run_id is None:
                    # below the cursor: delivered (without moving it) unless the history already had it
                    if item["id"] > self.until or item["id"] in self.watch:
                        self.watch.discard(item["id"])
                        out.append({**item, "cursor": self.last})
                elif cursor > self.last:  # drop what history already delivered
                    self.last = cursor
                    out.append({**item, "cursor": cursor})
                item = self.queue.get_nowait()
        except queue.Empty:
            pass
        if not out and self.lagging:
            raise Lagging("the subscriber fell behind; reconnect with after=<last cursor>")
        return out

    def _history_page(self) -> list[dict]:
        q = _select().where(Event.id <= self.until).limit(HISTORY_PAGE)
        if self.run_id is not None:
            q = q.where(Event.run_id == self.run_id, Event.seq > self.last).order_by(Event.seq)
        else:
            q = q.where(Event.id > self.last).order_by(Event.id)
            if self.workflow is not None:
                q = q.where(Run.workflow_name == self.workflow)
            if self.workspace is not None:
                from app.workspaces import workflow_filter

                q = q.where(workflow_filter(Run.workflow_name, self.workspace))
        with self.db.session() as s:
            page = [event_message(row, wf) for row, wf in s.execute(q)]
        for msg in page:
            self.watch.discard(msg["id"])
            self.last = self.cursor_of(msg)
            msg["cursor"] = self.last
        return page


class Lagging(Exception):
    """A subscriber's buffer overflowed; it reconnects with its last cursor and misses nothing."""


class EventFeed:
    """Polls ``events WHERE id > released OR id IN holes`` every ``poll_seconds`` and fans out in id order."""

    def __init__(
        self,
        db: Database,
        *,
        poll_seconds: float = 0.15,
        hole_grace: float = 2.0,
        late_seconds: float = 60.0,
        wake_dir: str | None = None,
    ):
        """``wake_dir`` (default: ``$WASMFLOW_WAKE_DIR``): a folder where this feed listens on a datagram socket
        that sibling processes' ``Notifier`` pokes after they commit events."""
        self.db = db
        self.poll_seconds = poll_seconds
        self.hole_grace = hole_grace
        self.late_seconds = late_seconds
        self._lock = threading.Lock()  # guards released + subscribers (history handshake)
        self._subs: list[Subscription] = []
        self._holes: dict[int, float] = {}  # id -> monotonic time first seen missing
        self._late: dict[int, float] = {}  # passed holes still watched: id -> give-up time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.released = self._start_watermark()
        self._threads = [threading.Thread(target=self._loop, name="event-feed", daemon=True)]
        if is_postgres(db):
            self._threads.append(threading.Thread(target=self._listen, name="event-feed-listen", daemon=True))
        self._wake_socket: socket.socket | None = None
        wake_dir = wake_dir if wake_dir is not None else os.environ.get(WAKE_DIR_ENV)
        if wake_dir:
            self._wake_socket = _bind_wake_socket(wake_dir)
            self._threads.append(threading.Thread(target=self._receive_wakes, name="event-feed-wake", daemon=True))
        for t in self._threads:
            t.start()

    def _start_watermark(self) -> int:
        with self.db.session() as s:
            top = s.execute(sa.select(sa.func.max(Event.id))).scalar() or 0
            recent = set(s.execute(sa.select(Event.id).where(Event.id > top - 200)).scalars())
        now = time.monotonic()
        # ids just below the top that are missing may belong to transactions still in flight: watch them late
        self._late = {i: now + self.late_seconds for i in range(max(1, top - 199), top + 1) if i not in recent}
        return top

    # -- subscribing -------------------------------------------------------------------------------------

    def subscribe(
        self, *, run_id: str | None = None, workflow: str | None = None, after: int = 0, workspace: str | None = None
    ) -> Subscription:
        """Register a subscriber: its history (after ``after``) comes first, then live events; no gap, no dup.
        ``workspace``: a subscriber to everything sees only that workspace's runs."""
        if run_id is not None:
            from app.workspaces import of_run

            found = of_run(self.db, run_id)
            if found is None or (workspace is not None and found != workspace):  # another's: as if absent
                raise NotFound(f"no run {run_id}", details={"run_id": run_id})
        with self._lock:
            # everything up to ``released`` is history; everything released from now on goes to the queue
            sub = Subscription(
                self.db,
                self.released,
                run_id=run_id,
                workflow=workflow,
                workspace=workspace,
                last=max(0, after),
                watch=set(self._late),
            )
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.closed = True
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def wake(self, *_args: Any) -> None:
        """Poll now (an engine listener: events were just committed in this process)."""
        self._wake.set()

    # -- polling -----------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the feed; next tick retries
                log.exception("event feed poll failed")
                self._stop.wait(1.0)

    def poll_once(self) -> int:
        """Read new events and release them in id order; returns how many were released."""
        with self._lock:
            watch, released = list(self._late), self.released
        with self.db.session() as s:
            rows = list(s.execute(_select().where(Event.id > released).order_by(Event.id).limit(BATCH)))
            late_rows = list(s.execute(_select().where(Event.id.in_(watch)))) if watch else []
        fetched = {row.id: event_message(row, wf) for row, wf in rows}
        now = time.monotonic()
        out: list[dict] = []
        with self._lock:
            for row, wf in late_rows:
                if self._late.pop(row.id, None) is not None:
                    out.append({**event_message(row, wf), "late": True})
            top = max(fetched, default=self.released)
            i = self.released + 1
            while i <= top:
                if i in fetched:
                    out.append(fetched[i])
                    self._holes.pop(i, None)
                elif now - self._holes.setdefault(i, now) < self.hole_grace:
                    break  # hold back: a transaction holding this id may still commit
                else:
                    del self._holes[i]
                    self._late[i] = now + self.late_seconds
                self.released = i
                i += 1
            for msg in out:
                for sub in self._subs:
                    if sub.matches(msg):
                        sub.offer(msg)
            for i, until in list(self._late.items()):
                if until < now or len(self._late) > LATE_LIMIT:  # bounded: drop expired, then the oldest
                    del self._late[i]
        if len(rows) >= BATCH and self.released > released:
            self._wake.set()  # more waiting: go on at once
        return len(out)

    def _listen(self) -> None:
        """PostgreSQL: wake the poller on ``NOTIFY wasmflow_events`` (sent by ``Notifier`` in any process)."""
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(libpq_url(self.db), autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wake.set()  # anything committed while not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except Exception:  # noqa: BLE001 - polling goes on meanwhile; listen again shortly
                log.warning("event feed: LISTEN failed; polling only for now", exc_info=True)
                self._stop.wait(5.0)

    def _receive_wakes(self) -> None:
        """Sibling processes' pokes (one byte each) wake the poller."""
        sock = self._wake_socket
        sock.settimeout(1.0)  # to see _stop
        while not self._stop.is_set():
            try:
                sock.recv(64)
            except TimeoutError:
                continue
            except OSError:
                return
            self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=5)
        if self._wake_socket is not None:
            _unlink(self._wake_socket.getsockname())
            self._wake_socket.close()


CHANNEL = "wasmflow_events"


def is_postgres(db: Database) -> bool:
    return db.engine.dialect.name == "postgresql"


def libpq_url(db: Database) -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _bind_wake_socket(folder: str) -> socket.socket:
    os.makedirs(folder, mode=0o700, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(folder, f"feed-{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"))
    return sock


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def poke_siblings(folder: str) -> None:
    """One datagram to every feed socket in ``folder`` (a full or dead one is skipped: polling covers it)."""
    try:
        names = [n for n in os.listdir(folder) if n.endswith(".sock")]
    except OSError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for name in names:
            try:
                sock.sendto(b"!", os.path.join(folder, name))
            except OSError:
                pass


class Notifier:
    """An engine listener that sends ``NOTIFY wasmflow_events`` after this process commits events, so event
    feeds of other processes (a server streaming what a worker runs) wake at once; with ``wake_dir`` (default
    ``$WASMFLOW_WAKE_DIR``) it pokes the feed sockets there instead (SQLite). Coalesced and sent off the
    committing thread, by a thread that starts on demand and ends when idle. Else it does nothing."""

    def __init__(
        self, db: Database, *, min_interval: float = 0.02, idle_seconds: float = 30.0, wake_dir: str | None = None
    ):
        self.db = db
        # PostgreSQL's NOTIFY reaches every process on the database; pokes only this machine's siblings
        self.wake_dir = None if is_postgres(db) else (wake_dir or os.environ.get(WAKE_DIR_ENV) or None)
        self.enabled = is_postgres(db) or self.wake_dir is not None
        self.min_interval = min_interval
        self.idle_seconds = idle_seconds
        self._pending = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __call__(self, _run_id: str = "", _events: Any = None) -> None:
        if not self.enabled:
            return
        self._pending.set()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="event-notify", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            if not self._pending.wait(self.idle_seconds):
                with self._lock:
                    if not self._pending.is_set():  # idle: end; the next event starts a new thread
                        self._thread = None
                        return
            self._pending.clear()
            if self.wake_dir is not None:
                poke_siblings(self.wake_dir)
                time.sleep(self.min_interval / 10)
                continue
            try:
                with self.db.engine.connect() as conn:
                    conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
                    conn.commit()
            except Exception:  # noqa: BLE001 - a lost wakeup only costs one poll interval
                log.debug("NOTIFY failed", exc_info=True)
            time.sleep(self.min_interval)


def install_notifier(engine: Any) -> Notifier:
    """Send NOTIFY after ``engine`` commits events (``wasmflow serve`` and ``wasmflow worker``)."""
    notifier = Notifier(engine.db)
    engine.add_listener(notifier)
    return notifier


def parse_stream_args(args: Callable[[str], str | None]) -> dict[str, Any]:
    """``run=<id>`` | ``workflow=<name>`` | ``all=1``, with ``after=<cursor>``: keyword args for ``subscribe``."""
    run_id, workflow, every = args("run"), args("workflow"), args("all")
    chosen = [k for k, v in (("run", run_id), ("workflow", workflow), ("all", every)) if v]
    if len(chosen) != 1:
        raise UserError("give exactly one of run=<id>, workflow=<name> or all=1", code="bad_stream")
    raw = args("after") or "0"
    try:
        after = int(raw)
    except ValueError:
        raise UserError(f"after: {raw!r} is not a cursor (an integer)", code="bad_cursor") from None
    return {"run_id": run_id, "workflow": workflow, "after": after}
