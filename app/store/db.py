"""Engines and sessions. SQLite is the embedded default (WAL, synchronous=FULL); PostgreSQL by URL.

One ``Database`` per URL per process; sessions are short-lived and never shared across threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.errors import FatalError

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers proceed during a write; FULL makes each commit durable across power loss.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings wasmflow relies on."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return sa.create_engine(url, pool_pre_ping=True)


class Database:
    """An engine, a session factory and the migration entry points for one database URL."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as s:
            yield s

    def alembic_config(self):
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; a dead database gives a clear error."""
        from alembic import command

        try:
            with self._lock:
                command.upgrade(self.alembic_config(), "head")
        except sa.exc.OperationalError as exc:
            raise FatalError(
                f"cannot reach the database {self.safe_url}: {exc.orig}", code="database_unavailable"
            ) from None

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()


_open: dict[str, Database] = {}
_open_lock = threading.Lock()


def open_database(url: str, *, upgrade: bool = True) -> Database:
    """The process-wide ``Database`` for ``url``, migrated to the newest schema on first open."""
    with _open_lock:
        db = _open.get(url)
        if db is None:
            db = Database(url)
            if upgrade:
                db.upgrade()
            _open[url] = db
        return db


def close_database(url: str) -> None:
    """Dispose the process-wide ``Database`` for ``url`` (tests, shutdown)."""
    with _open_lock:
        db = _open.pop(url, None)
    if db is not None:
        db.dispose()
