"""Group commit: concurrent runs hand their writes to one thread that commits them together.

Each caller blocks until the transaction holding its work is durable, so the write-ahead rule holds for
it, but N runs committing at the same moment pay for one fsync instead of N. If a batch fails, its items
are retried one by one so that one bad item cannot fail the others.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from app.store import Database

T = TypeVar("T")
Work = Callable[[Session], Any]


class GroupCommitter:
    def __init__(self, db: Database, *, max_batch: int = 256):
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[Work, Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
        self._closed = False
        self.commits = 0  # transactions committed (for benchmarks)
        self.items = 0  # work items committed
        self._thread.start()

    def commit(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a shared transaction and return its result once that is committed."""
        if self._closed:
            raise RuntimeError("the committer is closed")
        fut: Future = Future()
        self._queue.put((work, fut))
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

    def _run(self, batch: list[tuple[Work, Future]]) -> None:
        results: list[Any] = []
        try:
            with self.db.session() as s:
                for work, _fut in batch:
                    results.append(work(s))
        except BaseException as exc:  # noqa: BLE001 - handed to the callers
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for item in batch:  # isolate the failing item
                self._settle_one(item)
            return
        self.commits += 1
        self.items += len(batch)
        for (_work, fut), result in zip(batch, results, strict=True):
            fut.set_result(result)

    def _settle_one(self, item: tuple[Work, Future]) -> None:
        work, fut = item
        try:
            with self.db.session() as s:
                result = work(s)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            fut.set_exception(exc)
            return
        self.commits += 1
        self.items += 1
        fut.set_result(result)
