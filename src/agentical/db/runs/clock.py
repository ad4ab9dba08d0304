"""The database's clock, for leases, due times and deadlines.

Workers run on several machines whose clocks disagree; the database is the one clock they
share. PostgreSQL and MariaDB compute "now" themselves (``now()``, ``UTC_TIMESTAMP(6)``).
SQLite is a file on one machine, so its processes share that machine's clock and the
library passes it in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal, literal_column, select

from agentical.db.types import UTCDateTime, utc_now

MYSQL_FAMILY = frozenset({"mysql", "mariadb"})


def now_sql(connection: Connection) -> ColumnElement[datetime]:
    """ "Now" as the database sees it."""
    name = connection.dialect.name
    if name == "postgresql":
        return func.statement_timestamp(type_=UTCDateTime())
    if name in MYSQL_FAMILY:
        return func.utc_timestamp(literal_column("6"), type_=UTCDateTime())
    return literal(utc_now(), UTCDateTime())


def later_sql(connection: Connection, seconds: float) -> ColumnElement[datetime]:
    """The database's "now" plus ``seconds``."""
    name = connection.dialect.name
    if name == "postgresql":
        return func.statement_timestamp(type_=UTCDateTime()) + literal(timedelta(seconds=seconds))
    if name in MYSQL_FAMILY:
        microseconds = round(seconds * 1_000_000)
        return func.date_add(
            func.utc_timestamp(literal_column("6")),
            literal_column(f"INTERVAL {microseconds} MICROSECOND"),
            type_=UTCDateTime(),
        )
    return literal(utc_now() + timedelta(seconds=seconds), UTCDateTime())


def database_now(connection: Connection) -> datetime:
    """Read the database's clock (one statement; SQLite: this machine's clock)."""
    if connection.dialect.name == "sqlite":
        return utc_now()
    value = connection.scalar(select(now_sql(connection)))
    assert isinstance(value, datetime)
    return value


def seconds_since_sql(connection: Connection, start: Any, now: datetime) -> Any:
    """Seconds from ``start`` (a column or value) to the database's "now" (``now``: the
    Python value SQLite uses)."""
    name = connection.dialect.name
    if name == "postgresql":
        return func.extract("epoch", func.statement_timestamp() - start)
    if name in MYSQL_FAMILY:
        return (
            func.timestampdiff(
                literal_column("MICROSECOND"), start, func.utc_timestamp(literal_column("6"))
            )
            / 1_000_000.0
        )
    return (func.julianday(literal(now, UTCDateTime())) - func.julianday(start)) * 86400.0
