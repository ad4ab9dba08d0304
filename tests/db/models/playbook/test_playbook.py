"""``Playbook``: fields, list/dict helpers, metrics, lifecycle, computed values, persistence."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from agentical.db.enums import PlaybookCategory, PlaybookStatus, StepType
from agentical.db.models.playbook import (
    InvalidTransitionError,
    Playbook,
    PlaybookExecution,
    PlaybookStep,
    PlaybookStepExecution,
    PlaybookTemplate,
    PlaybookVariable,
    step_dependencies,
)
from agentical.db.testing.factories import (
    make_execution,
    make_playbook,
    make_user,
    make_variable,
)

Mutation = Callable[[Playbook], None]


def reload(fresh_session: Callable[[], Session], playbook: Playbook) -> Playbook:
    """The playbook as the database holds it, read by another session (closed again, so
    the caller's session may commit afterwards)."""
    with fresh_session() as other:
        loaded = other.get(Playbook, playbook.id)
    assert loaded is not None
    return loaded


def test_the_contract_constructor_builds_a_draft(session: Session) -> None:
    user = make_user(session)
    playbook = Playbook(
        name="  Incident  ",
        category=PlaybookCategory.INCIDENT_RESPONSE,
        created_by_user_id=user.id,
        tags=["a"],
        success_criteria=["Issue resolved"],
    )
    session.add(playbook)
    session.flush()
    assert playbook.name == "Incident"
    assert playbook.status is PlaybookStatus.DRAFT
    assert playbook.get_tags() == ["a"]
    assert playbook.get_success_criteria() == ["Issue resolved"]
    assert playbook.created_by_user is user
    assert playbook.published_at is None
    assert playbook.total_executions == 0
    assert playbook.configuration == {}


@pytest.mark.parametrize("bad", ["", "   ", "\t\n", None, 42])
def test_an_empty_or_blank_name_is_rejected_at_construction(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"Playbook\.name"):
        Playbook(name=bad, category=PlaybookCategory.TESTING)


def test_a_bad_name_leaves_the_object_and_database_unchanged(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook = make_playbook(session, steps=0, name="Original")
    session.commit()
    with pytest.raises(ValueError, match=r"Playbook\.name must not be empty or blank"):
        playbook.name = "   "
    assert playbook.name == "Original"
    session.commit()
    assert reload(fresh_session, playbook).name == "Original"


def test_a_too_long_name_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"Playbook\.name is longer than 255"):
        Playbook(name="x" * 256, category=PlaybookCategory.TESTING)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_concurrent_executions", 0),
        ("timeout_minutes", 0),
        ("retry_attempts", -1),
        ("retry_attempts", 11),
        ("retry_attempts", True),
        ("version", 0),
        ("version", "2"),
    ],
)
def test_an_out_of_range_limit_is_rejected_naming_the_field(
    session: Session, field: str, value: Any
) -> None:
    playbook = make_playbook(session, steps=0)
    before = getattr(playbook, field)
    with pytest.raises(ValueError, match=rf"Playbook\.{field}"):
        setattr(playbook, field, value)
    assert getattr(playbook, field) == before
    session.flush()


@pytest.mark.parametrize(
    ("field", "value"), [("tags", "ops"), ("tags", ["ok", " "]), ("success_criteria", "done")]
)
def test_a_bad_list_is_rejected_naming_the_field(field: str, value: Any) -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING)
    with pytest.raises(ValueError, match=field.split("_")[0]):
        setattr(playbook, field, value)
    assert getattr(playbook, field) == []


def test_category_is_required_by_the_database(session: Session) -> None:
    session.add(Playbook(name="No category"))
    with pytest.raises(Exception, match="category"):
        session.flush()
    session.rollback()
    assert session.scalars(select(Playbook)).all() == []


def test_get_tags_returns_a_copy() -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING, tags=["a"])
    tags = playbook.get_tags()
    tags.append("b")
    assert playbook.get_tags() == ["a"]


