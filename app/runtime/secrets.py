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
from app.store.models import Secret

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

    def set(self, name: str, value: str) -> bool:
        """Store ``value`` under ``name``; True if it was created, False if it replaced an existing one."""
        check_name(name)
        if not isinstance(value, str) or value == "":
            raise UserError("value: a secret value must be a non-empty string", details={"field": "value"})
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise UserError(
                f"value: a secret value may hold at most {MAX_VALUE_BYTES} bytes", details={"field": "value"}
            )
        box = self._box()
        self.check_key()
        now = datetime.now(UTC)
        with self.db.session() as s:
            row = s.get(Secret, name)
            if row is None:
                s.add(Secret(name=name, ciphertext=box.encrypt(value), created_at=now, updated_at=now))
                return True
            row.ciphertext = box.encrypt(value)
            row.updated_at = now
            return False

    def delete(self, name: str) -> None:
        """Remove ``name``; works without the key (the way out after losing it)."""
        check_name(name)
        with self.db.session() as s:
            if s.execute(sa.delete(Secret).where(Secret.name == name)).rowcount == 0:
                raise NotFound(f"no secret named {name}", details={"field": "name"})

    def names(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(sa.select(Secret.name).order_by(Secret.name)))

    def count(self) -> int:
        with self.db.session() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(Secret)) or 0

    def value(self, name: str) -> str | None:
        """The plaintext of ``name``, or None when no such secret exists."""
        with self.db.session() as s:
            row = s.get(Secret, name)
            token = None if row is None else row.ciphertext
        if token is None:
            return None
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
