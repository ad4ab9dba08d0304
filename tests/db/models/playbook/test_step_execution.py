"""``PlaybookStepExecution``: the run of one step, its lifecycle and its history."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from agentical.db.enums import StepStatus
from agentical.db.models.playbook import (
    InvalidTransitionError,
    PlaybookExecution,
    PlaybookStep,
    PlaybookStepExecution,
)
from agentical.db.testing.factories import make_execution, make_playbook

S = StepStatus
Action = Callable[[PlaybookStepExecution], None]


def new_step_execution(session: Session, **fields: Any) -> PlaybookStepExecution:
    playbook = make_playbook(session, steps=2)
    execution = make_execution(session, playbook)
    step = playbook.steps[0]
    step_execution = PlaybookStepExecution(
        playbook_execution_id=execution.id, playbook_step_id=step.id, step_order=1, **fields
    )
    session.add(step_execution)
    session.flush()
    return step_execution


def reload(
    fresh_session: Callable[[], Session], step_execution: PlaybookStepExecution
) -> PlaybookStepExecution:
    with fresh_session() as other:
        loaded = other.get(PlaybookStepExecution, step_execution.id)
    assert loaded is not None
    return loaded


def snapshot(step_execution: PlaybookStepExecution) -> dict[str, Any]:
    fields = (
        "status",
        "started_at",
        "completed_at",
        "output_data",
        "error_message",
        "execution_time_seconds",
    )
    return {field: getattr(step_execution, field) for field in fields}


def test_the_contract_constructor_records_the_step_name(session: Session) -> None:
    step_execution = new_step_execution(session)
    assert step_execution.status is S.PENDING
    assert step_execution.step_name == "step_1"
    assert step_execution.retry_count == 0
    assert step_execution.input_data == {}
    assert step_execution.duration_seconds is None


def test_linking_a_step_object_copies_its_name_and_order(session: Session) -> None:
    playbook = make_playbook(session, steps=["assess", "fix"])
    execution = make_execution(session, playbook)
    step_execution = PlaybookStepExecution(execution=execution, step=playbook.steps[1])
    session.add(step_execution)
    session.flush()
    assert (step_execution.step_name, step_execution.step_order) == ("fix", 2)


@pytest.mark.parametrize("order", [0, -1, True, "1"])
def test_a_bad_step_order_is_rejected_naming_the_field(order: Any) -> None:
    with pytest.raises(ValueError, match=r"PlaybookStepExecution\.step_order"):
        PlaybookStepExecution(step_order=order)


ACTIONS: dict[str, tuple[Action, set[StepStatus], StepStatus]] = {
    "start": (PlaybookStepExecution.start_step, {S.PENDING}, S.RUNNING),
    "complete": (lambda s: s.complete_step({"ok": True}), {S.RUNNING}, S.COMPLETED),
    "fail": (lambda s: s.fail_step("boom"), {S.RUNNING}, S.FAILED),
    "skip": (lambda s: s.skip_step("not needed"), {S.PENDING}, S.SKIPPED),
}
CASES = [
    (name, status, status in allowed) for name, (_, allowed, _) in ACTIONS.items() for status in S
]


@pytest.mark.parametrize(
    ("name", "status", "allowed"),
    CASES,
    ids=[f"{n}-from-{s}-{'allowed' if a else 'rejected'}" for n, s, a in CASES],
)
def test_every_transition_is_applied_or_rejected_without_change(
    session: Session,
    fresh_session: Callable[[], Session],
    name: str,
    status: StepStatus,
    allowed: bool,
) -> None:
    action, _, target = ACTIONS[name]
    step_execution = new_step_execution(session, status=status)
    session.commit()
    if allowed:
        action(step_execution)
        assert step_execution.status is target
        session.commit()
        assert reload(fresh_session, step_execution).status is target
        return
    before = snapshot(step_execution)
    with pytest.raises(InvalidTransitionError) as raised:
        action(step_execution)
    message = str(raised.value)
    assert "step_1" in message
    assert f"'{status}'" in message
    assert f"'{target}'" in message
    assert snapshot(step_execution) == before
    assert not session.is_modified(step_execution)


def test_start_then_complete_keeps_the_output_and_sets_timing(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    step_execution = new_step_execution(session)
    step_execution.start_step()
    assert step_execution.started_at is not None
    assert abs(step_execution.started_at - datetime.now(UTC)) < timedelta(minutes=1)
    step_execution.complete_step({"rows": [1, 2], "note": "fine"})
    assert step_execution.completed_at is not None
    assert step_execution.execution_time_seconds is not None
    assert step_execution.execution_time_seconds >= 0
    assert step_execution.duration_seconds == pytest.approx(step_execution.execution_time_seconds)
    session.commit()
    loaded = reload(fresh_session, step_execution)
    assert loaded.output_data == {"rows": [1, 2], "note": "fine"}
    assert loaded.status is S.COMPLETED
    assert loaded.completed_at is not None
    assert loaded.completed_at.utcoffset() == timedelta(0)


def test_complete_without_output_keeps_the_existing_output(session: Session) -> None:
    step_execution = new_step_execution(session, status=S.RUNNING, output_data={"partial": 1})
    step_execution.complete_step()
    assert step_execution.output_data == {"partial": 1}


def test_complete_with_output_that_is_not_a_dict_is_rejected_and_changes_nothing(
    session: Session,
) -> None:
    step_execution = new_step_execution(session, status=S.RUNNING)
    before = snapshot(step_execution)
    with pytest.raises(ValueError, match="output_data must be a dict"):
        step_execution.complete_step(["x"])  # type: ignore[arg-type]
    assert snapshot(step_execution) == before


@pytest.mark.parametrize("message", ["Timeout after 30s", "  spaced  \n", "échec: ünïcode ✓", ""])
def test_fail_keeps_the_message_exactly_as_given(
    session: Session, fresh_session: Callable[[], Session], message: str
) -> None:
    step_execution = new_step_execution(session)
    step_execution.start_step()
    step_execution.fail_step(message)
    assert step_execution.status is S.FAILED
    assert step_execution.completed_at is not None
    session.commit()
    assert reload(fresh_session, step_execution).error_message == message


@pytest.mark.parametrize(
    ("reason", "expected"), [("not needed", "Skipped: not needed"), (None, "Skipped")]
)
def test_skip_records_the_reason(
    session: Session, fresh_session: Callable[[], Session], reason: str | None, expected: str
) -> None:
    step_execution = new_step_execution(session)
    step_execution.skip_step(reason)
    assert step_execution.status is S.SKIPPED
    assert step_execution.started_at is None
    session.commit()
    assert reload(fresh_session, step_execution).error_message == expected


def test_to_dict_has_duration_seconds_and_is_json_ready(session: Session) -> None:
    step_execution = new_step_execution(session)
    assert step_execution.to_dict()["duration_seconds"] is None
    step_execution.start_step()
    step_execution.complete_step({"a": 1})
    data = step_execution.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["duration_seconds"] == step_execution.duration_seconds
    assert data["status"] == "completed"
    assert data["step_name"] == "step_1"


def test_deleting_the_step_keeps_the_run_with_its_name(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    step_execution = new_step_execution(session)
    step_execution.start_step()
    step_execution.complete_step()
    session.commit()
    step = session.get(PlaybookStep, step_execution.playbook_step_id)
    assert step is not None
    session.delete(step)
    session.commit()
    loaded = reload(fresh_session, step_execution)
    assert loaded.playbook_step_id is None
    assert loaded.step_name == "step_1"
    assert loaded.status is S.COMPLETED


def test_an_execution_lists_its_step_executions_in_step_order(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook = make_playbook(session, steps=3)
    execution = make_execution(session, playbook)
    for step in reversed(playbook.steps):
        session.add(PlaybookStepExecution(execution=execution, step=step))
    session.commit()
    with fresh_session() as other:
        loaded = other.get(PlaybookExecution, execution.id)
        assert loaded is not None
        assert [s.step_name for s in loaded.step_executions] == ["step_1", "step_2", "step_3"]


def test_output_json_cannot_hold_is_rejected_and_the_step_stays_running(session: Session) -> None:
    step_execution = new_step_execution(session)
    step_execution.start_step()
    session.commit()
    with pytest.raises(ValueError, match=r"PlaybookStepExecution\.output_data must be JSON"):
        step_execution.complete_step({"at": datetime.now(UTC)})
    assert step_execution.status is S.RUNNING
    assert step_execution.output_data == {}
    session.commit()