def test_tags_given_at_construction_are_normalised_without_duplicates() -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING, tags=["Ops", " ops ", "DB"])
    assert playbook.get_tags() == ["ops", "db"]


def test_add_tag_normalises_and_ignores_duplicates() -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING)
    playbook.add_tag("  Database ")
    playbook.add_tag("database")
    playbook.add_tag("DATABASE")
    playbook.add_tag("network")
    assert playbook.get_tags() == ["database", "network"]


@pytest.mark.parametrize("bad", ["", "   "])
def test_add_tag_rejects_a_blank_tag_and_changes_nothing(bad: str) -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING, tags=["a"])
    with pytest.raises(ValueError, match="tag must not be blank"):
        playbook.add_tag(bad)
    assert playbook.get_tags() == ["a"]


def test_add_tag_rejects_a_non_string() -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING)
    with pytest.raises(TypeError, match="tag must be a string"):
        playbook.add_tag(3)  # type: ignore[arg-type]
    assert playbook.get_tags() == []


def test_remove_tag_normalises_and_an_absent_tag_is_not_an_error() -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING, tags=["a", "b"])
    playbook.remove_tag("  A ")
    playbook.remove_tag("missing")
    assert playbook.get_tags() == ["b"]


def test_success_criteria_are_a_copy_and_appended_without_duplicates() -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING)
    playbook.add_success_criteria("Issue resolved")
    playbook.add_success_criteria("Issue resolved")
    playbook.add_success_criteria("Customers notified")
    criteria = playbook.get_success_criteria()
    criteria.clear()
    assert playbook.get_success_criteria() == ["Issue resolved", "Customers notified"]


@pytest.mark.parametrize("bad", ["", "  ", None])
def test_add_success_criteria_rejects_blank_text(bad: Any) -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING, success_criteria=["x"])
    with pytest.raises(ValueError, match="success criterion"):
        playbook.add_success_criteria(bad)
    assert playbook.get_success_criteria() == ["x"]


def test_get_configuration_returns_a_copy_or_one_value() -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING, configuration={"a": 1})
    whole = playbook.get_configuration()
    whole["b"] = 2
    assert playbook.get_configuration() == {"a": 1}
    assert playbook.get_configuration("a") == 1
    assert playbook.get_configuration("missing") is None
    assert playbook.get_configuration("missing", "fallback") == "fallback"


def test_set_configuration_sets_one_key_or_replaces_the_whole_dict() -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING, configuration={"a": 1})
    playbook.set_configuration("b", 2)
    assert playbook.get_configuration() == {"a": 1, "b": 2}
    playbook.set_configuration({"c": 3})
    assert playbook.get_configuration() == {"c": 3}
    playbook.set_configuration("none_is_a_value", None)
    assert playbook.get_configuration() == {"c": 3, "none_is_a_value": None}


def test_set_configuration_does_not_keep_a_reference_to_the_callers_dict() -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING)
    given = {"a": 1}
    playbook.set_configuration(given)
    given["a"] = 99
    assert playbook.get_configuration("a") == 1


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("k",), TypeError),
        (({"a": 1}, 2), TypeError),
        (("", 1), ValueError),
        ((5, 1), ValueError),
    ],
)
def test_set_configuration_misuse_raises_and_changes_nothing(
    args: tuple[Any, ...], error: type[Exception]
) -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING, configuration={"a": 1})
    with pytest.raises(error):
        playbook.set_configuration(*args)
    assert playbook.get_configuration() == {"a": 1}


