"""Limits of text and number columns, checked when a value is assigned, on every database.

SQLite stores any length, PostgreSQL raises ``DataError`` at flush, MariaDB raises error
1406 in strict mode and silently truncates without it. So the model refuses an over-long
value itself, at assignment, with an ``InvalidInputError`` (a ``ValueError``) naming the
column and its limit (never the value: it may be a secret):

- ``String(n)``: at most ``n`` characters (what PostgreSQL and MariaDB count);
- ``Text``: at most 65,535 bytes of UTF-8, the size of MariaDB's ``TEXT``, on every
  database, so that data accepted on one database fits on the others.

Every text and JSON column also refuses a NUL character (PostgreSQL rejects it with an
error that quotes the value, the others store it), a JSON column NaN or a value that is
not JSON (a date, a set: otherwise a raw ``StatementError`` at flush), an ``INTEGER``
column a value outside its 32-bit range (a raw "integer out of range" at flush otherwise),
and a float column NaN and infinities (PostgreSQL stores them and every comparison with
them is false). Enum columns are left to their own validation. A listener on every mapper
of ``Base`` installs the checks as the mappers are configured.
The limits themselves are in ``agentical.db.limits``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, Float, Integer, String, Text, event
from sqlalchemy.orm import Mapper
from sqlalchemy.types import TypeDecorator

from agentical.db.errors import InvalidInputError
from agentical.db.limits import (
    INT_COLUMN_MAX,
    INT_COLUMN_MIN,
    MAX_STRING_BYTES,
    number_problem,
    scan_value,
)
from agentical.db.models.base import Base

TEXT_MAX_BYTES = MAX_STRING_BYTES


def _limit_of(column_type: Any) -> tuple[str, int] | None:
    """``("characters", n)`` or ``("bytes", n)`` for a limited text type, else ``None``."""
    if isinstance(column_type, Enum) or not isinstance(column_type, String):
        return None
    if isinstance(column_type, Text):
        return ("bytes", TEXT_MAX_BYTES)
    if column_type.length is not None:
        return ("characters", column_type.length)
    return None


def _measure(value: str, unit: str) -> int:
    return len(value.encode("utf-8", "surrogatepass")) if unit == "bytes" else len(value)


def _install(mapper: Mapper[Any], class_: type[Any]) -> None:
    if not issubclass(class_, Base):
        return
    for prop in mapper.column_attrs:
        if prop.parent is not mapper or len(prop.columns) != 1:
            continue
        label = f"{class_.__name__}.{prop.key}"
        column_type = prop.columns[0].type
        limit = _limit_of(column_type)
        if limit is not None:
            event.listen(getattr(class_, prop.key), "set", _checker(label, *limit))
        elif isinstance(column_type, Integer | Float) and not isinstance(column_type, BigInteger):
            event.listen(getattr(class_, prop.key), "set", _number_checker(label))
        elif _is_json(column_type):
            event.listen(getattr(class_, prop.key), "set", _json_checker(label))


def _is_json(column_type: Any) -> bool:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, JSON)


def _checker(label: str, unit: str, maximum: int) -> Callable[..., None]:
    def check(_target: Any, value: Any, _old: Any, _initiator: Any) -> None:
        if not isinstance(value, str):
            return
        if _measure(value, unit) > maximum:
            raise InvalidInputError(f"{label} is longer than {maximum} {unit}")
        if "\x00" in value:
            raise InvalidInputError(
                f"{label} contains a NUL character (\\x00), which databases refuse"
            )

    return check


def _json_checker(label: str) -> Callable[..., None]:
    def check(_target: Any, value: Any, _old: Any, _initiator: Any) -> None:
        try:
            text = json.dumps(value, allow_nan=False)  # C speed: a NUL shows as \u0000
        except (ValueError, RecursionError):
            raise InvalidInputError(
                f"{label} cannot be stored as JSON (NaN, an infinity, or a value nested too "
                "deep or containing itself)"
            ) from None
        except TypeError as error:  # names the type (a date, a set), never the value
            raise InvalidInputError(f"{label} cannot be stored as JSON: {error}") from None
        if "\\u0000" in text and _has_nul(value):
            raise InvalidInputError(
                f"{label} contains a NUL character (\\x00), which databases refuse"
            )

    return check


def _has_nul(value: Any) -> bool:
    """Whether a NUL is really in ``value`` (not the six characters ``\\u0000`` of a text)."""
    found = scan_value(value, max_values=sys.maxsize, max_text_bytes=sys.maxsize, controls=False)
    return any("NUL" in problem.message for problem in found)


def _number_checker(label: str) -> Callable[..., None]:
    def check(_target: Any, value: Any, _old: Any, _initiator: Any) -> None:
        if isinstance(value, int | float):
            reason = number_problem(value, low=INT_COLUMN_MIN, high=INT_COLUMN_MAX)
            if reason is not None:
                raise InvalidInputError(f"{label} {reason}")

    return check


event.listen(Mapper, "mapper_configured", _install)
