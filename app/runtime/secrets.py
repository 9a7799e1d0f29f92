"""Named secrets, encrypted at rest with the instance key (Fernet); the plaintext never touches the database.

The key comes from ``WASMFLOW_SECRET_KEY`` or ``<instance>/secret.key``. A new key file is created (mode 0600)
only while no secrets are stored: generating a fresh key over existing secrets would make them unreadable
and hide the real problem, so that case is a clear fatal error instead.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from app.errors import FatalError, NotFound, UserError
from app.store.db import Database
from app.store.models import DEFAULT_WORKSPACE, Secret, Workflow

ENV_KEY = "WASMFLOW_SECRET_KEY"
KEY_FILE = "secret.key"
NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
MAX_VALUE_BYTES = 64 * 1024


class SecretResolver(Protocol):
    """What the host needs to inject a secret: its value by name, or None when it does not exist."""

    def value(self, name: str) -> str | None: ...


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UserError(
            f"name: {name!r} is not a valid secret name: use 1-64 upper-case letters, digits and '_', "
            "starting with a letter (like GITHUB_TOKEN)",
            code="invalid_secret_name",
            details={"field": "name"},
        )
    return name


def _mismatch(instance_dir: Path | None) -> FatalError:
    where = instance_dir / KEY_FILE if instance_dir else f"<instance>/{KEY_FILE}"
    return FatalError(
        "the secret key does not decrypt the stored secrets: it is not the key they were written with; "
        f"set {ENV_KEY} or restore {where}",
        code="secret_key_mismatch",
    )


def _missing(instance_dir: Path | None) -> FatalError:
    where = instance_dir / KEY_FILE if instance_dir else f"<instance>/{KEY_FILE}"
    return FatalError(
        f"secrets are stored but no secret key is configured: set {ENV_KEY} or restore {where} "
        "(a new key would not decrypt them)",
        code="secret_key_missing",
    )


class SecretBox:
    """Fernet encryption with the instance key."""

    def __init__(self, key: bytes | str, *, source: str = "key"):
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise FatalError(
                f"the secret key from {source} is not a valid key (32 url-safe base64-encoded bytes; "
                "generate one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')",
                code="secret_key_invalid",
            ) from None
        self.source = source

    @classmethod
    def load(cls, instance_dir: str | os.PathLike[str]) -> SecretBox | None:
        """The key from the environment, else from the instance's key file; None when neither exists."""
        env = os.environ.get(ENV_KEY, "").strip()
        if env:
            return cls(env, source=ENV_KEY)
        path = Path(instance_dir) / KEY_FILE
        if path.exists():
            return cls(path.read_bytes().strip(), source=str(path))
        return None

    @classmethod
    def create_key_file(cls, instance_dir: str | os.PathLike[str]) -> SecretBox:
        """Write a fresh key to ``<instance>/secret.key`` with mode 0600; if another process won, use its key."""
        path = Path(instance_dir) / KEY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls(path.read_bytes().strip(), source=str(path))
        with os.fdopen(fd, "wb") as f:
            f.write(key + b"\n")
            f.flush()
            os.fsync(f.fileno())
        return cls(key, source=str(path))

    def encrypt(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        """The plaintext; raises cryptography's ``InvalidToken`` when the key is not the one it was written with."""
        return self._fernet.decrypt(bytes(token)).decode("utf-8")


class SecretStore:
    """Secrets in the database, encrypted with ``box``. Implements ``SecretResolver``."""

    def __init__(self, db: Database, box: SecretBox | None, *, instance_dir: str | os.PathLike[str] | None = None):
        self.db = db
        self.box = box
        self.instance_dir = Path(instance_dir) if instance_dir else None

    def _box(self) -> SecretBox:
        if self.box is None:
            raise _missing(self.instance_dir)
        return self.box

    def set(
        self,
        name: str,
        value: str,
        *,
        workspace: str = DEFAULT_WORKSPACE,
        workflows: list[str] | None | object = ...,
    ) -> bool:
        """Store ``value`` under ``name`` in ``workspace``; True if it was created, False if it replaced one.
        ``workflows``: the workflows that may use it (None: all of the workspace); left as it was when omitted."""
        check_name(name)
        if not isinstance(value, str) or value == "":
            raise UserError("value: a secret value must be a non-empty string", details={"field": "value"})
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise UserError(
                f"value: a secret value may hold at most {MAX_VALUE_BYTES} bytes", details={"field": "value"}
            )
        grant = check_grant(workflows) if workflows is not ... else ...
        box = self._box()
        self.check_key()
        now = datetime.now(UTC)
        with self.db.session() as s:
            row = s.get(Secret, (workspace, name))
            if row is None:
                s.add(
                    Secret(
                        workspace=workspace,
                        name=name,
                        workflows=None if grant is ... else grant,
                        ciphertext=box.encrypt(value),
                        created_at=now,
                        updated_at=now,
                    )
                )
                return True
            row.ciphertext = box.encrypt(value)
            row.updated_at = now
            if grant is not ...:
                row.workflows = grant
            return False

    def grant(self, name: str, workflows: list[str] | None, *, workspace: str = DEFAULT_WORKSPACE) -> None:
        """Let only ``workflows`` use the secret (None: every workflow of its workspace); the value stays."""
        check_name(name)
        grant = check_grant(workflows)
        with self.db.session() as s:
            row = s.get(Secret, (workspace, name))
            if row is None:
                raise NotFound(f"no secret named {name}", details={"field": "name"})
            row.workflows = grant
            row.updated_at = datetime.now(UTC)

    def delete(self, name: str, *, workspace: str = DEFAULT_WORKSPACE) -> None:
        """Remove ``name``; works without the key (the way out after losing it)."""
        check_name(name)
        with self.db.session() as s:
            gone = s.execute(sa.delete(Secret).where(Secret.workspace == workspace, Secret.name == name)).rowcount
            if gone == 0:
                raise NotFound(f"no secret named {name}", details={"field": "name"})

    def names(self, *, workspace: str = DEFAULT_WORKSPACE) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(sa.select(Secret.name).where(Secret.workspace == workspace).order_by(Secret.name)))

    def describe(self, *, workspace: str = DEFAULT_WORKSPACE) -> list[dict]:
        """Names, grants and times of the workspace's secrets (never a value)."""
        with self.db.session() as s:
            rows = s.scalars(sa.select(Secret).where(Secret.workspace == workspace).order_by(Secret.name))
            return [
                {
                    "name": r.name,
                    "workflows": r.workflows,
                    "created_at": r.created_at.isoformat(),
                    "updated_at": r.updated_at.isoformat(),
                }
                for r in rows
            ]

    def count(self) -> int:
        with self.db.session() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(Secret)) or 0

    def value(self, name: str, *, workspace: str = DEFAULT_WORKSPACE) -> str | None:
        """The plaintext of ``name`` in ``workspace``, or None when no such secret exists (grants not checked:
        a run asks ``for_workflow``)."""
        with self.db.session() as s:
            row = s.get(Secret, (workspace, name))
            token = None if row is None else row.ciphertext
        if token is None:
            return None
        return self._decrypt(token)

    def _decrypt(self, token: bytes) -> str:
        try:
            return self._box().decrypt(token)
        except InvalidToken:
            raise _mismatch(self.instance_dir) from None

    def values(self, names: list[str] | tuple[str, ...]) -> dict[str, str]:
        """``{name: value}`` of those ``names`` that exist: what a run's ``Redactor`` is built from."""
        found = {}
        for name in names:
            v = self.value(name)
            if v is not None:
                found[name] = v
        return found

    def for_workflow(self, workflow: str) -> WorkflowSecrets:
        """The secrets a run of ``workflow`` may resolve: its workspace's, granted to it."""
        return WorkflowSecrets(self, workflow)

    def check_key(self) -> None:
        """Raise ``secret_key_missing``/``secret_key_mismatch`` when secrets exist that the key cannot decrypt."""
        with self.db.session() as s:
            tokens = list(s.scalars(sa.select(Secret.ciphertext)))
        if not tokens:
            return
        box = self._box()
        for token in tokens:
            try:
                box.decrypt(token)
            except InvalidToken:
                raise _mismatch(self.instance_dir) from None


