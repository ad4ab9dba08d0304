"""Column types shared by every model: aware UTC timestamps, JSON and string enums."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Enum
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import TypeDecorator, TypeEngine

from agentical.db.errors import InvalidInputError
from agentical.db.limits import MAX_VALUE_BYTES, json_refusal, scan_value

_MYSQL_DIALECTS = ("mysql", "mariadb")


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always stored in UTC and always read back timezone-aware.

    SQLite and MariaDB keep no offset and PostgreSQL answers in the session time zone, so
    the conversion happens here, once, for every database. Naive input is refused rather
    than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in _MYSQL_DIALECTS:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} refused: give a timezone-aware value"
            )
        value = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def aware_utc(field: str, value: Any) -> datetime | None:
    """``value`` as an aware UTC datetime; naive or non-datetime input is refused, naming
    ``field``, at assignment (before it could reach a flush)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{field}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            f"{field}: naive datetime {value.isoformat()} refused: give a timezone-aware value"
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of Greenwich, 9999-12-31 west of it
        raise InvalidInputError(
            f"{field}: {value.isoformat()} is outside the dates UTC can show"
        ) from None


def ensure_json(field: str, value: Any) -> None:
    """Refuse, naming ``field``, a value that a JSON column cannot hold on every database.

    Checked when a method changes the value, so a bad value never reaches the flush, where
    it would fail with the object already changed and the session needing a rollback.
    """
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        reason = json_refusal(error)
        raise InvalidInputError(f"{field} must be JSON-serialisable: {reason}") from None
    except RecursionError:
        raise InvalidInputError(f"{field} is nested too deeply to store") from None
    for problem in storage_problems(value):
        raise InvalidInputError(f"{field}: {problem}")


def storage_problems(value: Any) -> list[str]:
    """Why a JSON value cannot be stored the same on every database (a NUL character, an
    integer beyond 64 bits, more text than ``MAX_VALUE_BYTES``), without showing it."""
    found = scan_value(value, max_text_bytes=MAX_VALUE_BYTES, controls=False)
    return [problem.message for problem in found]


def json_type(*, nullable_as_sql_null: bool = False) -> TypeEngine[Any]:
    """JSON everywhere, JSONB on PostgreSQL (indexable, compact)."""
    return JSON(none_as_null=nullable_as_sql_null).with_variant(
        postgresql.JSONB(none_as_null=nullable_as_sql_null), "postgresql"
    )


def str_enum(enum_class: type[StrEnum], name: str, *, checked: bool = True) -> Enum:
    """A portable enum column: the lower-case values in a VARCHAR guarded by a CHECK
    (unless ``checked`` is false: for a copy only the library writes).

    ``name`` names the CHECK constraint (``ck_<table>_<name>``), so two columns of the
    same enum in one table do not clash.
    """
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=checked,
        validate_strings=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
    )
