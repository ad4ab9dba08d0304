"""Columns and helpers every table shares: timestamps, uuid, soft delete, to_dict, repr."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum

import pytest
from sqlalchemy import Enum, event, inspect, select, update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from agentical.db.enums import PlaybookCategory, PlaybookStatus
from agentical.db.models.base import Base, BaseModel
from agentical.db.models.playbook import (
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
    PlaybookVariable,
)
from agentical.db.testing.factories import (
    make_execution,
    make_playbook,
    make_template,
    make_user,
    make_variable,
)

PLUS_TWO = timezone(timedelta(hours=2))


def test_every_table_has_the_shared_columns() -> None:
    for mapper in Base.registry.mappers:
        if issubclass(mapper.class_, BaseModel):
            columns = set(mapper.columns.keys())
            assert {"id", "uuid", "created_at", "updated_at", "is_active"} <= columns


def test_timestamps_come_back_aware_in_utc(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook = make_playbook(session, steps=0)
    session.commit()
    loaded = fresh_session().get(Playbook, playbook.id)
    assert loaded is not None
    for stamp in (loaded.created_at, loaded.updated_at):
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == timedelta(0)
    assert abs(loaded.created_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_an_offset_is_stored_as_the_same_instant_and_read_back_in_utc(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    local = datetime(2026, 3, 1, 12, 34, 56, 123456, tzinfo=PLUS_TWO)
    playbook = make_playbook(session, steps=0, published_at=local)
    session.commit()
    loaded = fresh_session().get(Playbook, playbook.id)
    assert loaded is not None
    assert loaded.published_at == datetime(2026, 3, 1, 10, 34, 56, 123456, tzinfo=UTC)
    assert loaded.published_at is not None
    assert loaded.published_at.utcoffset() == timedelta(0)


def test_a_naive_datetime_is_refused_at_assignment_naming_the_field(session: Session) -> None:
    published = datetime(2025, 1, 1, tzinfo=UTC)
    playbook = make_playbook(session, steps=0, published_at=published)
    session.commit()
    with pytest.raises(ValueError, match=r"Playbook\.published_at: naive datetime .* refused"):
        playbook.published_at = datetime(2026, 3, 1, 12, 0)  # noqa: DTZ001
    assert playbook.published_at == published
    assert not session.is_modified(playbook)
    session.commit()
    stored = session.scalar(select(Playbook.published_at).where(Playbook.id == playbook.id))
    assert stored == published


def test_a_naive_datetime_is_refused_in_the_constructor_too() -> None:
    with pytest.raises(ValueError, match=r"Playbook\.created_at: naive datetime"):
        Playbook(name="P", category="testing", created_at=datetime(2026, 1, 1))  # noqa: DTZ001


def test_a_naive_datetime_that_reaches_the_database_layer_is_still_refused(
    session: Session,
) -> None:
    playbook = make_playbook(session, steps=0)
    session.commit()
    naive = datetime(2026, 3, 1, 12, 0)  # noqa: DTZ001
    with pytest.raises(StatementError, match="naive datetime") as raised:
        session.execute(
            update(Playbook).where(Playbook.id == playbook.id).values(published_at=naive)
        )
    assert isinstance(raised.value.orig, ValueError)
    session.rollback()
    assert session.scalar(select(Playbook.published_at).where(Playbook.id == playbook.id)) is None


def test_an_aware_datetime_is_held_in_utc_from_assignment_on() -> None:
    local = datetime(2026, 3, 1, 12, 0, tzinfo=PLUS_TWO)
    playbook = Playbook(name="P", category="testing", published_at=local)
    assert playbook.published_at == local
    assert playbook.published_at is not None
    assert playbook.published_at.utcoffset() == timedelta(0)
    assert playbook.to_dict()["published_at"] == "2026-03-01T10:00:00Z"


@pytest.mark.parametrize("value", ["2026-03-01T12:00:00+00:00", 1_700_000_000])
def test_a_timestamp_that_is_not_a_datetime_is_refused_naming_the_field(value: object) -> None:
    playbook = Playbook(name="P", category="testing")
    with pytest.raises(TypeError, match=r"Playbook\.published_at: expected a datetime"):
        playbook.published_at = value  # type: ignore[assignment]


def test_updated_at_moves_on_update_and_created_at_does_not(session: Session) -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    playbook = make_playbook(session, steps=0, created_at=old, updated_at=old)
    playbook.description = "changed"
    session.flush()
    assert playbook.created_at == old
    assert playbook.updated_at > old


def test_every_object_gets_its_own_uuid(session: Session) -> None:
    first = make_playbook(session, steps=0)
    second = make_playbook(session, steps=0)
    assert isinstance(first.uuid, uuid.UUID)
    assert first.uuid != second.uuid


def test_a_new_object_has_its_defaults_before_any_flush() -> None:
    playbook = Playbook(name="Incident", category=PlaybookCategory.SECURITY)
    assert playbook.status is PlaybookStatus.DRAFT
    assert playbook.is_active is True
    assert isinstance(playbook.uuid, uuid.UUID)
    assert playbook.tags == []
    assert playbook.created_at.tzinfo is not None


def test_an_explicit_none_is_stored_where_the_column_has_another_default(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    # The ORM leaves a None out of the INSERT of a column with a default unless the
    # column's type evaluates None: no limit would become 60 minutes.
    playbook = make_playbook(session, steps=0, timeout_minutes=None)
    execution = make_execution(session, playbook, triggered_by=None)
    session.commit()
    with fresh_session() as other:
        assert other.get_one(Playbook, playbook.id).timeout_minutes is None
        assert other.get_one(PlaybookExecution, execution.id).triggered_by is None


def test_every_nullable_column_with_a_default_stores_an_explicit_none() -> None:
    for mapper in Base.registry.mappers:
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            default = column.default
            if column.nullable and default is not None and default.arg is not None:
                assert column.type.should_evaluate_none, f"{mapper.class_.__name__}.{prop.key}"


def test_the_database_rejects_a_duplicate_uuid(session: Session) -> None:
    first = make_playbook(session, steps=0)
    with pytest.raises(IntegrityError):
        make_playbook(session, steps=0, uuid=first.uuid)
    session.rollback()


def test_soft_delete_keeps_the_row_and_marks_it_inactive(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook = make_playbook(session, steps=1)
    playbook.soft_delete()
    assert playbook.is_active is False
    assert playbook.is_executable is False
    session.commit()
    loaded = fresh_session().get(Playbook, playbook.id)
    assert loaded is not None
    assert loaded.is_active is False


def test_to_dict_is_json_ready_with_enum_values_and_iso_datetimes(session: Session) -> None:
    published = datetime(2026, 3, 1, 12, 0, tzinfo=PLUS_TWO)
    playbook = make_playbook(session, steps=2, published_at=published, tags=["ops"])
    data = playbook.to_dict()
    decoded = json.loads(json.dumps(data))
    assert decoded == data
    assert data["category"] == "incident_response"
    assert data["status"] == "draft"
    assert data["uuid"] == str(playbook.uuid)
    assert data["id"] == playbook.id
    assert datetime.fromisoformat(data["published_at"]) == published
    created = datetime.fromisoformat(data["created_at"])
    assert created.utcoffset() == timedelta(0)


def test_to_dict_works_on_an_object_never_flushed() -> None:
    data = Playbook(name="Draft", category=PlaybookCategory.TESTING).to_dict()
    assert data["id"] is None
    assert data["step_count"] == 0
    json.dumps(data)


def test_repr_shows_the_class_and_id_only(session: Session) -> None:
    playbook = make_playbook(session, steps=0, name="Very recognisable name")
    assert repr(playbook) == f"<Playbook id={playbook.id}>"
    user = make_user(session)
    assert repr(user) == f"<User id={user.id}>"


def test_repr_never_shows_a_sensitive_value(session: Session) -> None:
    secret = make_variable(
        "api_token",
        variable_type="string",
        enum_values=[],
        default_value="sk-live-123",
        is_sensitive=True,
    )
    make_playbook(session, steps=0, variables=[secret])
    assert "sk-live-123" not in repr(secret)
    assert repr(secret) == f"<PlaybookVariable id={secret.id}>"


def test_repr_does_not_load_anything_on_an_expired_object(session: Session) -> None:
    user = make_user(session)
    session.commit()
    session.expire(user)
    statements: list[str] = []
    connection = session.connection()

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", record)
    try:
        text = repr(user)
    finally:
        event.remove(connection, "before_cursor_execute", record)
    identity = inspect(user).identity
    assert identity is not None
    assert text == f"<User id={identity[0]}>"
    assert "None" not in text
    assert statements == []


SESSION_TIME_ZONE = {
    "postgresql": "SET TIME ZONE 'Asia/Kolkata'",
    "mariadb": "SET time_zone = '+05:30'",
}


def test_timestamps_do_not_depend_on_the_connection_time_zone(
    session: Session, fresh_session: Callable[[], Session], database: str
) -> None:
    if database not in SESSION_TIME_ZONE:
        pytest.skip(f"{database} has no session time zone")
    instant = datetime(2026, 3, 1, 23, 30, 0, 250000, tzinfo=UTC)
    playbook = make_playbook(session, steps=0, published_at=instant)
    session.commit()
    session.connection().exec_driver_sql(SESSION_TIME_ZONE[database])
    with fresh_session() as other:
        loaded = other.get(Playbook, playbook.id)
        assert loaded is not None
        assert loaded.published_at == instant
        assert loaded.published_at is not None
        assert loaded.published_at.utcoffset() == timedelta(0)


def _enum_attributes() -> list[tuple[type[BaseModel], str, type[StrEnum]]]:
    found = []
    for mapper in Base.registry.mappers:
        for prop in mapper.column_attrs:
            column_type = prop.columns[0].type
            enum_class = getattr(column_type, "enum_class", None)
            if isinstance(column_type, Enum) and enum_class is not None:
                found.append((mapper.class_, prop.key, enum_class))
    return sorted(found, key=lambda item: (item[0].__name__, item[1]))


ENUM_ATTRIBUTES = _enum_attributes()
ENUM_IDS = [f"{cls.__name__}.{key}" for cls, key, _ in ENUM_ATTRIBUTES]


@pytest.mark.parametrize(("model", "key", "enum_class"), ENUM_ATTRIBUTES, ids=ENUM_IDS)
def test_an_enum_field_given_its_value_as_text_holds_the_member(
    model: type[BaseModel], key: str, enum_class: type[StrEnum]
) -> None:
    member = list(enum_class)[-1]
    obj = model()
    setattr(obj, key, member.value)
    assert getattr(obj, key) is member


@pytest.mark.parametrize(("model", "key", "enum_class"), ENUM_ATTRIBUTES, ids=ENUM_IDS)
def test_an_unknown_enum_value_is_refused_at_assignment_naming_the_field(
    model: type[BaseModel], key: str, enum_class: type[StrEnum]
) -> None:
    obj = model()
    before = getattr(obj, key)
    with pytest.raises(ValueError, match=rf"{model.__name__}\.{key} must be one of: ") as raised:
        setattr(obj, key, "NOT_A_MEMBER")
    assert all(member.value in str(raised.value) for member in enum_class)
    assert getattr(obj, key) == before


def test_a_bad_category_leaves_the_session_usable(session: Session) -> None:
    playbook = make_playbook(session, steps=0)
    session.commit()
    with pytest.raises(ValueError, match=r"Playbook\.category"):
        playbook.category = "cooking"  # type: ignore[assignment]
    assert playbook.category is PlaybookCategory.INCIDENT_RESPONSE
    session.commit()


def test_to_dict_of_every_model_is_its_read_schema_and_json_ready(session: Session) -> None:
    user = make_user(session)
    template = make_template(session)
    playbook = template.create_playbook("From template", created_by_user_id=user.id)
    session.add(playbook)
    session.flush()
    execution = make_execution(session, playbook)
    step_execution = PlaybookStepExecution(execution=execution, step=playbook.steps[0])
    session.add(step_execution)
    session.flush()
    assert execution.snapshot is not None
    objects: list[BaseModel] = [
        user,
        template,
        playbook,
        playbook.steps[0],
        playbook.variables[0],
        execution,
        step_execution,
        execution.snapshot,
    ]
    assert {type(obj) for obj in objects} == {
        mapper.class_ for mapper in Base.registry.mappers if issubclass(mapper.class_, BaseModel)
    }
    for obj in objects:
        data = obj.to_dict()
        assert json.loads(json.dumps(data)) == data
        assert set(data) == set(type(obj).__read_schema__.model_fields)
        assert data["id"] == obj.id
        assert data["uuid"] == str(obj.uuid)


def test_to_dict_shows_unflushed_changes_and_loads_what_is_expired(session: Session) -> None:
    playbook = make_playbook(session, steps=2, description="Restore service")
    session.commit()
    after_commit = playbook.to_dict()  # everything expired: read through the attributes
    assert after_commit == playbook.to_dict()  # everything loaded: read from the values
    assert after_commit["description"] == "Restore service"
    assert after_commit["step_count"] == 2

    playbook.name = "Renamed"  # not flushed
    session.expire(playbook, ["description"])
    data = playbook.to_dict()
    assert (data["name"], data["description"]) == ("Renamed", "Restore service")
    assert data["success_rate"] == 0.0


def test_a_refused_value_does_not_leave_the_new_object_in_its_parents_collection(
    session: Session,
) -> None:
    playbook = make_playbook(session, steps=1)
    with pytest.raises(ValueError, match="variable_name"):
        PlaybookVariable(playbook=playbook, variable_name="not an identifier")
    assert playbook.variables == []
    session.flush()
