"""All tables of wasmflow, in one module (one place to read the schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, LargeBinary, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


DEFAULT_WORKSPACE = "default"


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
    compile_seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text, default=None)


class SchemaInfo(Base):
    """A single row naming what created this database (helps support read an unknown instance)."""

    __tablename__ = "schema_info"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[str] = mapped_column(String(64))


class Run(Base):
    """One execution of a compiled workflow. Its journal and events hang off it by ``run_id``."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workflow_name: Mapped[str] = mapped_column(String(64), index=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(24), index=True)  # queued running waiting succeeded failed ...
    input: Mapped[Any] = mapped_column(JSON, nullable=True)
    output: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    response: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # webhook response from a respond node
    waiting_for: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # what wakes a waiting run
    wake_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    executions: Mapped[int] = mapped_column(Integer, default=0)  # times an instance was started for it
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    parent_run_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    parent_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # what the idempotency keys of this run's side effects start with (None: the run id); a child run takes the
    # key of the call that started it, so every attempt of that call makes children with the same keys
    key_base: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # seconds of execution used by earlier executions (settings.timeout_seconds counts them all, not waits)
    active_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # lineage of a replay/fork (app.engine.replay): the run it was replayed from, and from which node
    replay_of: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    replay_from_node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    next_event_seq: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JournalEntry(Base):
    """One host call of a run: the write-ahead record that makes replay possible (keyed run_id, seq)."""

    __tablename__ = "journal"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    capability: Mapped[str] = mapped_column(String(48))
    request_hash: Mapped[str] = mapped_column(String(64))
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(12))  # intent | done | failed
    request: Mapped[Any] = mapped_column(JSON, nullable=True)  # redacted
    result: Mapped[Any] = mapped_column(JSON, nullable=True)  # redacted response, or the error document
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Event(Base):
    """What happened in a run, in order: feeds the live view and the run history."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[Any] = mapped_column(JSON, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("run_id", "seq"),)


class KvEntry(Base):
    """A key in a workflow's kv namespace."""

    __tablename__ = "kv"

    workflow_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Secret(Base):
    """A named secret of a workspace, encrypted with the instance key; the plaintext never touches the database.

    ``workflows``: the workflows of its workspace that may use it (None: every one)."""

    __tablename__ = "secrets"

    workspace: Mapped[str] = mapped_column(String(64), primary_key=True, server_default=DEFAULT_WORKSPACE)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflows: Mapped[list | None] = mapped_column(JSON, nullable=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Wait(Base):
    """A durable wait of a run: a timer, an approval or a child run, keyed by the call's idempotency key."""

    __tablename__ = "waits"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)  # run_id:seq
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # timer | approval | child
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    wake_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    detail: Mapped[dict] = mapped_column(JSON)  # approval title/details/timeout action, child run id ...
    status: Mapped[str] = mapped_column(String(16))  # pending | done
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Workflow(Base):
    """A workflow by name, with its editable draft (the DSL document) and a revision for optimistic locking.

    It belongs to one workspace, and so do its versions, deployment, runs (and their events, journal, waits),
    kv namespaces, webhook and schedule: they hang off its name, which is unique in the instance."""

    __tablename__ = "workflows"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64), index=True, server_default=DEFAULT_WORKSPACE)
    title: Mapped[str] = mapped_column(String(200))
    draft: Mapped[dict] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)  # +1 on every draft update; stale -> 409
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WorkflowVersion(Base):
    """An immutable deployed version: the digest that was compiled from a draft, and that draft."""

    __tablename__ = "workflow_versions"

    workflow_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    dsl: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(254), nullable=True)  # who deployed it (with auth on)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class Deployment(Base):
    """Which version of a workflow its triggers use now (one row per workflow; absent = not deployed)."""

    __tablename__ = "deployments"

    workflow_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    webhook_token: Mapped[str] = mapped_column(String(64), unique=True)  # the unguessable part of the webhook URL
    active: Mapped[bool] = mapped_column(default=True)
    deployed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deployed_by: Mapped[str | None] = mapped_column(String(254), nullable=True)  # who pointed it here last


class WebhookDelivery(Base):
    """A webhook delivery id seen for a workflow: the same delivery sent N times creates one run."""

    __tablename__ = "webhook_deliveries"

    workflow_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScheduleState(Base):
    """The next tick of a deployed schedule trigger; a tick is fired by whoever moves next_fire_at first."""

    __tablename__ = "schedules"

    workflow_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))
    next_fire_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ApprovalDecision(Base):
    """Append-only audit of approval decisions (approved, rejected, timed_out); rows are never changed."""

    __tablename__ = "approval_decisions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    approval_key: Mapped[str] = mapped_column(String(48), index=True)  # the Wait key run_id:seq
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision: Mapped[str] = mapped_column(String(16))  # approved | rejected | timed_out
    by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A person who signs in (issue 13). ``role``: viewer < operator < editor < admin (app/auth.py)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """An API token: shown once, stored as its SHA-256, scoped to a role at most its user's, expiring."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str] = mapped_column(String(64), server_default=DEFAULT_WORKSPACE)  # the only one it reaches
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class UserSession(Base):
    """A signed-in browser: the cookie carries the id, stored here as its SHA-256, with its CSRF token."""

    __tablename__ = "user_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Workspace(Base):
    """A workspace: the unit of isolation (issue 13). ``default`` always exists."""

    __tablename__ = "workspaces"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Membership(Base):
    """A user's role in one workspace (viewer < operator < editor < admin); no row, no access."""

    __tablename__ = "memberships"

    workspace: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SignInFailure(Base):
    """A failed sign-in of one (address, email), shared by every server process (the throttle, app/auth.py)."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), index=True)  # SHA-256 of address and email
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
