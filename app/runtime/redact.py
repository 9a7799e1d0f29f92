"""The one choke point that keeps secret values out of journal rows, events, logs, outputs and errors.

A ``Redactor`` knows the secret values a run may use and replaces every occurrence (and its common encoded
forms) with ``[secret:NAME]``. One compiled regex of all tokens, longest first, keeps it linear in the size
of the document.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus

# Encoded forms of very short values would match ordinary text everywhere; such values are still redacted
# verbatim, only their derived forms are skipped.
MIN_DERIVED_LENGTH = 4


def label_for(name: str) -> str:
    return f"[secret:{name}]"


def _b64_forms(raw: bytes) -> list[str]:
    std = base64.b64encode(raw).decode("ascii")
    url = base64.urlsafe_b64encode(raw).decode("ascii")
    return [std, std.rstrip("="), url, url.rstrip("=")]


# A base64 core shorter than this could match unrelated base64 text.
MIN_CORE_LENGTH = 6


def _b64_cores(raw: bytes) -> list[str]:
    """The base64 characters that depend only on ``raw``, at each of the 3 byte alignments it can have
    inside a longer encoded text (e.g. base64 of "Bearer <value>"): a secret wrapped before encoding is
    redacted too, up to the 1-2 characters at its edges that it shares with its neighbours."""
    cores = []
    n = len(raw)
    for k in range(3):
        first, last = -(-8 * k // 6), (8 * k + 8 * n) // 6  # whole 6-bit groups inside the value's bits
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(b"\0" * k + raw + b"\0\0").decode("ascii")[first:last]
            if len(core) >= MIN_CORE_LENGTH:
                cores.append(core)
    return cores


def derived_forms(value: str) -> list[str]:
    """The forms a secret commonly takes on the wire: base64 (standard, URL-safe, unpadded, and the
    alignment-independent cores of base64 text containing it) and URL-encoded."""
    if len(value) < MIN_DERIVED_LENGTH:
        return []
    raw = value.encode("utf-8")
    return [*_b64_forms(raw), *_b64_cores(raw), quote(value, safe=""), quote_plus(value, safe="")]


def basic_auth_token(username: str, value: str) -> str:
    """The base64 ``user:value`` credential of HTTP basic auth."""
    return base64.b64encode(f"{username}:{value}".encode()).decode("ascii")


class Redactor:
    """Replaces secret values (and their encoded forms) in any JSON-like value with ``[secret:NAME]``."""

    def __init__(self, secrets: Mapping[str, str] | None = None):
        self._labels: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        for name, value in (secrets or {}).items():
            if not value:
                continue
            self.add(value, name)
            for form in derived_forms(value):
                self.add(form, name)

    def add(self, token: str, label: str) -> None:
        """Also redact ``token`` as ``[secret:label]`` (e.g. a basic-auth credential built from a secret)."""
        if not token or token in self._labels:
            return
        self._labels[token] = label_for(label)
        self._pattern = None

    def __bool__(self) -> bool:
        return bool(self._labels)

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None and self._labels:
            # Longest first so that a padded base64 form wins over its unpadded prefix.
            tokens = sorted(self._labels, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(t) for t in tokens))
        return self._pattern

    def redact_text(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is None:
            return text
        return pattern.sub(lambda m: self._labels[m.group(0)], text)

    def redact(self, obj: Any) -> Any:
        """A copy of ``obj`` with every secret occurrence replaced, in strings and dict keys alike."""
        if isinstance(obj, str):
            return self.redact_text(obj)
        if isinstance(obj, Mapping):
            return {self.redact(k) if isinstance(k, str) else k: self.redact(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.redact(v) for v in obj]
        return obj