def test_one_run_updates_counters_and_the_running_mean() -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING)
    playbook.update_performance_metrics(10.0, True)
    playbook.update_performance_metrics(20, False)
    playbook.update_performance_metrics(execution_time=60.0, success=True)
    assert playbook.total_executions == 3
    assert playbook.successful_executions == 2
    assert playbook.failed_executions == 1
    assert playbook.average_execution_time == pytest.approx(30.0)
    assert playbook.success_rate == pytest.approx(2 / 3)
    assert playbook.last_execution_at is not None
    assert abs(playbook.last_execution_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_the_aggregate_form_sets_the_counters() -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING)
    playbook.update_performance_metrics(1.0, True)
    playbook.update_performance_metrics(execution_count=5, success_count=4, avg_duration=45.5)
    assert playbook.total_executions == 5
    assert playbook.successful_executions == 4
    assert playbook.failed_executions == 1
    assert playbook.average_execution_time == 45.5
    assert playbook.success_rate == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((10.0, True), {"execution_count": 5}),
        ((10.0,), {"avg_duration": 1.0}),
        ((), {"success": True, "success_count": 1}),
    ],
)
def test_mixing_the_two_forms_raises_type_error_and_changes_nothing(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING)
    with pytest.raises(TypeError, match="not both"):
        playbook.update_performance_metrics(*args, **kwargs)
    assert (playbook.total_executions, playbook.average_execution_time) == (0, 0.0)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((), {}, TypeError, "needs execution_time and success"),
        ((5.0,), {}, TypeError, "needs execution_time and success"),
        (("5",), {"success": True}, TypeError, "execution_time must be a number"),
        ((True,), {"success": True}, TypeError, "execution_time must be a number"),
        ((-1.0, True), {}, ValueError, "execution_time must be >= 0"),
        ((), {"execution_count": -1}, ValueError, "execution_count must be an integer >= 0"),
        ((), {"execution_count": 2, "success_count": 3}, ValueError, "cannot exceed"),
        ((), {"execution_count": 2, "avg_duration": -1.0}, ValueError, "avg_duration"),
        ((), {"execution_count": 2.5}, ValueError, "execution_count"),
    ],
)
def test_bad_metrics_raise_naming_the_argument_and_change_nothing(
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    playbook = Playbook(name="P", category=PlaybookCategory.TESTING)
    playbook.update_performance_metrics(execution_count=4, success_count=2, avg_duration=3.0)
    with pytest.raises(error, match=message):
        playbook.update_performance_metrics(*args, **kwargs)
    assert playbook.total_executions == 4
    assert playbook.successful_executions == 2
    assert playbook.failed_executions == 2
    assert playbook.average_execution_time == 3.0


def test_success_rate_is_zero_without_runs() -> None:
    assert Playbook(name="P", category=PlaybookCategory.TESTING).success_rate == 0.0


def test_publish_moves_a_draft_to_published_and_stamps_it(session: Session) -> None:
    playbook = make_playbook(session, steps=1)
    playbook.publish()
    assert playbook.status is PlaybookStatus.PUBLISHED
    assert playbook.published_at is not None
    assert abs(playbook.published_at - datetime.now(UTC)) < timedelta(minutes=1)


PUBLISH_FROM = {PlaybookStatus.DRAFT}
ARCHIVE_FROM = {PlaybookStatus.DRAFT, PlaybookStatus.PUBLISHED, PlaybookStatus.DEPRECATED}


@pytest.mark.parametrize("status", list(PlaybookStatus))
@pytest.mark.parametrize(
    ("method", "allowed", "target"),
    [
        ("publish", PUBLISH_FROM, PlaybookStatus.PUBLISHED),
        ("archive", ARCHIVE_FROM, PlaybookStatus.ARCHIVED),
    ],
)
def test_playbook_transition_is_applied_or_rejected_without_change(
    session: Session,
    status: PlaybookStatus,
    method: str,
    allowed: set[PlaybookStatus],
    target: PlaybookStatus,
) -> None:
    published_at = datetime(2025, 1, 1, tzinfo=UTC)
    playbook = make_playbook(session, steps=0, status=status, published_at=published_at)
    session.commit()
    if status in allowed:
        getattr(playbook, method)()
        assert playbook.status is target
        session.commit()
        assert session.scalar(select(Playbook.status).where(Playbook.id == playbook.id)) == target
        return
    with pytest.raises(InvalidTransitionError) as raised:
        getattr(playbook, method)()
    message = str(raised.value)
    assert playbook.name in message
    assert f"'{status}'" in message
    assert f"'{target}'" in message
    assert playbook.status is status
    assert playbook.published_at == published_at
    assert not session.is_modified(playbook)
    session.commit()


@pytest.mark.parametrize(
    ("status", "active", "steps", "expected"),
    [
        (PlaybookStatus.DRAFT, True, 1, True),
        (PlaybookStatus.PUBLISHED, True, 2, True),
        (PlaybookStatus.PUBLISHED, True, 0, False),
        (PlaybookStatus.PUBLISHED, False, 1, False),
        (PlaybookStatus.ARCHIVED, True, 1, False),
        (PlaybookStatus.DEPRECATED, True, 1, False),
    ],
)
def test_is_executable(
    session: Session, status: PlaybookStatus, active: bool, steps: int, expected: bool
) -> None:
    playbook = make_playbook(session, steps=steps, status=status, is_active=active)
    assert playbook.is_executable is expected
    assert playbook.to_dict()["is_executable"] is expected


def test_to_dict_adds_success_rate_step_count_and_is_executable(session: Session) -> None:
    playbook = make_playbook(session, steps=3)
    playbook.update_performance_metrics(execution_count=4, success_count=3, avg_duration=2.0)
    data = playbook.to_dict()
    assert data["success_rate"] == 0.75
    assert data["step_count"] == 3
    assert data["is_executable"] is True
    assert data["name"] == playbook.name
    json.dumps(data)


def test_steps_come_back_ordered_by_step_order(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook = make_playbook(session, steps=0, chain=False)
    for order, name in ((3, "c"), (1, "a"), (2, "b")):
        session.add(
            PlaybookStep(
                playbook_id=playbook.id,
                step_name=name,
                step_order=order,
                step_type=StepType.MANUAL,
            )
        )
    session.commit()
    assert [step.step_name for step in reload(fresh_session, playbook).steps] == ["a", "b", "c"]


def test_parent_and_children(session: Session) -> None:
    parent = make_playbook(session, steps=0)
    child = make_playbook(session, steps=0, parent=parent)
    assert child.parent_playbook_id == parent.id
    assert parent.children == [child]


def test_a_default_is_not_shared_between_objects() -> None:
    first = Playbook(name="A", category=PlaybookCategory.TESTING)
    second = Playbook(name="B", category=PlaybookCategory.TESTING)
    first.add_tag("x")
    first.set_configuration("k", 1)
    assert second.get_tags() == []
    assert second.get_configuration() == {}


MUTATIONS: list[tuple[str, Mutation, Callable[[Playbook], Any], Any]] = [
    ("add_tag", lambda p: p.add_tag(" New "), Playbook.get_tags, ["seed", "new"]),
    ("remove_tag", lambda p: p.remove_tag("SEED"), Playbook.get_tags, []),
    (
        "add_success_criteria",
        lambda p: p.add_success_criteria("Recovered"),
        Playbook.get_success_criteria,
        ["Stable", "Recovered"],
    ),
    (
        "set_configuration_key",
        lambda p: p.set_configuration("limits", {"cpu": 2}),
        Playbook.get_configuration,
        {"nested": {"level": 1}, "limits": {"cpu": 2}},
    ),
    (
        "set_configuration_dict",
        lambda p: p.set_configuration({"replaced": True}),
        Playbook.get_configuration,
        {"replaced": True},
    ),
    (
        "update_performance_metrics_run",
        lambda p: p.update_performance_metrics(12.0, False),
        lambda p: (p.total_executions, p.failed_executions, p.average_execution_time),
        (1, 1, 12.0),
    ),
    (
        "update_performance_metrics_aggregate",
        lambda p: p.update_performance_metrics(
            execution_count=5, success_count=4, avg_duration=45.5
        ),
        lambda p: (p.total_executions, p.successful_executions, p.average_execution_time),
        (5, 4, 45.5),
    ),
    (
        "publish",
        Playbook.publish,
        lambda p: (p.status, p.published_at is not None),
        ("published", True),
    ),
    ("archive", Playbook.archive, lambda p: p.status, "archived"),
    ("soft_delete", Playbook.soft_delete, lambda p: p.is_active, False),
]


@pytest.mark.parametrize(
    ("mutate", "read", "expected"),
    [m[1:] for m in MUTATIONS],
    ids=[m[0] for m in MUTATIONS],
)
def test_a_change_made_through_a_method_survives_commit_and_reload(
    session: Session,
    fresh_session: Callable[[], Session],
    mutate: Mutation,
    read: Callable[[Playbook], Any],
    expected: Any,
) -> None:
    playbook = make_playbook(
        session,
        steps=0,
        tags=["seed"],
        success_criteria=["Stable"],
        configuration={"nested": {"level": 1}},
    )
    session.commit()
    mutate(playbook)
    session.commit()
    assert read(reload(fresh_session, playbook)) == expected


def test_get_configuration_copies_nested_values_too() -> None:
    playbook = Playbook(
        name="P", category=PlaybookCategory.TESTING, configuration={"limits": {"cpu": 1}}
    )
    playbook.get_configuration()["limits"]["cpu"] = 99
    limits = playbook.get_configuration("limits")
    limits["cpu"] = 42
    assert playbook.get_configuration() == {"limits": {"cpu": 1}}


def test_executions_of_a_playbook_are_listed_in_creation_order(session: Session) -> None:
    playbook = make_playbook(session, steps=1)
    first = make_execution(session, playbook)
    second = make_execution(session, playbook)
    session.commit()
    session.expire(playbook)
    assert playbook.executions == [first, second]


@pytest.mark.parametrize(
    "args",
    [("when", datetime(2026, 1, 1, tzinfo=UTC)), ("ids", {1, 2}), ({"ratio": float("nan")},)],
)
def test_set_configuration_rejects_a_value_json_cannot_hold_and_the_session_stays_usable(
    session: Session, fresh_session: Callable[[], Session], args: tuple[Any, ...]
) -> None:
    playbook = make_playbook(session, steps=0, configuration={"a": 1})
    session.commit()
    with pytest.raises(ValueError, match=r"Playbook\.configuration must be JSON-serialisable"):
        playbook.set_configuration(*args)
    assert playbook.get_configuration() == {"a": 1}
    session.commit()
    assert reload(fresh_session, playbook).get_configuration() == {"a": 1}


def test_success_criteria_given_at_construction_are_normalised_like_added_ones() -> None:
    playbook = Playbook(
        name="P", category=PlaybookCategory.TESTING, success_criteria=[" Done ", "Done"]
    )
    playbook.add_success_criteria("Done")
    assert playbook.get_success_criteria() == ["Done"]


def test_a_blank_success_criterion_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match=r"Playbook\.success_criteria"):
        Playbook(name="P", category=PlaybookCategory.TESTING, success_criteria=["ok", "  "])


def test_deleting_a_playbook_through_the_session_removes_its_whole_graph(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook = make_playbook(session, steps=3, variables=[make_variable()])
    execution = make_execution(session, playbook)
    for step in playbook.steps:
        session.add(PlaybookStepExecution(execution=execution, step=step))
    child = make_playbook(session, steps=0, parent=playbook)
    session.commit()
    assert execution.step_executions
    session.delete(playbook)
    session.commit()
    counts = {
        model.__name__: session.scalar(select(func.count()).select_from(model))
        for model in (PlaybookStep, PlaybookVariable, PlaybookExecution, PlaybookStepExecution)
    }
    assert counts == dict.fromkeys(counts, 0)
    assert session.scalar(select(func.count()).select_from(step_dependencies)) == 0
    assert reload(fresh_session, child).parent_playbook_id is None


def test_enums_are_stored_as_their_lower_case_values(session: Session) -> None:
    playbook = make_playbook(session, steps=1, category=PlaybookCategory.DISASTER_RECOVERY)
    row = session.execute(
        text("SELECT status, category FROM playbooks WHERE id = :id"), {"id": playbook.id}
    ).one()
    step_type = session.execute(
        text("SELECT step_type FROM playbook_steps WHERE playbook_id = :id"), {"id": playbook.id}
    ).scalar_one()
    assert tuple(row) == ("draft", "disaster_recovery")
    assert step_type == "automated"


def test_help_shows_the_playbooks_own_docstring_with_its_limiting_defaults() -> None:
    # help() heads the page with inspect.getdoc, which falls back to a base class's docstring.
    own = inspect.getdoc(Playbook) or ""
    assert own == Playbook.__dict__.get("__doc__", "").strip().replace("\n    ", "\n")
    assert own.startswith("A versioned, categorised procedure")
    assert "max_concurrent_executions`` (default 1" in own


INVISIBLE = [
    "\u034f",  # combining grapheme joiner
    "\u17b4",  # Khmer inherent vowel
    "\u180b",  # Mongolian free variation selector
    "\ufe0f",  # variation selector-16
    "\U000e0100",  # variation selector-17
    "\u115f",  # Hangul choseong filler
    "\u1160",  # Hangul jungseong filler
    "\u3164",  # Hangul filler
    "\uffa0",  # halfwidth Hangul filler
]


@pytest.mark.parametrize(
    "name",
    ["evil\u202etxt", "zero\u200bwidth", "red\x1b[31m", "a\x00b"]
    + [f"Failover{character}" for character in INVISIBLE]
    + INVISIBLE,
)
def test_a_name_or_tag_with_invisible_or_control_characters_is_refused(name: str) -> None:
    playbook = Playbook(name="ok", category=PlaybookCategory.TESTING)
    with pytest.raises(ValueError, match=r"Playbook\.name contains .*character"):
        playbook.name = name
    with pytest.raises(ValueError, match="tag contains"):
        playbook.add_tag(name)
    assert playbook.name == "ok"
    assert playbook.get_tags() == []
    with pytest.raises(ValueError, match=r"PlaybookTemplate\.name contains"):
        PlaybookTemplate(name=name, category=PlaybookCategory.TESTING)


@pytest.mark.parametrize(
    "name", ["Café déjà vu", "Übergabe-ß", "故障切换", "장애 조치", "नमस्ते", "עברית", "Deploy 🚀"]
)
def test_a_name_or_tag_in_any_script_is_accepted(name: str) -> None:
    playbook = Playbook(name=name, category=PlaybookCategory.TESTING)
    playbook.add_tag(name)
    assert (playbook.name, playbook.get_tags()) == (name, [name.lower()])


def test_a_playbook_or_template_name_with_a_slash_is_refused_and_a_tag_may_have_one() -> None:
    playbook = Playbook(name="ok", category=PlaybookCategory.TESTING)
    template = PlaybookTemplate(name="ok", category=PlaybookCategory.TESTING, version="1.0/rc")
    with pytest.raises(ValueError, match=r"Playbook\.name contains '/', which a URL path"):
        playbook.name = "backup/restore"
    with pytest.raises(ValueError, match=r"PlaybookTemplate\.name contains '/'"):
        template.name = "backup/restore"
    playbook.add_tag("team/infra")
    assert (playbook.name, template.name, template.version) == ("ok", "ok", "1.0/rc")
    assert playbook.get_tags() == ["team/infra"]
