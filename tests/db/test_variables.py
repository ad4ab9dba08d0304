"""Validation, normalisation and coercion of typed variable values (pure functions)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from agentical.db.enums import VariableType
from agentical.db.variables import (
    IDENTIFIER,
    VariableSpec,
    coerce_text,
    normalise,
    validation_errors,
)

T = VariableType
PLUS_TWO = timezone(timedelta(hours=2))
OPTIONS = ("low", "medium", "high")


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def spec(kind: VariableType, **constraints: Any) -> VariableSpec:
    if kind in (T.SELECT, T.MULTI_SELECT):
        constraints.setdefault("enum_values", OPTIONS)
    return VariableSpec(name="v", variable_type=kind, **constraints)


class Unserialisable:
    pass


class HostileEq:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    __hash__ = None  # type: ignore[assignment]


VALID: list[tuple[VariableType, Any]] = [
    (T.STRING, "hello"),
    (T.STRING, ""),
    (T.INTEGER, 0),
    (T.INTEGER, -7),
    (T.FLOAT, 1.5),
    (T.FLOAT, 2),
    (T.BOOLEAN, True),
    (T.BOOLEAN, False),
    (T.JSON, {"a": [1, 2, {"b": None}]}),
    (T.JSON, [1, "x"]),
    (T.JSON, "text"),
    (T.JSON, 3),
    (T.SELECT, "medium"),
    (T.MULTI_SELECT, ["low", "high"]),
    (T.MULTI_SELECT, []),
    (T.MULTI_SELECT, ("low",)),
    (T.DATE, date(2026, 3, 1)),
    (T.DATE, "2026-03-01"),
    (T.DATETIME, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
    (T.DATETIME, "2026-03-01T12:00:00+02:00"),
    (T.DATETIME, "2026-03-01T12:00:00Z"),
    (T.FILE, "/var/log/app.log"),
    (T.FILE, "s3://bucket/key.txt"),
]

INVALID: list[tuple[VariableType, Any, str]] = [
    (T.STRING, 5, "expected a string, got int"),
    (T.STRING, b"bytes", "expected a string, got bytes"),
    (T.INTEGER, True, "expected an integer, got bool"),
    (T.INTEGER, 1.0, "expected an integer, got float"),
    (T.INTEGER, "5", "expected an integer, got str"),
    (T.FLOAT, True, "expected a finite number, got bool"),
    (T.FLOAT, math.nan, "expected a finite number"),
    (T.FLOAT, math.inf, "expected a finite number"),
    (T.FLOAT, "1.5", "expected a finite number, got str"),
    (T.FLOAT, Decimal("1.5"), "expected a finite number, got Decimal"),
    (T.BOOLEAN, 1, "expected a boolean, got int"),
    (T.BOOLEAN, 0, "expected a boolean, got int"),
    (T.BOOLEAN, "true", "expected a boolean, got str"),
    (T.JSON, {"a": Unserialisable()}, "expected a JSON-serialisable value"),
    (T.JSON, {1, 2}, "expected a JSON-serialisable value"),
    (T.JSON, math.nan, "expected a JSON-serialisable value"),
    (T.JSON, nested(100_000), "nested deeper than 32 levels"),
    (T.SELECT, "critical", "must be one of: low, medium, high"),
    (T.SELECT, ["low"], "must be one of"),
    (T.MULTI_SELECT, "low", "expected a list of options, got str"),
    (T.MULTI_SELECT, ["low", "critical"], "every item must be one of: low, medium, high"),
    (T.DATE, "01/03/2026", "not a valid ISO-8601 date"),
    (T.DATE, datetime(2026, 3, 1, tzinfo=UTC), "expected a date without a time"),
    (T.DATE, 20260301, "expected a date or an ISO-8601 date string"),
    (T.DATETIME, "yesterday", "not a valid ISO-8601 datetime"),
    (T.DATETIME, "2026-03-01T12:00:00", "datetime needs a timezone offset"),
    (T.DATETIME, datetime(2026, 3, 1, 12), "datetime needs a timezone offset"),  # noqa: DTZ001
    (T.DATETIME, date(2026, 3, 1), "expected a datetime or an ISO-8601 datetime string"),
    (T.FILE, "   ", "expected a file path or URI, got an empty string"),
    (T.FILE, 3, "expected a string, got int"),
]


def test_valid_and_invalid_tables_cover_all_ten_types() -> None:
    assert {kind for kind, _ in VALID} == set(VariableType)
    assert {kind for kind, _, _ in INVALID} == set(VariableType)


@pytest.mark.parametrize(("kind", "value"), VALID)
def test_valid_value_has_no_errors(kind: VariableType, value: Any) -> None:
    assert validation_errors(spec(kind), value) == []


@pytest.mark.parametrize(("kind", "value", "reason"), INVALID)
def test_invalid_value_gives_the_reason(kind: VariableType, value: Any, reason: str) -> None:
    errors = validation_errors(spec(kind), value)
    assert len(errors) == 1
    assert reason in errors[0]


@pytest.mark.parametrize("kind", list(VariableType))
def test_none_is_accepted_unless_required(kind: VariableType) -> None:
    assert validation_errors(spec(kind), None) == []
    assert validation_errors(spec(kind, is_required=True), None) == ["a value is required"]


@pytest.mark.parametrize(
    ("kind", "constraints", "value", "reason"),
    [
        (T.INTEGER, {"min_value": 1}, 0, "must be >= 1"),
        (T.INTEGER, {"max_value": 10}, 11, "must be <= 10"),
        (T.FLOAT, {"min_value": 0.5, "max_value": 1.5}, 2.0, "must be <= 1.5"),
        (T.STRING, {"min_length": 3}, "ab", "must have at least 3 characters"),
        (T.STRING, {"max_length": 3}, "abcd", "must have at most 3 characters"),
        (T.MULTI_SELECT, {"max_length": 1}, ["low", "high"], "must have at most 1 items"),
        (T.MULTI_SELECT, {"min_length": 1}, [], "must have at least 1 items"),
        (T.STRING, {"pattern": r"[A-Z]{3}-\d+"}, "abc-1", "must match the pattern"),
        (T.FILE, {"pattern": r".*\.log"}, "/tmp/x.txt", "must match the pattern"),
    ],
)
def test_constraint_violation_gives_the_reason(
    kind: VariableType, constraints: dict[str, Any], value: Any, reason: str
) -> None:
    assert any(reason in error for error in validation_errors(spec(kind, **constraints), value))


@pytest.mark.parametrize(
    ("kind", "constraints", "value"),
    [
        (T.INTEGER, {"min_value": 1, "max_value": 10}, 1),
        (T.INTEGER, {"min_value": 1, "max_value": 10}, 10),
        (T.STRING, {"min_length": 2, "max_length": 3}, "abc"),
        (T.STRING, {"pattern": r"[A-Z]{3}-\d+"}, "ABC-12"),
    ],
)
def test_value_at_the_bounds_is_accepted(
    kind: VariableType, constraints: dict[str, Any], value: Any
) -> None:
    assert validation_errors(spec(kind, **constraints), value) == []


def test_pattern_must_match_the_whole_value() -> None:
    assert validation_errors(spec(T.STRING, pattern=r"\d+"), "12a") != []


def test_several_constraint_reasons_are_all_reported() -> None:
    errors = validation_errors(spec(T.STRING, max_length=2, pattern=r"\d+"), "abc")
    assert len(errors) == 2


def test_select_does_not_confuse_bool_and_int_options() -> None:
    numbers = VariableSpec(name="v", variable_type=T.SELECT, enum_values=(0, 1, 2))
    assert validation_errors(numbers, 1) == []
    assert validation_errors(numbers, True) != []
    assert validation_errors(numbers, 1.0) != []


def test_a_hostile_value_is_reported_not_raised() -> None:
    errors = validation_errors(spec(T.SELECT), HostileEq())
    assert errors != []


def test_reasons_never_contain_the_value() -> None:
    secret = "hunter2-secret"
    errors = validation_errors(spec(T.STRING, pattern=r"\d+", max_length=3), secret)
    assert errors
    assert all(secret not in error for error in errors)


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        (T.DATE, date(2026, 3, 1), "2026-03-01"),
        (T.DATE, "2026-03-01", "2026-03-01"),
        (
            T.DATETIME,
            datetime(2026, 3, 1, 12, 0, tzinfo=PLUS_TWO),
            "2026-03-01T10:00:00+00:00",
        ),
        (T.DATETIME, "2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00+00:00"),
        (T.MULTI_SELECT, ("low", "high"), ["low", "high"]),
        (T.JSON, {"a": 1}, {"a": 1}),
        (T.INTEGER, 3, 3),
        (T.STRING, None, None),
    ],
)
def test_normalise_gives_the_json_ready_stored_form(
    kind: VariableType, value: Any, stored: Any
) -> None:
    assert normalise(spec(kind), value) == stored


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        (T.INTEGER, " 42 ", 42),
        (T.INTEGER, "-3", -3),
        (T.FLOAT, "2.5", 2.5),
        (T.FLOAT, "7", 7.0),
        (T.BOOLEAN, "true", True),
        (T.BOOLEAN, "Yes", True),
        (T.BOOLEAN, "on", True),
        (T.BOOLEAN, "1", True),
        (T.BOOLEAN, "false", False),
        (T.BOOLEAN, "NO", False),
        (T.BOOLEAN, "off", False),
        (T.BOOLEAN, "0", False),
        (T.JSON, '{"a": [1, 2]}', {"a": [1, 2]}),
        (T.JSON, "3", 3),
        (T.MULTI_SELECT, "low, high", ["low", "high"]),
        (T.MULTI_SELECT, '["low", "high"]', ["low", "high"]),
        (T.MULTI_SELECT, "", []),
        (T.STRING, "  as is  ", "  as is  "),
        (T.SELECT, "low", "low"),
        (T.DATE, "2026-03-01", "2026-03-01"),
        (T.DATETIME, "2026-03-01T12:00:00Z", "2026-03-01T12:00:00Z"),
        (T.FILE, "/tmp/a", "/tmp/a"),
    ],
)
def test_coerce_text_reads_raw_text_as_the_type(kind: VariableType, raw: str, value: Any) -> None:
    coerced = coerce_text(kind, raw)
    assert coerced == value
    assert type(coerced) is type(value)


def test_coerced_text_then_validates_for_every_type() -> None:
    raw = {
        T.STRING: "x",
        T.INTEGER: "5",
        T.FLOAT: "5.5",
        T.BOOLEAN: "true",
        T.JSON: "[1]",
        T.SELECT: "low",
        T.MULTI_SELECT: "low,medium",
        T.DATE: "2026-03-01",
        T.DATETIME: "2026-03-01T00:00:00+00:00",
        T.FILE: "/etc/hosts",
    }
    assert set(raw) == set(VariableType)
    for kind, text in raw.items():
        assert validation_errors(spec(kind), coerce_text(kind, text)) == [], kind


@pytest.mark.parametrize(
    ("kind", "options", "raw", "value"),
    [
        (T.SELECT, (1, 3, 5), "3", 3),
        (T.SELECT, (True, False), "false", False),
        (T.SELECT, (0.5, 1.5), " 1.5 ", 1.5),
        (T.SELECT, ("3", 3), "3", "3"),  # a text option equal to the text comes first
        (T.MULTI_SELECT, (1, 2, 3), "1, 3", [1, 3]),
        (T.MULTI_SELECT, (1, "two"), "two,1", ["two", 1]),
        (T.MULTI_SELECT, (1, 2, 3), "[1, 2]", [1, 2]),
    ],
)
def test_text_names_the_option_it_spells_when_the_options_are_not_text(
    kind: VariableType, options: tuple[Any, ...], raw: str, value: Any
) -> None:
    coerced = coerce_text(kind, raw, options)
    assert coerced == value
    assert validation_errors(spec(kind, enum_values=options), coerced) == []


def test_text_that_names_no_option_stays_text_and_validation_names_the_options() -> None:
    coerced = coerce_text(T.SELECT, "4", (1, 3, 5))
    assert coerced == "4"
    assert validation_errors(spec(T.SELECT, enum_values=(1, 3, 5)), coerced) == [
        "must be one of: 1, 3, 5"
    ]


@pytest.mark.parametrize(
    ("kind", "raw", "reason"),
    [
        (T.INTEGER, "4.5", "expected an integer"),
        (T.INTEGER, "four", "expected an integer"),
        (T.FLOAT, "abc", "expected a number"),
        (T.FLOAT, "nan", "expected a finite number"),
        (T.FLOAT, "inf", "expected a finite number"),
        (T.BOOLEAN, "maybe", "expected a boolean"),
        (T.JSON, "{not json", "expected valid JSON"),
        (T.MULTI_SELECT, '["low", ', "expected a JSON list"),
        pytest.param(T.JSON, "[" * 100_000, "nested deeper than 32 levels", id="json-deep"),
        pytest.param(
            T.MULTI_SELECT, "[" * 100_000, "nested deeper than 32 levels", id="multi_select-deep"
        ),
    ],
)
def test_coerce_text_rejects_unreadable_text_with_the_reason(
    kind: VariableType, raw: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        coerce_text(kind, raw)


@pytest.mark.parametrize("value", [5, True, ["a"], None])
def test_coerce_text_returns_typed_values_unchanged(value: Any) -> None:
    assert coerce_text(T.INTEGER, value) is value


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("severity", True),
        ("_private", True),
        ("host2", True),
        ("Max_Retries", True),
        ("2fast", False),
        ("with-dash", False),
        ("with space", False),
        ("", False),
        ("dotted.name", False),
    ],
)
def test_identifier_pattern(name: str, valid: bool) -> None:
    assert (IDENTIFIER.match(name) is not None) is valid
