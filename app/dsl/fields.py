"""Strict JSON fields and validators for the DSL schemas.

marshmallow's stock fields coerce ("3" -> 3, "true" -> True); a workflow document is JSON, so these accept
exactly the JSON type they name. Every message is a predicate ("must be a string") that the loader prefixes
with the field name, and carries a short code. Validators also describe themselves as JSON Schema so the
export (jsonschema_export.py) comes from the same source as the checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError, fields

# Field metadata keys.
KIND = "x-wasmflow"  # "expression" | "template" | "code" on a string field, or on the values of a Dict field
DESCRIPTION = "description"


class Msg(str):
    """A message that carries its problem code through marshmallow's error dicts."""

    code: str

    def __new__(cls, text: str, code: str) -> Msg:
        obj = super().__new__(cls, text)
        obj.code = code
        return obj


def fail(text: str, code: str = "invalid_value") -> ValidationError:
    return ValidationError(Msg(text, code))


_KEY_CODES = {"required": "required", "null": "null", "invalid": "wrong_type", "type": "wrong_type"}


class _Strict:
    """Mixin: plain-sentence messages with codes."""

    default_error_messages = {"required": "is required", "null": "must not be null"}

    def make_error(self, key: str, **kwargs: Any) -> ValidationError:
        err = super().make_error(key, **kwargs)  # type: ignore[misc]
        code = _KEY_CODES.get(key, "invalid_value")
        err.messages = [Msg(str(m), code) for m in err.messages]
        return err


class JStr(_Strict, fields.String):
    default_error_messages = {"invalid": "must be a string", "invalid_utf8": "must be a string"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return value


class JInt(_Strict, fields.Field):
    """A JSON integer; 3.0 is accepted as 3 (JSON does not distinguish them), true is not."""

    default_error_messages = {"invalid": "must be an integer"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                raise self.make_error("invalid")
            return int(value)
        return value


class JNum(_Strict, fields.Field):
    """A finite JSON number; integral floats load as ints so 30 and 30.0 canonicalize alike."""

    default_error_messages = {"invalid": "must be a number"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.make_error("invalid")
            if value.is_integer():
                return int(value)
        return value


class JBool(_Strict, fields.Field):
    default_error_messages = {"invalid": "must be true or false"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class JRaw(_Strict, fields.Raw):
    """Any JSON value (the document was already checked to be JSON by limits.py)."""


class JDict(_Strict, fields.Dict):
    default_error_messages = {"invalid": "must be an object"}


class JList(_Strict, fields.List):
    default_error_messages = {"invalid": "must be a list"}


class JNested(_Strict, fields.Nested):
    default_error_messages = {"type": "must be an object"}


class Tagged(_Strict, fields.Field):
    """An object whose ``tag`` field picks its schema: e.g. http auth ``{"type": "bearer", ...}``."""

    default_error_messages = {"invalid": "must be an object"}

    def __init__(self, tag: str, variants: dict[str, type], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tag = tag
        self.variants = variants
        self._schemas: dict[str, Any] = {}

    def schema_for(self, name: str) -> Any:
        if name not in self._schemas:
            self._schemas[name] = self.variants[name]()
        return self._schemas[name]

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        tag = value.get(self.tag)
        if not isinstance(tag, str) or tag not in self.variants:
            names = ", ".join(f'"{v}"' for v in self.variants)
            raise ValidationError({self.tag: [Msg(f"must be one of {names}", "not_allowed")]})
        return self.schema_for(tag).load(value)


class StatusItem(_Strict, fields.Field):
    """An HTTP status: an integer 100..599 or a class "2xx".."5xx"."""

    default_error_messages = {"invalid": 'must be a status code (100..599) or a class like "2xx"'}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int | str:
        if isinstance(value, str) and re.fullmatch(r"[2-5]xx", value):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
        raise self.make_error("invalid")


# --- validators that describe themselves as JSON Schema -------------------------------------------------


class Check:
    """A validator with a JSON Schema fragment (``schema``)."""

    schema: dict[str, Any] = {}

    def __call__(self, value: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class Range(Check):
    def __init__(self, lo: float | None = None, hi: float | None = None, *, lo_exclusive: bool = False) -> None:
        self.lo, self.hi, self.lo_exclusive = lo, hi, lo_exclusive
        self.schema = {}
        if lo is not None:
            self.schema["exclusiveMinimum" if lo_exclusive else "minimum"] = lo
        if hi is not None:
            self.schema["maximum"] = hi

    def __call__(self, value: Any) -> None:
        too_low = self.lo is not None and (value <= self.lo if self.lo_exclusive else value < self.lo)
        if too_low or (self.hi is not None and value > self.hi):
            if self.lo is not None and self.hi is not None and not self.lo_exclusive:
                raise fail(f"must be between {_num(self.lo)} and {_num(self.hi)}", "out_of_range")
            if self.lo is not None and self.lo_exclusive:
                more = f" and at most {_num(self.hi)}" if self.hi is not None else ""
                raise fail(f"must be greater than {_num(self.lo)}{more}", "out_of_range")
            if self.lo is not None:
                raise fail(f"must be at least {_num(self.lo)}", "out_of_range")
            raise fail(f"must be at most {_num(self.hi)}", "out_of_range")


def _num(x: Any) -> str:
    return f"{x:,}" if isinstance(x, int) else str(x)


class OneOf(Check):
    def __init__(self, choices: list[Any] | tuple[Any, ...]) -> None:
        self.choices = list(choices)
        self.schema = {"enum": self.choices}

    def __call__(self, value: Any) -> None:
        if value not in self.choices:
            if len(self.choices) == 1:
                raise fail(f"must be {_q(self.choices[0])}", "not_allowed")
            raise fail("must be one of " + ", ".join(_q(c) for c in self.choices), "not_allowed")


def _q(x: Any) -> str:
    return f'"{x}"' if isinstance(x, str) else repr(x)


class Length(Check):
    def __init__(self, lo: int | None = None, hi: int | None = None, *, unit: str = "characters") -> None:
        self.lo, self.hi, self.unit = lo, hi, unit
        key = "Items" if unit != "characters" else "Length"
        self.schema = {}
        if lo is not None:
            self.schema[f"min{key}"] = lo
        if hi is not None:
            self.schema[f"max{key}"] = hi

    def __call__(self, value: Any) -> None:
        n = len(value)
        if self.lo is not None and n < self.lo:
            if self.lo == 1:
                raise fail("must not be empty", "too_short")
            raise fail(f"must have at least {self.lo} {self.unit}", "too_short")
        if self.hi is not None and n > self.hi:
            raise fail(f"must have at most {_num(self.hi)} {self.unit} (it has {_num(n)})", "too_long")


class Pattern(Check):
    def __init__(self, regex: str, hint: str, *, code: str = "bad_format") -> None:
        self.regex = re.compile(regex)
        self.hint = hint
        self.code = code
        self.schema = {"pattern": regex}

    def __call__(self, value: Any) -> None:
        if not self.regex.fullmatch(value):
            raise fail(f"must be {self.hint} (got {_short(value)})", self.code)


class Func(Check):
    """A validator function returning an error message (or None), with its own JSON Schema hints."""

    def __init__(self, func: Callable[[Any], str | None], code: str, **schema: Any) -> None:
        self.func, self.code, self.schema = func, code, schema

    def __call__(self, value: Any) -> None:
        message = self.func(value)
        if message:
            raise fail(message, self.code)


def _short(value: str) -> str:
    text = value if len(value) <= 40 else value[:37] + "..."
    return repr(text)
