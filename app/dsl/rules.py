"""Value rules shared by the schemas: identifiers, durations, cron, time zones, host names.

Each returns an error predicate (or None) so the same rule serves field validation and JSON Schema hints.
"""

from __future__ import annotations

import functools
import keyword
import re
import zoneinfo
from datetime import datetime
from typing import Any

NODE_ID_RE = r"^[a-z][a-z0-9_]{0,63}$"
NAME_RE = r"^[a-z][a-z0-9-]{0,62}$"
SECRET_RE = r"^[A-Z][A-Z0-9_]{0,63}$"
PORT_RE = r"^[a-z][a-z0-9_]{0,31}$"
NAMESPACE_RE = r"^[a-z][a-z0-9_-]{0,62}$"
CODE_RE = r"^[a-z][a-z0-9_]{0,63}$"
HEADER_RE = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"
HOST_RE = r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
DURATION_RE = r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"

# Names the runtime binds itself; a node id may not take them.
RESERVED_NAMES = frozenset({"input", "item", "index", "error", "env", "secrets", "ctx", "None", "True", "False"})
MAX_DURATION_SECONDS = 366 * 86400
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def node_id_problem(value: str) -> str | None:
    if value in RESERVED_NAMES:
        return f"must not be the reserved name '{value}'"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return f"must not be the Python keyword '{value}'"
    return None


def duration_seconds(text: str) -> int | None:
    """Seconds in a duration like "1h30m", or None when it does not follow the grammar."""
    if not isinstance(text, str) or not text or not re.fullmatch(DURATION_RE, text):
        return None
    return sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([dhms])", text))


def duration_problem(text: str) -> str | None:
    seconds = duration_seconds(text)
    if seconds is None:
        return f'must be a duration like "90s", "15m", "1h30m" or "2d" (got {text!r})'
    if seconds <= 0:
        return "must be longer than zero"
    if seconds > MAX_DURATION_SECONDS:
        return "must be at most 366 days"
    return None


def cron_problem(text: str) -> str | None:
    parts = text.split()
    if len(parts) != 5:
        return (
            f'must have 5 fields (minute hour day-of-month month day-of-week), like "0 9 * * 1-5"; it has {len(parts)}'
        )
    from croniter import croniter

    try:
        ok = croniter.is_valid(text)
    except Exception:  # croniter raises assorted errors for odd input; any of them means "not valid"
        ok = False
    return None if ok else f"is not a valid cron expression: {text!r}"


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_problem(text: str) -> str | None:
    if text in _zones() or text == "UTC":
        return None
    return f'must be an IANA time zone like "Europe/Berlin" or "UTC" (got {text!r})'


def iso_timestamp_problem(text: str) -> str | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return f'must be an ISO 8601 timestamp like "2026-01-31T09:00:00Z" (got {text!r})'
    if value.tzinfo is None:
        return 'needs a time zone offset, like "2026-01-31T09:00:00Z" or "+01:00"'
    return None


def is_json_type(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)
