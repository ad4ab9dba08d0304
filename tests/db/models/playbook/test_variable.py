"""``PlaybookVariable``: identifier names, typed values, set/get/reset, masking."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agentical.db.enums import VariableScope, VariableType
from agentical.db.models.playbook import (
    SECRET_MASK,
    PlaybookVariable,
    VariableValidationError,
)
from agentical.db.testing.factories import make_playbook, make_variable

T = VariableType
PLUS_TWO = timezone(timedelta(hours=2))


def variable(kind: VariableType, **fields: Any) -> PlaybookVariable:
    options = ["low", "medium", "high"] if kind in (T.SELECT, T.MULTI_SELECT) else []
    values: dict[str, Any] = {"variable_type": kind, "enum_values": options, "default_value": None}
    return make_variable("value", **(values | fields))


def saved(session: Session, kind: VariableType, **fields: Any) -> PlaybookVariable:
    var = variable(kind, **fields)
    make_playbook(session, steps=0, variables=[var])
    session.commit()
    return var


class Hostile:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        raise RuntimeError("boom")

    __hash__ = None  # type: ignore[assignment]


def test_the_contract_constructor(session: Session) -> None:
    playbook = make_playbook(session, steps=0)
    var = PlaybookVariable(
        playbook_id=playbook.id,
        variable_name="severity",
        variable_type=VariableType.SELECT,
        default_value="medium",
        enum_values=["low", "medium", "high"],
    )
    session.add(var)
    session.flush()
    assert var.scope is VariableScope.INPUT
    assert var.is_required is False
    assert var.is_sensitive is False
    assert var.get_value() == "medium"
    assert var.get_enum_values() == ["low", "medium", "high"]


@pytest.mark.parametrize("name", ["2fast", "with-dash", "with space", "", "a.b", "x" * 101, None])
def test_a_name_that_is_not_an_identifier_is_rejected_at_assignment(name: Any) -> None:
    with pytest.raises(ValueError, match=r"PlaybookVariable\.variable_name must be"):
        PlaybookVariable(variable_name=name)
    var = make_variable("ok")
    with pytest.raises(ValueError, match=r"variable_name"):
        var.variable_name = name
    assert var.variable_name == "ok"


@pytest.mark.parametrize("name", ["severity", "_x", "Host2", "x" * 100])
def test_an_identifier_name_is_accepted(name: str) -> None:
    assert make_variable(name).variable_name == name


@pytest.mark.parametrize("pattern", ["[unclosed", "(?P<x", "*"])
def test_a_pattern_that_does_not_compile_is_rejected_naming_the_variable(pattern: str) -> None:
    var = make_variable("code", variable_type=T.STRING, enum_values=[], default_value=None)
    with pytest.raises(ValueError, match=r"PlaybookVariable\.pattern of 'code'"):
        var.pattern = pattern
    assert var.pattern is None


def test_enum_values_must_be_a_list_and_are_returned_as_a_copy() -> None:
    var = make_variable()
    with pytest.raises(ValueError, match=r"enum_values of 'severity' must be a list"):
        var.enum_values = "low,high"  # type: ignore[assignment]
    options = var.get_enum_values()
    options.append("critical")
    assert var.get_enum_values() == ["low", "medium", "high"]


def test_variable_name_is_unique_within_a_playbook(session: Session) -> None:
    playbook = make_playbook(session, steps=0, variables=[make_variable("severity")])
    session.commit()
    session.add(
        PlaybookVariable(playbook_id=playbook.id, variable_name="severity", variable_type=T.STRING)
    )
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    assert session.scalars(select(PlaybookVariable.variable_name)).all() == ["severity"]
    make_playbook(session, steps=0, variables=[make_variable("severity")])


CASES: list[tuple[VariableType, dict[str, Any], Any, Any]] = [
    (T.STRING, {}, "hello", "hello"),
    (T.INTEGER, {"min_value": 0, "max_value": 10}, 7, 7),
    (T.FLOAT, {}, 2.5, 2.5),
    (T.BOOLEAN, {}, False, False),
    (T.JSON, {}, {"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}),
    (T.SELECT, {}, "high", "high"),
    (T.MULTI_SELECT, {}, ("low", "high"), ["low", "high"]),
    (T.DATE, {}, date(2026, 3, 1), "2026-03-01"),
    (T.DATE, {}, "2026-03-01", "2026-03-01"),
    (
        T.DATETIME,
        {},
        datetime(2026, 3, 1, 12, 0, tzinfo=PLUS_TWO),
        "2026-03-01T10:00:00+00:00",
    ),
    (T.DATETIME, {}, "2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00+00:00"),
    (T.FILE, {"pattern": r".+\.log"}, "/var/log/app.log", "/var/log/app.log"),
]


def test_the_cases_cover_all_ten_types() -> None:
    assert {case[0] for case in CASES} == set(VariableType)


@pytest.mark.parametrize(("kind", "fields", "value", "stored"), CASES)
def test_set_value_stores_the_normalised_value_and_it_survives_a_reload(
    session: Session,
    fresh_session: Callable[[], Session],
    kind: VariableType,
    fields: dict[str, Any],
    value: Any,
    stored: Any,
) -> None:
    var = saved(session, kind, **fields)
    assert var.validate_value(value) is True
    assert var.validation_errors(value) == []
    var.set_value(value)
    assert var.get_value() == stored
    session.commit()
    with fresh_session() as other:
        loaded = other.get(PlaybookVariable, var.id)
        assert loaded is not None
        assert loaded.current_value == stored
        assert loaded.get_value() == stored


BAD: list[tuple[VariableType, dict[str, Any], Any, str]] = [
    (T.STRING, {"max_length": 3}, "toolong", "must have at most 3 characters"),
    (T.STRING, {"min_length": 2}, "a", "must have at least 2 characters"),
    (T.STRING, {"pattern": r"[A-Z]+"}, "lower", "must match the pattern"),
    (T.STRING, {}, 12, "expected a string"),
    (T.INTEGER, {}, True, "expected an integer, got bool"),
    (T.INTEGER, {}, 1.5, "expected an integer"),
    (T.INTEGER, {"min_value": 1}, 0, "must be >= 1"),
    (T.INTEGER, {"max_value": 10}, 11, "must be <= 10"),
    (T.FLOAT, {}, "2.5", "expected a finite number"),
    (T.BOOLEAN, {}, 1, "expected a boolean, got int"),
    (T.BOOLEAN, {}, "yes", "expected a boolean"),
    (T.JSON, {}, {"when": datetime(2026, 1, 1, tzinfo=UTC)}, "JSON-serialisable"),
    (T.SELECT, {}, "critical", "must be one of: low, medium, high"),
    (T.MULTI_SELECT, {}, ["low", "critical"], "every item must be one of"),
    (T.MULTI_SELECT, {}, "low", "expected a list of options"),
    (T.MULTI_SELECT, {"max_length": 1}, ["low", "high"], "must have at most 1 items"),
    (T.DATE, {}, "2026-13-45", "not a valid ISO-8601 date"),
    (T.DATE, {}, datetime(2026, 3, 1, tzinfo=UTC), "expected a date without a time"),
    (T.DATETIME, {}, "2026-03-01T12:00:00", "datetime needs a timezone offset"),
    (T.DATETIME, {}, "not a date", "not a valid ISO-8601 datetime"),
    (T.FILE, {}, "", "expected a file path or URI"),
    (T.FILE, {}, ["/tmp/a"], "expected a string"),
    (T.STRING, {"is_required": True}, None, "a value is required"),
]


def test_the_bad_cases_cover_all_ten_types() -> None:
    assert {case[0] for case in BAD} == set(VariableType)


@pytest.mark.parametrize(("kind", "fields", "value", "reason"), BAD)
def test_set_value_rejects_an_invalid_value_and_keeps_the_stored_one(
    session: Session,
    fresh_session: Callable[[], Session],
    kind: VariableType,
    fields: dict[str, Any],
    value: Any,
    reason: str,
) -> None:
    var = saved(session, kind, **fields)
    previous = var.current_value
    assert var.validate_value(value) is False
    assert any(reason in error for error in var.validation_errors(value))
    with pytest.raises(VariableValidationError) as raised:
        var.set_value(value)
    error = raised.value
    assert isinstance(error, ValueError)
    assert "'value'" in str(error)
    assert reason in str(error)
    assert error.errors == {"value": var.validation_errors(value)}
    assert var.current_value == previous
    assert not session.is_modified(var)
    session.commit()
    with fresh_session() as other:
        loaded = other.get(PlaybookVariable, var.id)
        assert loaded is not None
        assert loaded.current_value == previous


def test_a_failed_set_value_keeps_an_earlier_valid_value(session: Session) -> None:
    var = saved(session, T.INTEGER, max_value=10)
    var.set_value(5)
    with pytest.raises(VariableValidationError):
        var.set_value(50)
    assert var.get_value() == 5


@pytest.mark.parametrize(
    "value", [Hostile(), object(), float("nan"), {"k": object()}, b"\x00", [Hostile()]]
)
@pytest.mark.parametrize("kind", list(VariableType))
def test_validate_value_never_raises(kind: VariableType, value: Any) -> None:
    var = variable(kind, min_value=0, max_length=5, pattern=r".*")
    assert isinstance(var.validate_value(value), bool)


def test_the_error_message_never_contains_the_value() -> None:
    var = variable(T.STRING, pattern=r"\d+", is_sensitive=True)
    with pytest.raises(VariableValidationError) as raised:
        var.set_value("hunter2-secret")
    assert "hunter2-secret" not in str(raised.value)


def test_get_value_prefers_the_current_value_over_the_default(session: Session) -> None:
    var = saved(session, T.SELECT, default_value="medium")
    assert var.get_value() == "medium"
    var.set_value("high")
    assert var.get_value() == "high"
    assert var.default_value == "medium"


def test_reset_to_default_restores_the_default_and_persists(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    var = saved(session, T.SELECT, default_value="medium")
    var.set_value("high")
    session.commit()
    var.reset_to_default()
    assert var.current_value == "medium"
    assert var.get_value() == "medium"
    session.commit()
    with fresh_session() as other:
        loaded = other.get(PlaybookVariable, var.id)
        assert loaded is not None
        assert loaded.get_value() == "medium"


def test_none_is_stored_as_sql_null(session: Session) -> None:
    var = saved(session, T.STRING)
    session.commit()
    value_is_null = PlaybookVariable.current_value.is_(None)
    found = session.scalar(
        select(PlaybookVariable.id).where(PlaybookVariable.id == var.id, value_is_null)
    )
    assert found == var.id


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        (T.INTEGER, "42", 42),
        (T.FLOAT, "0.5", 0.5),
        (T.BOOLEAN, "yes", True),
        (T.BOOLEAN, "off", False),
        (T.JSON, '{"a": 1}', {"a": 1}),
        (T.MULTI_SELECT, "low,high", ["low", "high"]),
        (T.SELECT, "low", "low"),
        (T.DATE, "2026-03-01", "2026-03-01"),
        (T.STRING, "text", "text"),
    ],
)
def test_coerce_turns_raw_text_into_a_value_that_set_value_accepts(
    kind: VariableType, raw: str, value: Any
) -> None:
    var = variable(kind)
    coerced = var.coerce(raw)
    assert coerced == value
    var.set_value(coerced)


@pytest.mark.parametrize(
    ("kind", "raw"), [(T.INTEGER, "4.2"), (T.BOOLEAN, "perhaps"), (T.JSON, "{")]
)
def test_coerce_rejects_unreadable_text_naming_the_variable(kind: VariableType, raw: str) -> None:
    with pytest.raises(VariableValidationError, match="variable 'value'"):
        variable(kind).coerce(raw)


def test_to_dict_masks_sensitive_values_only(session: Session) -> None:
    secret = make_variable(
        "api_token",
        variable_type=T.STRING,
        enum_values=[],
        default_value="default-secret",
        is_sensitive=True,
    )
    plain = make_variable("region", variable_type=T.STRING, enum_values=[], default_value="eu")
    make_playbook(session, steps=0, variables=[secret, plain])
    secret.set_value("current-secret")
    secret_dict = secret.to_dict()
    assert secret_dict["default_value"] == SECRET_MASK
    assert secret_dict["current_value"] == SECRET_MASK
    dumped = json.dumps(secret_dict)
    assert "default-secret" not in dumped
    assert "current-secret" not in dumped
    assert "current-secret" not in repr(secret)
    assert plain.to_dict()["default_value"] == "eu"
    assert secret.get_value() == "current-secret"


def test_to_dict_of_a_sensitive_variable_without_value_is_null() -> None:
    data = variable(T.STRING, is_sensitive=True).to_dict()
    assert data["current_value"] is None
    assert data["default_value"] is None


def test_to_dict_is_json_ready_with_enum_values(session: Session) -> None:
    var = saved(session, T.MULTI_SELECT, default_value=["low"], scope=VariableScope.OUTPUT)
    data = var.to_dict()
    json.dumps(data)
    assert data["variable_type"] == "multi_select"
    assert data["scope"] == "output"
    assert data["enum_values"] == ["low", "medium", "high"]


def test_an_invalid_value_is_quoted_unless_the_variable_is_sensitive() -> None:
    plain = PlaybookVariable(
        variable_name="env", variable_type=VariableType.SELECT, enum_values=["staging", "prod"]
    )
    with pytest.raises(VariableValidationError) as caught:
        plain.set_value("qa")
    assert str(caught.value) == "variable 'env': invalid value 'qa': must be one of: staging, prod"
    assert caught.value.errors == {"env": ["must be one of: staging, prod"]}
    secret = PlaybookVariable(
        variable_name="token", variable_type=VariableType.STRING, is_sensitive=True, min_length=8
    )
    with pytest.raises(VariableValidationError) as caught:
        secret.set_value("hunter2")
    assert "hunter2" not in str(caught.value)


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [(VariableType.INTEGER, 10**5000, "<int>"), (VariableType.JSON, _nested(100_000), "<list>")],
    ids=["an integer of 5,001 digits", "a list nested past the recursion limit"],
)
def test_a_value_repr_cannot_show_is_refused_naming_its_type(
    kind: VariableType, value: Any, shown: str
) -> None:
    variable = PlaybookVariable(variable_name="v", variable_type=kind)
    with pytest.raises(VariableValidationError) as caught:
        variable.set_value(value)
    assert str(caught.value).startswith(f"variable 'v': invalid value {shown}: ")
    assert variable.current_value is None
