"""The database's clock, for leases, due times and deadlines.

Workers run on several machines whose clocks disagree; the database is the one clock they
share. PostgreSQL and MariaDB compute "now" themselves (``now()``, ``UTC_TIMESTAMP(6)``).
SQLite is a file on one machine, so its processes share that machine's clock and the
library passes it in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Interval,
    bindparam,
    func,
    literal,
    literal_column,
    select,
)

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


# The hot path's statements are built once per database and reused (building and keying
# a statement costs more than sending it): their clock readings are parameters, given by
# ``clock_values`` at each execution. SQLite's "now" is this machine's, so it is one too.
_NOW_PARAMETER = "clock_now"


def now_parameter_sql(dialect: str) -> ColumnElement[datetime]:
    """ "Now" in a statement built once (SQLite: the ``clock_values`` parameter)."""
    if dialect == "postgresql":
        return func.statement_timestamp(type_=UTCDateTime())
    if dialect in MYSQL_FAMILY:
        return func.utc_timestamp(literal_column("6"), type_=UTCDateTime())
    return bindparam(_NOW_PARAMETER, type_=UTCDateTime())


def later_parameter_sql(dialect: str, name: str) -> ColumnElement[datetime]:
    """ "Now" plus the seconds ``clock_values`` gives as ``name``, in a statement built once."""
    if dialect == "postgresql":
        return func.statement_timestamp(type_=UTCDateTime()) + bindparam(name, type_=Interval())
    if dialect in MYSQL_FAMILY:
        return func.timestampadd(
            literal_column("MICROSECOND"),
            bindparam(name, type_=BigInteger()),
            func.utc_timestamp(literal_column("6")),
            type_=UTCDateTime(),
        )
    return bindparam(name, type_=UTCDateTime())


def seconds_since_parameter_sql(dialect: str, start: Any) -> Any:
    """Seconds from ``start`` to "now", in a statement built once."""
    if dialect == "postgresql":
        return func.extract("epoch", func.statement_timestamp() - start)
    if dialect in MYSQL_FAMILY:
        return (
            func.timestampdiff(
                literal_column("MICROSECOND"), start, func.utc_timestamp(literal_column("6"))
            )
            / 1_000_000.0
        )
    now = bindparam(_NOW_PARAMETER, type_=UTCDateTime())
    return (func.julianday(now) - func.julianday(start)) * 86400.0


def clock_values(dialect: str, **seconds: float) -> dict[str, Any]:
    """The parameters of the ``*_parameter_sql`` expressions: each ``name=seconds`` for
    ``later_parameter_sql(dialect, name)``, and SQLite's "now"."""
    if dialect == "postgresql":
        return {name: timedelta(seconds=value) for name, value in seconds.items()}
    if dialect in MYSQL_FAMILY:
        return {name: round(value * 1_000_000) for name, value in seconds.items()}
    now = utc_now()
    values: dict[str, Any] = {
        name: now + timedelta(seconds=value) for name, value in seconds.items()
    }
    values[_NOW_PARAMETER] = now
    return values
