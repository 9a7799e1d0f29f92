"""Group commit: concurrent runs hand their journal writes to one thread that commits them together.

Each caller blocks until the transaction holding its writes is durable, so the write-ahead rule holds for
it, but N runs flushing at the same moment pay for one transaction and one fsync instead of N. A batch is
written with set-based statements (one lease check, one bulk insert of journal rows, one of events), so
the cost per run stays small as concurrency grows. If a batch fails, its items are retried one by one so
that one bad item cannot fail the others.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.engine import runs
from app.errors import Conflict
from app.store import Database
from app.store.models import JournalEntry, Run


@dataclass
class Flush:
    """What one run commits at once: journal rows (new and completed), events, and extra writes."""

    run_id: str
    owner: str
    inserts: list[dict] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    extra: Callable[[Session], Any] | None = None


@dataclass
class Written:
    event_seqs: list[int]
    extra: Any = None


# Built once, executed on the session's connection with bound parameters (this runs for every flush).
_J = JournalEntry.__table__
_JOURNAL_INSERT = _J.insert()
_JOURNAL_DONE = (  # a journal row's intent completed: by primary key (run_id, seq)
    _J.update()
    .where(_J.c.run_id == sa.bindparam("rid"), _J.c.seq == sa.bindparam("rseq"))
    .values(state=sa.bindparam("state"), result=sa.bindparam("result"), completed_at=sa.bindparam("completed_at"))
)
_HOLDERS = sa.select(Run.__table__.c.id, Run.__table__.c.lease_owner).where(
    Run.__table__.c.id.in_(sa.bindparam("ids", expanding=True)), Run.__table__.c.status == runs.RUNNING
)


def write_flushes(s: Session, flushes: list[Flush]) -> list[Written | BaseException]:
    """Write ``flushes`` in session ``s`` with set-based statements; per-item lease failures are returned."""
    conn = s.connection()
    ids = sorted({f.run_id for f in flushes})
    holders = dict(conn.execute(_HOLDERS, {"ids": ids}).all())
    out: list[Written | BaseException | None] = [None] * len(flushes)
    ok: list[int] = []
    for i, f in enumerate(flushes):
        if holders.get(f.run_id) != f.owner:  # a process that lost its lease must not write
            out[i] = Conflict(f"run {f.run_id} is no longer leased by {f.owner}")
        else:
            ok.append(i)
    inserts = [row for i in ok for row in flushes[i].inserts]
    if inserts:
        conn.execute(_JOURNAL_INSERT, inserts)  # Core: one cached statement, no ORM bulk machinery
    updates = [row for i in ok for row in flushes[i].updates]
    if updates:
        conn.execute(_JOURNAL_DONE, [{"rid": u["run_id"], "rseq": u["seq"], **u} for u in updates])
    now = runs.utcnow()
    event_rows: list[dict] = []
    seqs: dict[int, list[int]] = {}
    for i in ok:
        f = flushes[i]
        if f.events:
            last = runs.take_event_seqs(s, f.run_id, len(f.events))
            first = last - len(f.events)
            seqs[i] = list(range(first, last))
            event_rows.extend(
                {
                    "run_id": f.run_id,
                    "seq": first + k,
                    "type": e["type"],
                    "node": e.get("node"),
                    "data": e.get("data"),
                    "at": e.get("at") or now,  # stamped when it happened, not when it was committed
                }
                for k, e in enumerate(f.events)
            )
    if event_rows:
        conn.execute(runs.EVENT_INSERT, event_rows)
    for i in ok:
        f = flushes[i]
        out[i] = Written(event_seqs=seqs.get(i, []), extra=f.extra(s) if f.extra else None)
    return out  # type: ignore[return-value]


class GroupCommitter:
    def __init__(self, db: Database, *, max_batch: int = 256):
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[Flush, Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
        self._closed = False
        self.commits = 0  # transactions committed (for benchmarks)
        self.items = 0  # flushes committed
        self._thread.start()

    def commit(self, flush: Flush) -> Written:
        """Write ``flush`` in a shared transaction and return once that transaction is committed."""
        if self._closed:
            raise RuntimeError("the committer is closed")
        fut: Future = Future()
        self._queue.put((flush, fut))
        return fut.result()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            self._run(batch)

    def _run(self, batch: list[tuple[Flush, Future]]) -> None:
        try:
            with self.db.session() as s:
                results = write_flushes(s, [f for f, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - handed to the callers
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for item in batch:  # isolate the failing item
                self._run([item])
            return
        self.commits += 1
        self.items += len(batch)
        for (_f, fut), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)
