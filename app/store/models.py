"""All tables of wasmflow, in one module (one place to read the schema)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Artifact(Base):
    """A compiled workflow, keyed by its digest; the files live under ``artifacts/<digest>/``."""

    __tablename__ = "artifacts"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_name: Mapped[str] = mapped_column(String(64), index=True)
    dsl_sha256: Mapped[str] = mapped_column(String(64))
    compiler: Mapped[dict] = mapped_column(JSON)  # compiler version, fingerprint and toolchain versions
    manifest: Mapped[dict] = mapped_column(JSON)
    component_sha256: Mapped[str] = mapped_column(String(64))
    component_size: Mapped[int] = mapped_column(BigInteger)
    bundle: Mapped[dict] = mapped_column(JSON)  # entry module and core modules by content hash
    compile_seconds: Mapped[float] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text, default=None)


class SchemaInfo(Base):
    """A single row naming what created this database (helps support read an unknown instance)."""

    __tablename__ = "schema_info"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[str] = mapped_column(String(64))
