"""Length limits of text columns, checked when a value is assigned, on every database.

SQLite stores any length, PostgreSQL raises ``DataError`` at flush, MariaDB raises error
1406 in strict mode and silently truncates without it. So the model refuses an over-long
value itself, at assignment, with an ``InvalidInputError`` (a ``ValueError``) naming the
column and its limit (never the value: it may be a secret):

- ``String(n)``: at most ``n`` characters (what PostgreSQL and MariaDB count);
- ``Text``: at most 65,535 bytes of UTF-8, the size of MariaDB's ``TEXT``, on every
  database, so that data accepted on one database fits on the others.

Enum columns are left to their own validation. A listener on every mapper of ``Base``
installs the checks as the mappers are configured.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Enum, String, Text, event
from sqlalchemy.orm import Mapper

from agentical.db.errors import InvalidInputError
from agentical.db.models.base import Base

TEXT_MAX_BYTES = 65_535


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
        limit = _limit_of(prop.columns[0].type)
        if limit is None:
            continue
        label = f"{class_.__name__}.{prop.key}"
        event.listen(getattr(class_, prop.key), "set", _checker(label, *limit))


def _checker(label: str, unit: str, maximum: int) -> Any:
    def check(_target: Any, value: Any, _old: Any, _initiator: Any) -> None:
        if isinstance(value, str) and _measure(value, unit) > maximum:
            raise InvalidInputError(f"{label} is longer than {maximum} {unit}")

    return check


event.listen(Mapper, "mapper_configured", _install)
