"""The shared column types, checked against each dialect without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest
from sqlalchemy import Dialect, Enum
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.dialects.mysql import DATETIME as MYSQL_DATETIME
from sqlalchemy.dialects.postgresql import JSONB

from agentical.db.enums import ExecutionStatus
from agentical.db.errors import InvalidInputError
from agentical.db.types import UTCDateTime, aware_utc, ensure_json, json_type, str_enum, utc_now

PLUS_TWO = timezone(timedelta(hours=2))


def _make(dialect_class: Any) -> Dialect:
    made: Dialect = dialect_class()
    return made


SQLITE = _make(sqlite.dialect)
POSTGRESQL = _make(postgresql.dialect)


def _dialects() -> list[tuple[str, Dialect]]:
    mariadb = mysql.dialect()
    mariadb.is_mariadb = True
    return [
        ("sqlite", SQLITE),
        ("postgresql", POSTGRESQL),
        ("mysql", mysql.dialect()),
        ("mariadb", mariadb),
    ]


DIALECTS = _dialects()


def test_utc_now_is_aware_and_in_utc() -> None:
    now = utc_now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("name", "dialect"), DIALECTS, ids=[n for n, _ in DIALECTS])
def test_bind_converts_an_offset_to_the_same_instant_in_utc(name: str, dialect: Dialect) -> None:
    local = datetime(2026, 3, 1, 12, 34, 56, 123456, tzinfo=PLUS_TWO)
    bound = UTCDateTime().process_bind_param(local, dialect)
    assert bound is not None
    expected = datetime(2026, 3, 1, 10, 34, 56, 123456)  # noqa: DTZ001  (stored naive in UTC)
    if name == "postgresql":
        assert bound == local
        assert bound.utcoffset() == timedelta(0)
    else:
        assert bound == expected
        assert bound.tzinfo is None


@pytest.mark.parametrize(("name", "dialect"), DIALECTS, ids=[n for n, _ in DIALECTS])
def test_bind_refuses_a_naive_datetime_with_a_clear_error(name: str, dialect: Dialect) -> None:
    with pytest.raises(ValueError, match=r"naive datetime .* refused"):
        UTCDateTime().process_bind_param(datetime(2026, 3, 1, 12, 0), dialect)  # noqa: DTZ001


@pytest.mark.parametrize("value", ["2026-03-01T12:00:00+00:00", 1_700_000_000, object()])
def test_bind_refuses_anything_but_a_datetime(value: Any) -> None:
    with pytest.raises(TypeError, match="expected a datetime"):
        UTCDateTime().process_bind_param(value, SQLITE)


@pytest.mark.parametrize(("name", "dialect"), DIALECTS, ids=[n for n, _ in DIALECTS])
def test_bind_and_result_pass_none_through(name: str, dialect: Dialect) -> None:
    assert UTCDateTime().process_bind_param(None, dialect) is None
    assert UTCDateTime().process_result_value(None, dialect) is None


@pytest.mark.parametrize(("name", "dialect"), DIALECTS, ids=[n for n, _ in DIALECTS])
def test_result_is_always_aware_utc(name: str, dialect: Dialect) -> None:
    naive = datetime(2026, 3, 1, 10, 0)  # noqa: DTZ001  (what SQLite and MariaDB return)
    aware = datetime(2026, 3, 1, 12, 0, tzinfo=PLUS_TWO)  # what PostgreSQL may return
    loaded_naive = UTCDateTime().process_result_value(naive, dialect)
    loaded_aware = UTCDateTime().process_result_value(aware, dialect)
    assert loaded_naive == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert loaded_naive is not None
    assert loaded_naive.tzinfo is UTC
    assert loaded_aware is not None
    assert loaded_aware.tzinfo is UTC
    assert loaded_aware == aware


@pytest.mark.parametrize(("name", "dialect"), DIALECTS, ids=[n for n, _ in DIALECTS])
def test_mysql_family_keeps_microseconds(name: str, dialect: Dialect) -> None:
    impl = UTCDateTime().load_dialect_impl(dialect)
    if name in ("mysql", "mariadb"):
        assert isinstance(impl, MYSQL_DATETIME)
        assert impl.fsp == 6
    else:
        assert not isinstance(impl, MYSQL_DATETIME)


def test_json_type_is_jsonb_on_postgresql_only() -> None:
    column_type = json_type()
    assert isinstance(column_type.dialect_impl(POSTGRESQL), JSONB)
    assert not isinstance(column_type.dialect_impl(SQLITE), JSONB)


def test_json_type_can_store_none_as_sql_null() -> None:
    assert json_type(nullable_as_sql_null=True).none_as_null is True  # type: ignore[attr-defined]
    assert json_type().none_as_null is False  # type: ignore[attr-defined]


class Colour(StrEnum):
    LIGHT_BLUE = "light_blue"
    RED = "red"


def test_str_enum_stores_lower_case_values_behind_a_named_check() -> None:
    column_type = str_enum(Colour, "colour")
    assert isinstance(column_type, Enum)
    assert column_type.enums == ["light_blue", "red"]
    assert column_type.native_enum is False
    assert column_type.create_constraint is True
    assert column_type.name == "colour"


def test_str_enum_rejects_an_unknown_string_before_the_database() -> None:
    processor = str_enum(ExecutionStatus, "status").bind_processor(SQLITE)  # type: ignore[no-untyped-call]
    assert processor is not None
    assert processor(ExecutionStatus.PAUSED) == "paused"
    assert processor("paused") == "paused"
    with pytest.raises(LookupError):
        processor("sleeping")


@pytest.mark.parametrize("value", [None, 1, 1.5, "x", True, [1, {"a": None}], {"k": [1, 2]}])
def test_ensure_json_accepts_json_values(value: Any) -> None:
    ensure_json("Model.field", value)


def _containing_itself() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({1, 2}, "Object of type set is not JSON serializable"),
        (datetime(2026, 1, 1, tzinfo=UTC), "Object of type datetime is not JSON serializable"),
        ({"k": object()}, "Object of type object is not JSON serializable"),
        (float("nan"), "NaN and infinity are not JSON numbers"),
        ([float("inf")], "NaN and infinity are not JSON numbers"),
        (_containing_itself(), "Circular reference detected"),
    ],
)
def test_ensure_json_rejects_what_a_json_column_cannot_hold_naming_the_field_and_why(
    value: Any, reason: str
) -> None:
    """The same words on every Python version (3.13 reworded the json module's NaN error)."""
    with pytest.raises(InvalidInputError) as refused:
        ensure_json("Model.field", value)
    assert str(refused.value) == f"Model.field must be JSON-serialisable: {reason}"


def test_ensure_json_refuses_a_value_nested_past_the_interpreters_depth() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInputError, match=r"Model\.field is nested too deeply"):
        ensure_json("Model.field", deep)


def test_aware_utc_converts_and_passes_none() -> None:
    local = datetime(2026, 3, 1, 12, 0, tzinfo=PLUS_TWO)
    converted = aware_utc("Model.at", local)
    assert converted == local
    assert converted is not None
    assert converted.tzinfo is UTC
    assert aware_utc("Model.at", None) is None


def test_aware_utc_refuses_naive_and_non_datetimes_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"Model\.at: naive datetime"):
        aware_utc("Model.at", datetime(2026, 3, 1))  # noqa: DTZ001
    with pytest.raises(TypeError, match=r"Model\.at: expected a datetime, got str"):
        aware_utc("Model.at", "2026-03-01T00:00:00Z")


@pytest.mark.parametrize(
    "edge",
    [
        datetime.min.replace(tzinfo=timezone(timedelta(hours=5))),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_aware_utc_refuses_a_moment_past_the_calendars_ends_in_utc(edge: datetime) -> None:
    with pytest.raises(InvalidInputError, match=r"Model\.at: .* is outside the dates UTC can show"):
        aware_utc("Model.at", edge)
