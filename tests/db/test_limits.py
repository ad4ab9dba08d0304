"""Length limits hold before the database sees a value, the same on every database; large
JSON documents round-trip whole."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import String, insert, select, text
from sqlalchemy.orm import Session, configure_mappers

from agentical.db.models import Base
from agentical.db.models.limits import TEXT_MAX_BYTES, _limit_of
from agentical.db.models.playbook import (
    Playbook,
    PlaybookExecution,
    PlaybookStep,
)
from agentical.db.models.user import User
from agentical.db.testing.factories import make_execution, make_playbook, make_user

ONE_MEGABYTE = 1024 * 1024


def _limited_columns() -> Iterator[tuple[type[Any], str, str, int]]:
    configure_mappers()
    for mapper in sorted(Base.registry.mappers, key=lambda m: m.class_.__name__):
        for prop in mapper.column_attrs:
            limit = _limit_of(prop.columns[0].type)
            if limit is not None:
                yield mapper.class_, prop.key, *limit


LIMITED = list(_limited_columns())


def _too_long(unit: str, maximum: int) -> str:
    # Two bytes a character: over the byte limit with fewer characters than the limit.
    return "é" * (maximum // 2 + 1) if unit == "bytes" else "a" * (maximum + 1)


def test_every_bounded_text_column_has_a_limit() -> None:
    names = {f"{model.__name__}.{key}" for model, key, _unit, _maximum in LIMITED}
    assert {"Playbook.name", "PlaybookStep.step_name", "User.username"} <= names
    assert "PlaybookExecution.idempotency_key" in names
    assert "PlaybookStepExecution.claimed_by" in names


@pytest.mark.parametrize(
    ("model", "key", "unit", "maximum"),
    LIMITED,
    ids=[f"{model.__name__}.{key}" for model, key, _u, _m in LIMITED],
)
def test_an_over_long_value_is_refused_at_assignment_naming_the_column(
    model: type[Any], key: str, unit: str, maximum: int
) -> None:
    instance = model()
    before = getattr(instance, key)
    with pytest.raises(ValueError, match=re.escape(f"{model.__name__}.{key}")) as info:
        setattr(instance, key, _too_long(unit, maximum))
    assert "é" * 10 not in str(info.value)
    assert "a" * 50 not in str(info.value)  # the value is never echoed
    assert getattr(instance, key) == before


def test_the_constructor_checks_limits_too() -> None:
    with pytest.raises(ValueError, match=r"User\.email is longer than 255 characters"):
        User(username="u", email="e" * 256, hashed_password="x")


def _roundtrip(
    session: Session, fresh_session: Callable[[], Session], instance: Any, key: str
) -> Any:
    session.flush()
    with fresh_session() as other:
        return getattr(other.get(type(instance), instance.id), key)


def _first_step(session: Session) -> PlaybookStep:
    return make_playbook(session, steps=1).steps[0]


# (make the row, attribute, value at the limit): multi-byte characters count as one.
AT_THE_LIMIT: dict[str, tuple[Callable[[Session], Any], str, str]] = {
    "Playbook.name": (lambda s: make_playbook(s, steps=1), "name", "é" * 255),
    "Playbook.description": (lambda s: make_playbook(s, steps=1), "description", "a" * 65_535),
    "PlaybookStep.step_name": (
        lambda s: make_playbook(s, steps=1).steps[0],
        "step_name",
        "s" * 100,
    ),
    "PlaybookStep.tool_name": (
        lambda s: make_playbook(s, steps=1).steps[0],
        "tool_name",
        "🛠" * 100,
    ),
    "PlaybookExecution.idempotency_key": (
        lambda s: make_execution(s, make_playbook(s, steps=1)),
        "idempotency_key",
        "k" * 255,
    ),
    "PlaybookExecution.error_message": (
        lambda s: make_execution(s, make_playbook(s, steps=1)),
        "error_message",
        "€" * (TEXT_MAX_BYTES // 3),
    ),
    "User.username": (make_user, "username", "ü" * 100),
}


@pytest.mark.parametrize("case", sorted(AT_THE_LIMIT))
def test_a_value_at_the_limit_is_stored_whole(
    session: Session, fresh_session: Callable[[], Session], case: str
) -> None:
    build, key, value = AT_THE_LIMIT[case]
    instance = build(session)
    setattr(instance, key, value)
    assert _roundtrip(session, fresh_session, instance, key) == value


def test_mariadb_without_strict_mode_would_truncate_but_the_model_refuses(
    session: Session, database: str
) -> None:
    if database != "mariadb":
        pytest.skip("only MariaDB can be told to truncate silently")
    playbook = make_playbook(session, steps=1)
    session.execute(text("SET SESSION sql_mode = ''"))
    try:
        session.execute(
            insert(PlaybookStep).values(
                uuid=uuid.uuid4(),
                playbook_id=playbook.id,
                step_name="x" * 120,
                step_order=9,
                step_type="manual",
                status="active",
            )
        )
        stored = session.scalar(
            select(PlaybookStep.step_name).where(
                PlaybookStep.playbook_id == playbook.id, PlaybookStep.step_order == 9
            )
        )
        assert stored == "x" * 100  # what the library prevents: silent loss
        with pytest.raises(ValueError, match=r"PlaybookStep\.tool_name"):
            playbook.steps[0].tool_name = "t" * 101
    finally:
        session.execute(text("SET SESSION sql_mode = DEFAULT"))


def _megabyte_document() -> dict[str, Any]:
    row = {"host": "web-01", "ok": True, "latency_ms": 12.5, "tags": ["a", "b"], "note": "ü€"}
    rows = [dict(row, index=index) for index in range(ONE_MEGABYTE // 80)]
    return {"rows": rows, "blob": "x" * (ONE_MEGABYTE // 4)}


def test_a_one_megabyte_json_document_round_trips(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    document = _megabyte_document()
    assert len(json.dumps(document)) > ONE_MEGABYTE
    playbook = make_playbook(session, steps=1, configuration=document)
    execution = make_execution(session, playbook, input_variables={"payload": document})
    session.flush()
    with fresh_session() as other:
        stored_playbook = other.get(Playbook, playbook.id)
        stored_execution = other.get(PlaybookExecution, execution.id)
        assert stored_playbook is not None
        assert stored_execution is not None
        assert stored_playbook.configuration == document
        assert stored_execution.input_variables == {"payload": document}


def test_string_columns_all_have_a_length() -> None:
    unbounded = [
        f"{model.__name__}.{prop.key}"
        for mapper in Base.registry.mappers
        for model in [mapper.class_]
        for prop in mapper.column_attrs
        if type(prop.columns[0].type) is String and prop.columns[0].type.length is None
    ]
    assert unbounded == []
