"""Persistence: SQLAlchemy 2 models, Alembic migrations, one engine per database URL."""

from app.store.db import Database, open_database

__all__ = ["Database", "open_database"]
