"""The database layer on SQLite and PostgreSQL: migrations, durability settings, clear errors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.errors import FatalError
from app.store.db import Database


def test_upgrade_creates_schema_and_is_idempotent(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    db.upgrade()
    from alembic.script import ScriptDirectory

    assert db.current_revision() == ScriptDirectory.from_config(db.alembic_config()).get_current_head()
    names = set(sa.inspect(db.engine).get_table_names())
    assert {"artifacts", "runs", "journal", "events", "kv", "secrets", "waits", "alembic_version"} <= names
    db.dispose()


def test_migrations_match_the_models(database_url: str) -> None:
    """A model change without a migration fails here, on each database."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from app.store.models import Base

    db = Database(database_url)
    db.upgrade()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    db.dispose()


def test_sqlite_runs_in_wal_with_full_sync(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.upgrade()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_session_rolls_back_on_error(sqlite_url: str) -> None:
    from app.store.models import SchemaInfo

    db = Database(sqlite_url)
    db.upgrade()
    with pytest.raises(RuntimeError):
        with db.session() as s:
            s.add(SchemaInfo(id=1, created_by="test"))
            s.flush()
            raise RuntimeError("boom")
    with db.session() as s:
        assert s.get(SchemaInfo, 1) is None
    db.dispose()


def test_dead_database_gives_a_clear_error() -> None:
    # Nothing listens on port 1: the error names the database (without a password) and is not a traceback.
    db = Database("postgresql://wasmflow:hunter2@127.0.0.1:1/nothing")
    with pytest.raises(FatalError) as info:
        db.upgrade()
    assert info.value.code == "database_unavailable"
    assert "127.0.0.1:1" in info.value.message
    assert "hunter2" not in info.value.message
