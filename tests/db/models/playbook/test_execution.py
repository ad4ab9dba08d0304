"""``PlaybookExecution``: lifecycle, history, progress, variables, criteria, masking."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus, VariableType
from agentical.db.models.playbook import (
    SECRET_MASK,
    InvalidTransitionError,
    Playbook,
    PlaybookExecution,
)
from agentical.db.testing.factories import make_execution, make_playbook, make_user, make_variable

S = ExecutionStatus
Action = Callable[[PlaybookExecution], None]


def new_execution(session: Session, **fields: Any) -> PlaybookExecution:
    return make_execution(session, make_playbook(session, steps=1), **fields)


def reload(fresh_session: Callable[[], Session], execution: PlaybookExecution) -> PlaybookExecution:
    with fresh_session() as other:
        loaded = other.get(PlaybookExecution, execution.id)
    assert loaded is not None
    return loaded


def snapshot(execution: PlaybookExecution) -> dict[str, Any]:
    fields = (
        "status",
        "started_at",
        "completed_at",
        "execution_time_seconds",
        "input_variables",
        "output_variables",
        "error_message",
        "cancellation_reason",
        "overall_success",
        "progress_percentage",
        "status_message",
        "status_history",
    )
    return {field: getattr(execution, field) for field in fields}


def test_the_contract_constructor(session: Session) -> None:
    user = make_user(session)
    playbook = make_playbook(session, steps=1)
    execution = PlaybookExecution(
        playbook_id=playbook.id,
        executed_by_user_id=user.id,
        triggered_by="manual",
        input_variables={"severity": "high"},
    )
    session.add(execution)
    session.flush()
    assert execution.status is S.PENDING
    assert execution.get_input_variables() == {"severity": "high"}
    assert execution.progress_percentage == 0.0
    assert execution.started_at is None
    assert execution.duration is None
    assert execution.status_history == []
    assert execution.execution_id


def test_execution_ids_are_generated_unique_and_a_given_one_is_kept(session: Session) -> None:
    first = new_execution(session)
    second = new_execution(session)
    assert first.execution_id != second.execution_id
    named = new_execution(session, execution_id="run-2026-03-01")
    assert named.execution_id == "run-2026-03-01"


def test_the_database_rejects_a_duplicate_execution_id(session: Session) -> None:
    first = new_execution(session)
    session.commit()
    with pytest.raises(IntegrityError):
        new_execution(session, execution_id=first.execution_id)
    session.rollback()
    assert session.scalars(select(PlaybookExecution.id)).all() == [first.id]


ACTIONS: dict[str, tuple[Action, set[ExecutionStatus], ExecutionStatus]] = {
    "start": (lambda e: e.start_execution(), {S.PENDING}, S.RUNNING),
    "pause": (PlaybookExecution.pause_execution, {S.RUNNING}, S.PAUSED),
    "resume": (PlaybookExecution.resume_execution, {S.PAUSED}, S.RUNNING),
    "complete": (lambda e: e.complete_execution(), {S.RUNNING}, S.COMPLETED),
    "fail": (lambda e: e.complete_execution(overall_success=False), {S.RUNNING}, S.FAILED),
    "cancel": (lambda e: e.cancel_execution("stop"), {S.PENDING, S.RUNNING, S.PAUSED}, S.CANCELLED),
}
CASES = [
    (name, status, status in allowed)
    for name, (_, allowed, _) in ACTIONS.items()
    for status in ExecutionStatus
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
    status: ExecutionStatus,
    allowed: bool,
) -> None:
    action, _, target = ACTIONS[name]
    started = datetime.now(UTC) - timedelta(seconds=5)
    execution = new_execution(session, status=status, started_at=started)
    session.commit()
    if allowed:
        action(execution)
        assert execution.status is target
        last = execution.status_history[-1]
        assert (last["from"], last["to"]) == (str(status), str(target))
        session.commit()
        assert reload(fresh_session, execution).status is target
        return
    before = snapshot(execution)
    with pytest.raises(InvalidTransitionError) as raised:
        action(execution)
    message = str(raised.value)
    assert execution.execution_id in message
    assert f"'{status}'" in message
    assert f"'{target}'" in message
    assert snapshot(execution) == before
    assert not session.is_modified(execution)
    session.commit()
    assert snapshot(reload(fresh_session, execution)) == before


def test_start_sets_started_at_and_stores_the_inputs(session: Session) -> None:
    execution = new_execution(session, input_variables={"old": 1})
    execution.start_execution({"severity": "high"})
    assert execution.status is S.RUNNING
    assert execution.started_at is not None
    assert abs(execution.started_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert execution.get_input_variables() == {"severity": "high"}


def test_start_without_inputs_keeps_the_existing_ones(session: Session) -> None:
    execution = new_execution(session, input_variables={"severity": "low"})
    execution.start_execution()
    assert execution.get_input_variables() == {"severity": "low"}


def test_start_with_inputs_that_are_not_a_dict_is_rejected_and_changes_nothing(
    session: Session,
) -> None:
    execution = new_execution(session)
    before = snapshot(execution)
    with pytest.raises(ValueError, match="input_variables must be a dict"):
        execution.start_execution(["severity"])  # type: ignore[arg-type]
    assert snapshot(execution) == before


def test_complete_sets_timing_outputs_and_success(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=30)
    execution = new_execution(
        session, status=S.RUNNING, started_at=started, output_variables={"kept": 1}
    )
    execution.complete_execution(output_variables={"result": "ok"})
    assert execution.status is S.COMPLETED
    assert execution.overall_success is True
    assert execution.completed_at is not None
    assert execution.execution_time_seconds is not None
    assert 29 <= execution.execution_time_seconds < 120
    assert execution.progress_percentage == 100.0
    assert execution.get_output_variables() == {"kept": 1, "result": "ok"}
    duration = execution.duration
    assert isinstance(duration, timedelta)
    assert duration.total_seconds() == pytest.approx(execution.execution_time_seconds)
    session.commit()
    loaded = reload(fresh_session, execution)
    assert loaded.get_output_variables() == {"kept": 1, "result": "ok"}
    assert loaded.duration == duration


def test_complete_with_failure_moves_to_failed_and_keeps_the_error(session: Session) -> None:
    execution = new_execution(session, status=S.RUNNING, started_at=datetime.now(UTC))
    execution.update_progress(40)
    execution.complete_execution(overall_success=False, error_message="disk full")
    assert execution.status is S.FAILED
    assert execution.overall_success is False
    assert execution.error_message == "disk full"
    assert execution.progress_percentage == 40.0
    assert execution.completed_at is not None


def test_complete_with_outputs_that_are_not_a_dict_is_rejected_and_changes_nothing(
    session: Session,
) -> None:
    execution = new_execution(session, status=S.RUNNING, started_at=datetime.now(UTC))
    before = snapshot(execution)
    with pytest.raises(ValueError, match="output_variables must be a dict"):
        execution.complete_execution(output_variables="done")  # type: ignore[arg-type]
    assert snapshot(execution) == before


@pytest.mark.parametrize("flag", ["false", 0, None])
def test_complete_with_a_success_flag_that_is_not_a_bool_is_rejected_and_changes_nothing(
    session: Session, flag: object
) -> None:
    execution = new_execution(session, status=S.RUNNING, started_at=datetime.now(UTC))
    before = snapshot(execution)
    with pytest.raises(ValueError, match="overall_success must be True or False"):
        execution.complete_execution(overall_success=flag)  # type: ignore[arg-type]
    assert snapshot(execution) == before


def test_cancel_keeps_the_reason_in_the_column_and_the_history(session: Session) -> None:
    execution = new_execution(session)
    execution.cancel_execution(reason="operator changed their mind")
    assert execution.status is S.CANCELLED
    assert execution.cancellation_reason == "operator changed their mind"
    assert execution.status_history[-1]["reason"] == "operator changed their mind"
    assert execution.completed_at is not None
    assert execution.execution_time_seconds is None


def test_cancel_without_a_reason(session: Session) -> None:
    execution = new_execution(session)
    execution.cancel_execution()
    assert execution.status is S.CANCELLED
    assert execution.cancellation_reason is None
    assert execution.status_history[-1]["reason"] is None


def test_the_history_records_every_transition_and_survives_a_reload(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    execution = new_execution(session)
    execution.start_execution()
    execution.pause_execution()
    execution.resume_execution()
    execution.complete_execution()
    session.commit()
    history = reload(fresh_session, execution).status_history
    assert [(h["from"], h["to"]) for h in history] == [
        ("pending", "running"),
        ("running", "paused"),
        ("paused", "running"),
        ("running", "completed"),
    ]
    stamps = [datetime.fromisoformat(h["when"]) for h in history]
    assert stamps == sorted(stamps)
    assert all(stamp.utcoffset() == timedelta(0) for stamp in stamps)


@pytest.mark.parametrize("percentage", [0, 0.5, 50, 99.9, 100])
def test_update_progress_accepts_0_to_100(
    session: Session, fresh_session: Callable[[], Session], percentage: float
) -> None:
    execution = new_execution(session)
    execution.update_progress(percentage, "working")
    session.commit()
    loaded = reload(fresh_session, execution)
    assert loaded.progress_percentage == pytest.approx(percentage)
    assert loaded.status_message == "working"


def test_update_progress_without_message_keeps_the_previous_one(session: Session) -> None:
    execution = new_execution(session)
    execution.update_progress(10, "first")
    execution.update_progress(20)
    assert execution.status_message == "first"


@pytest.mark.parametrize("percentage", [-0.1, 100.1, 101, float("nan"), True, "50", None])
def test_update_progress_out_of_range_raises_naming_the_field_and_changes_nothing(
    session: Session, percentage: Any
) -> None:
    execution = new_execution(session)
    execution.update_progress(30, "before")
    with pytest.raises(ValueError, match="progress_percentage must be a number from 0 to 100"):
        execution.update_progress(percentage, "after")
    assert execution.progress_percentage == 30.0
    assert execution.status_message == "before"


def test_success_criteria_are_recorded_copied_and_persisted(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    execution = new_execution(session)
    execution.mark_success_criteria("Issue resolved")
    execution.mark_success_criteria("Customers notified", met=False)
    copy = execution.get_success_criteria_met()
    copy["Issue resolved"] = False
    assert execution.get_success_criteria_met() == {
        "Issue resolved": True,
        "Customers notified": False,
    }
    session.commit()
    execution.mark_success_criteria("Customers notified")
    session.commit()
    assert reload(fresh_session, execution).get_success_criteria_met() == {
        "Issue resolved": True,
        "Customers notified": True,
    }


@pytest.mark.parametrize("criterion", ["", "  ", None])
def test_mark_success_criteria_rejects_a_blank_criterion(session: Session, criterion: Any) -> None:
    execution = new_execution(session)
    with pytest.raises(ValueError, match="success criterion"):
        execution.mark_success_criteria(criterion)
    assert execution.get_success_criteria_met() == {}


def test_set_variable_sets_inputs_and_outputs_and_they_persist(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    execution = new_execution(session, input_variables={"severity": "low"})
    session.commit()
    execution.set_variable("severity", "high")
    execution.set_variable("ticket", {"id": 7, "tags": ["a"]}, is_output=True)
    inputs = execution.get_input_variables()
    inputs["severity"] = "tampered"
    execution.get_output_variables().clear()
    session.commit()
    loaded = reload(fresh_session, execution)
    assert loaded.get_input_variables() == {"severity": "high"}
    assert loaded.get_output_variables() == {"ticket": {"id": 7, "tags": ["a"]}}


@pytest.mark.parametrize("key", ["", None, 3])
def test_set_variable_rejects_a_bad_key(session: Session, key: Any) -> None:
    execution = new_execution(session)
    with pytest.raises(ValueError, match="variable key"):
        execution.set_variable(key, 1)
    assert execution.get_input_variables() == {}


@pytest.mark.parametrize(
    ("name", "mutate", "read", "expected"),
    [
        ("start_inputs", lambda e: e.start_execution({"a": 1}), "input_variables", {"a": 1}),
        (
            "complete_outputs",
            lambda e: (e.start_execution(), e.complete_execution(output_variables={"o": [1]})),
            "output_variables",
            {"o": [1]},
        ),
        ("cancel_reason", lambda e: e.cancel_execution("why"), "cancellation_reason", "why"),
        ("progress", lambda e: e.update_progress(42, "msg"), "progress_percentage", 42.0),
    ],
)
def test_a_change_made_through_a_method_survives_commit_and_reload(
    session: Session,
    fresh_session: Callable[[], Session],
    name: str,
    mutate: Callable[[PlaybookExecution], Any],
    read: str,
    expected: Any,
) -> None:
    execution = new_execution(session)
    session.commit()
    mutate(execution)
    session.commit()
    assert getattr(reload(fresh_session, execution), read) == expected


def test_duration_is_none_until_started_and_finished(session: Session) -> None:
    execution = new_execution(session)
    assert execution.duration is None
    execution.start_execution()
    assert execution.duration is None
    assert execution.to_dict()["duration_seconds"] is None
    execution.complete_execution()
    assert isinstance(execution.duration, timedelta)
    assert execution.to_dict()["duration_seconds"] == execution.duration.total_seconds()


def sensitive_playbook(session: Session) -> Playbook:
    token = make_variable(
        "api_token", variable_type=VariableType.STRING, enum_values=[], default_value=None
    )
    token.is_sensitive = True
    return make_playbook(session, steps=1, variables=[token, make_variable("severity")])


def test_to_dict_masks_sensitive_inputs_and_outputs(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook = sensitive_playbook(session)
    execution = make_execution(
        session, playbook, input_variables={"api_token": "sk-live-1", "severity": "high"}
    )
    execution.set_variable("api_token", "sk-live-2", is_output=True)
    data = execution.to_dict()
    assert data["input_variables"] == {"api_token": SECRET_MASK, "severity": "high"}
    assert data["output_variables"] == {"api_token": SECRET_MASK}
    assert "sk-live" not in json.dumps(data)
    assert "sk-live" not in repr(execution)
    assert execution.get_input_variables()["api_token"] == "sk-live-1"
    session.commit()
    with fresh_session() as other:
        loaded = other.get(PlaybookExecution, execution.id)
        assert loaded is not None
        assert "sk-live" not in json.dumps(loaded.to_dict())


def test_to_dict_masks_every_input_when_the_playbook_cannot_be_reached() -> None:
    execution = PlaybookExecution(input_variables={"api_token": "sk", "severity": "high"})
    data = execution.to_dict()
    assert data["input_variables"] == {"api_token": SECRET_MASK, "severity": SECRET_MASK}


def test_to_dict_is_json_ready(session: Session) -> None:
    execution = new_execution(session)
    execution.start_execution({"severity": "high"})
    data = execution.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["status"] == "running"
    assert datetime.fromisoformat(data["started_at"]).utcoffset() == timedelta(0)
    assert data["input_variables"] == {"severity": "high"}


def test_variable_getters_copy_nested_values_too(session: Session) -> None:
    execution = new_execution(session, input_variables={"hosts": ["a"]})
    execution.set_variable("report", {"lines": [1]}, is_output=True)
    execution.get_input_variables()["hosts"].append("b")
    execution.get_output_variables()["report"]["lines"].append(2)
    assert execution.get_input_variables() == {"hosts": ["a"]}
    assert execution.get_output_variables() == {"report": {"lines": [1]}}


def complete_with_an_object(execution: PlaybookExecution) -> None:
    execution.start_execution()
    execution.complete_execution(output_variables={"o": object()})


NOT_JSON: list[tuple[str, Callable[[PlaybookExecution], Any], str]] = [
    ("start", lambda e: e.start_execution({"at": datetime.now(UTC)}), "input_variables"),
    ("set_input", lambda e: e.set_variable("ids", {1, 2}), "input_variables"),
    ("set_output", lambda e: e.set_variable("x", float("nan"), is_output=True), "output_variables"),
    ("complete", complete_with_an_object, "output_variables"),
]


@pytest.mark.parametrize(
    ("mutate", "field"), [n[1:] for n in NOT_JSON], ids=[n[0] for n in NOT_JSON]
)
def test_a_value_json_cannot_hold_is_rejected_before_anything_changes(
    session: Session,
    fresh_session: Callable[[], Session],
    mutate: Callable[[PlaybookExecution], Any],
    field: str,
) -> None:
    execution = new_execution(session)
    session.commit()
    with pytest.raises(ValueError, match=rf"PlaybookExecution\.{field}.* JSON-serialisable"):
        mutate(execution)
    assert getattr(execution, field) == {}
    assert execution.status in (S.PENDING, S.RUNNING)
    session.commit()
    assert getattr(reload(fresh_session, execution), field) == {}


@pytest.mark.parametrize("met", ["false", 0, 1, None])
def test_mark_success_criteria_refuses_a_verdict_that_is_not_a_bool(
    session: Session, met: Any
) -> None:
    execution = new_execution(session)
    with pytest.raises(
        ValueError, match=r"success_criteria_met\['Resolved'\] must be True or False"
    ):
        execution.mark_success_criteria("Resolved", met)
    assert execution.get_success_criteria_met() == {}