def check_grant(workflows: object) -> list[str] | None:
    if workflows is None:
        return None
    if not isinstance(workflows, list) or not all(isinstance(w, str) and w for w in workflows):
        raise UserError(
            "workflows: a list of workflow names, or null for every workflow of the workspace",
            code="invalid_grant",
            details={"field": "workflows"},
        )
    return sorted(set(workflows))


class WorkflowSecrets:
    """``SecretResolver`` of one workflow's runs: a secret of its workspace that is granted to it, else None.

    ``missing(name)`` says which of the two it was, for the error the run reports."""

    def __init__(self, store: SecretStore, workflow: str):
        self.store = store
        self.workflow = workflow
        self._workspace: str | None = None

    @property
    def workspace(self) -> str:
        if self._workspace is None:
            with self.store.db.session() as s:
                ws = s.scalar(sa.select(Workflow.workspace).where(Workflow.name == self.workflow))
            self._workspace = ws or DEFAULT_WORKSPACE
        return self._workspace

    def _row(self, name: str) -> tuple[bytes, list | None] | None:
        with self.store.db.session() as s:
            row = s.get(Secret, (self.workspace, name))
            return None if row is None else (row.ciphertext, row.workflows)

    def value(self, name: str) -> str | None:
        row = self._row(name)
        if row is None or (row[1] is not None and self.workflow not in row[1]):
            return None
        return self.store._decrypt(row[0])

    def missing(self, name: str) -> str:
        """Why ``value(name)`` is None, with the command that fixes it."""
        row = self._row(name)
        ws = self.workspace
        where = "" if ws == DEFAULT_WORKSPACE else f" --workspace {ws}"
        if row is None:
            return (
                f"secret {name!r} does not exist in workspace {ws}; create it with: wasmflow secrets set {name}{where}"
            )
        return (
            f"secret {name!r} of workspace {ws} is not granted to workflow {self.workflow} (it is granted to "
            f"{', '.join(row[1]) or 'no workflow'}); grant it with: wasmflow secrets grant {name} {self.workflow}{where}"
        )


def missing_message(secrets: object, name: str) -> str:
    """The reason a resolver had no value for ``name``: a scoped one knows which it was."""
    if isinstance(secrets, WorkflowSecrets):
        return secrets.missing(name)
    return f"secret {name!r} does not exist on this instance; create it with: wasmflow secrets set {name}"


def open_secret_store(db: Database, instance_dir: str | os.PathLike[str]) -> SecretStore:
    """The instance's secret store with its key checked; creates the key file on first start (no secrets yet)."""
    box = SecretBox.load(instance_dir)
    store = SecretStore(db, box, instance_dir=instance_dir)
    if box is None:
        if store.count():
            raise _missing(Path(instance_dir))
        store.box = SecretBox.create_key_file(instance_dir)
    store.check_key()
    return store
