"""``PlaybookStep``: fields, dependencies between steps, configuration, metrics, to_dict."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agentical.db.enums import StepStatus, StepType
from agentical.db.models.playbook import Playbook, PlaybookStep, step_dependencies
from agentical.db.testing.factories import make_playbook

Ref = Callable[[PlaybookStep], PlaybookStep | int | str]
REFS: list[tuple[str, Ref]] = [
    ("object", lambda step: step),
    ("id", lambda step: step.id),
    ("step_name", lambda step: step.step_name),
]


def steps_of(session: Session, count: int = 3, chain: bool = False) -> list[PlaybookStep]:
    return list(make_playbook(session, steps=count, chain=chain).steps)


def edges(session: Session) -> set[tuple[int, int]]:
    rows = session.execute(
        select(step_dependencies.c.step_id, step_dependencies.c.depends_on_step_id)
    )
    return {(row[0], row[1]) for row in rows}


def test_the_contract_constructor_and_defaults(session: Session) -> None:
    playbook = make_playbook(session, steps=0)
    step = PlaybookStep(
        playbook_id=playbook.id,
        step_name="assess",
        step_order=1,
        step_type=StepType.MANUAL,
        display_name="Assess impact",
        description="Look at the dashboards",
        estimated_duration_minutes=15,
        parameters={"service": "{{ service_name }}"},
    )
    session.add(step)
    session.flush()
    assert step.status is StepStatus.ACTIVE
    assert step.retry_attempts == 0
    assert step.is_optional is False
    assert step.get_depends_on_steps() == []
    assert step.parameters == {"service": "{{ service_name }}"}
    session.refresh(playbook)
    assert playbook.steps == [step]


def test_step_type_defaults_to_manual() -> None:
    step = PlaybookStep(step_name="x", step_order=1)
    assert step.step_type is StepType.MANUAL


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("step_name", ""),
        ("step_name", "has space"),
        ("step_name", "-leading-dash"),
        ("step_name", "x" * 101),
        ("step_name", 5),
        ("step_order", 0),
        ("step_order", -1),
        ("step_order", True),
        ("step_order", "1"),
        ("retry_attempts", -1),
        ("retry_attempts", 11),
        ("retry_delay_seconds", -5),
        ("estimated_duration_minutes", -1),
        ("timeout_minutes", 0),
    ],
)
def test_a_bad_field_is_rejected_at_assignment_naming_it_and_changes_nothing(
    session: Session, fresh_session: Callable[[], Session], field: str, value: Any
) -> None:
    step = steps_of(session, 1)[0]
    session.commit()
    before = getattr(step, field)
    with pytest.raises(ValueError, match=rf"PlaybookStep\.{field}"):
        setattr(step, field, value)
    assert getattr(step, field) == before
    session.commit()
    with fresh_session() as other:
        loaded = other.get(PlaybookStep, step.id)
        assert loaded is not None
        assert getattr(loaded, field) == before


def test_step_name_is_stripped() -> None:
    assert PlaybookStep(step_name="  assess ", step_order=1).step_name == "assess"


@pytest.mark.parametrize("field", ["step_name", "step_order"])
def test_step_name_and_order_are_unique_within_a_playbook(session: Session, field: str) -> None:
    playbook = make_playbook(session, steps=1)
    values: dict[str, Any] = {"step_name": "other", "step_order": 2}
    values[field] = getattr(playbook.steps[0], field)
    session.add(PlaybookStep(playbook_id=playbook.id, **values))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(PlaybookStep)) == 0


def test_the_same_step_name_and_order_are_fine_in_another_playbook(session: Session) -> None:
    first = make_playbook(session, steps=["assess"])
    second = make_playbook(session, steps=["assess"])
    assert first.steps[0].step_order == second.steps[0].step_order == 1


@pytest.mark.parametrize(("kind", "ref"), REFS, ids=[r[0] for r in REFS])
def test_add_dependency_accepts_an_object_an_id_or_a_step_name(
    session: Session, fresh_session: Callable[[], Session], kind: str, ref: Ref
) -> None:
    first, second, _ = steps_of(session)
    second.add_dependency(ref(first))
    assert second.get_depends_on_steps() == [first.id]
    session.commit()
    assert edges(session) == {(second.id, first.id)}
    with fresh_session() as other:
        loaded = other.get(PlaybookStep, second.id)
        assert loaded is not None
        assert loaded.get_depends_on_steps() == [first.id]


@pytest.mark.parametrize(("kind", "ref"), REFS, ids=[r[0] for r in REFS])
def test_steps_made_by_playbook_id_after_the_playbooks_steps_were_read_can_depend_on_each_other(
    session: Session, kind: str, ref: Ref
) -> None:
    playbook = make_playbook(session, steps=0)
    assert playbook.step_count == 0  # the steps collection is loaded, empty
    first, second = (
        PlaybookStep(playbook_id=playbook.id, step_name=name, step_order=order)
        for order, name in enumerate(("assess", "fix"), start=1)
    )
    session.add_all([first, second])
    session.flush()
    second.add_dependency(ref(first))
    session.commit()
    assert edges(session) == {(second.id, first.id)}
    second.remove_dependency(ref(first))
    session.commit()
    assert edges(session) == set()


def test_add_dependency_twice_keeps_one_edge(session: Session) -> None:
    first, second, _ = steps_of(session)
    second.add_dependency(first)
    second.add_dependency(first.step_name)
    session.flush()
    assert second.get_depends_on_steps() == [first.id]
    assert len(edges(session)) == 1


def test_get_depends_on_steps_lists_every_dependency_in_step_order(session: Session) -> None:
    first, second, third = steps_of(session)
    third.add_dependency(second)
    third.add_dependency(first)
    session.commit()
    session.expire_all()
    assert third.get_depends_on_steps() == [first.id, second.id]


@pytest.mark.parametrize(("kind", "ref"), REFS, ids=[r[0] for r in REFS])
def test_remove_dependency_accepts_an_object_an_id_or_a_step_name(
    session: Session, kind: str, ref: Ref
) -> None:
    first, second, third = steps_of(session)
    third.add_dependency(first)
    third.add_dependency(second)
    session.commit()
    third.remove_dependency(ref(first))
    session.commit()
    assert third.get_depends_on_steps() == [second.id]
    assert edges(session) == {(third.id, second.id)}


def test_remove_dependency_that_does_not_exist_changes_nothing(session: Session) -> None:
    first, second, third = steps_of(session)
    third.add_dependency(second)
    third.remove_dependency(first)
    assert third.get_depends_on_steps() == [second.id]


@pytest.mark.parametrize(("kind", "ref"), REFS, ids=[r[0] for r in REFS])
def test_a_step_cannot_depend_on_itself(session: Session, kind: str, ref: Ref) -> None:
    step = steps_of(session, 1)[0]
    with pytest.raises(ValueError, match="cannot depend on itself"):
        step.add_dependency(ref(step))
    assert step.get_depends_on_steps() == []
    session.flush()
    assert edges(session) == set()


@pytest.mark.parametrize("method", ["add_dependency", "remove_dependency"])
def test_a_step_of_another_playbook_is_rejected(session: Session, method: str) -> None:
    mine = steps_of(session, 1)[0]
    theirs = steps_of(session, 1)[0]
    with pytest.raises(ValueError, match="another playbook"):
        getattr(mine, method)(theirs)
    with pytest.raises(ValueError, match="no step with id"):
        getattr(mine, method)(theirs.id)
    assert mine.get_depends_on_steps() == []
    session.flush()
    assert edges(session) == set()


@pytest.mark.parametrize(
    "ref", [999_999, "missing", None, 1.5, True], ids=["id", "name", "none", "float", "bool"]
)
def test_an_unknown_or_unusable_reference_is_rejected(session: Session, ref: Any) -> None:
    step = steps_of(session, 1)[0]
    with pytest.raises(ValueError, match=r"no step with|must be a PlaybookStep"):
        step.add_dependency(ref)
    assert step.get_depends_on_steps() == []


@pytest.mark.parametrize("length", [2, 3, 5])
def test_an_edge_that_would_close_a_cycle_is_rejected_and_changes_nothing(
    session: Session, length: int
) -> None:
    steps = steps_of(session, length, chain=True)
    session.commit()
    before = edges(session)
    first, last = steps[0], steps[-1]
    with pytest.raises(ValueError, match="cycle") as raised:
        first.add_dependency(last)
    assert first.step_name in str(raised.value)
    assert last.step_name in str(raised.value)
    assert first.get_depends_on_steps() == []
    session.commit()
    assert edges(session) == before


def test_a_step_outside_any_playbook_cannot_take_dependencies() -> None:
    step = PlaybookStep(step_name="lonely", step_order=1)
    with pytest.raises(ValueError, match="belongs to no playbook"):
        step.add_dependency("other")


def test_dependencies_work_before_the_first_flush() -> None:
    playbook = Playbook(name="P", category="testing")
    first = PlaybookStep(step_name="a", step_order=1)
    second = PlaybookStep(step_name="b", step_order=2)
    playbook.steps = [first, second]
    second.add_dependency("a")
    assert second.depends_on == [first]
    with pytest.raises(ValueError, match="cycle"):
        first.add_dependency(second)


def test_deleting_a_step_removes_every_edge_that_touches_it(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    first, second, third = steps_of(session, chain=True)
    third.add_dependency(first)
    session.commit()
    assert edges(session) == {(second.id, first.id), (third.id, second.id), (third.id, first.id)}
    session.delete(second)
    session.commit()
    assert edges(session) == {(third.id, first.id)}
    assert third.get_depends_on_steps() == [first.id]
    with fresh_session() as other:
        loaded = other.get(PlaybookStep, third.id)
        assert loaded is not None
        assert loaded.get_depends_on_steps() == [first.id]


def test_removing_a_step_from_its_playbook_deletes_it_and_its_edges(session: Session) -> None:
    playbook = make_playbook(session, steps=3, chain=True)
    _, second, third = playbook.steps
    session.commit()
    playbook.steps.remove(second)
    session.commit()
    assert session.get(PlaybookStep, second.id) is None
    assert edges(session) == set()
    assert third.get_depends_on_steps() == []


def test_configuration_works_as_on_playbook(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    step = steps_of(session, 1)[0]
    step.set_configuration("timeout", 30)
    step.set_configuration("nested", {"a": [1]})
    session.commit()
    copy = step.get_configuration()
    copy["timeout"] = 0
    assert step.get_configuration("timeout") == 30
    assert step.get_configuration("missing", 7) == 7
    with fresh_session() as other:
        loaded = other.get(PlaybookStep, step.id)
        assert loaded is not None
        assert loaded.get_configuration() == {"timeout": 30, "nested": {"a": [1]}}
    step.set_configuration({"only": True})
    session.commit()
    with fresh_session() as other:
        reloaded = other.get(PlaybookStep, step.id)
        assert reloaded is not None
        assert reloaded.get_configuration() == {"only": True}


def test_performance_metrics_both_forms_persist(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    step = steps_of(session, 1)[0]
    step.update_performance_metrics(4.0, True)
    step.update_performance_metrics(8.0, False)
    session.commit()
    with fresh_session() as other:
        loaded = other.get(PlaybookStep, step.id)
        assert loaded is not None
        assert (loaded.total_executions, loaded.successful_executions) == (2, 1)
        assert loaded.average_execution_time == pytest.approx(6.0)
        assert loaded.success_rate == pytest.approx(0.5)
    step.update_performance_metrics(execution_count=10, success_count=9, avg_duration=1.5)
    session.commit()
    with fresh_session() as other:
        reloaded = other.get(PlaybookStep, step.id)
        assert reloaded is not None
        assert (reloaded.total_executions, reloaded.failed_executions) == (10, 1)
        assert reloaded.average_execution_time == 1.5


def test_mixing_the_metrics_forms_raises_type_error(session: Session) -> None:
    step = steps_of(session, 1)[0]
    with pytest.raises(TypeError):
        step.update_performance_metrics(1.0, True, execution_count=1)
    assert step.total_executions == 0


def test_to_dict_has_success_rate_and_dependencies(session: Session) -> None:
    first, second, _ = steps_of(session, chain=True)
    second.update_performance_metrics(execution_count=4, success_count=1, avg_duration=1.0)
    data = second.to_dict()
    json.dumps(data)
    assert data["depends_on_step_ids"] == [first.id]
    assert data["success_rate"] == 0.25
    assert data["step_type"] == "automated"
    assert data["status"] == "active"


def test_json_fields_set_on_a_step_survive_a_reload(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    step = steps_of(session, 1)[0]
    step.parameters = {"host": "{{ host }}", "retries": 3}
    step.conditions = {"when": "severity == 'high'"}
    step.success_indicators = ["green dashboard"]
    step.verification_criteria = {"http": 200}
    session.commit()
    with fresh_session() as other:
        loaded = other.get(PlaybookStep, step.id)
    assert loaded is not None
    assert loaded.parameters == {"host": "{{ host }}", "retries": 3}
    assert loaded.conditions == {"when": "severity == 'high'"}
    assert loaded.success_indicators == ["green dashboard"]
    assert loaded.verification_criteria == {"http": 200}
