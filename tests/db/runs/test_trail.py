"""The audit trail of runs: every transition of an execution, people's decisions on its
steps and the playbook's own transitions, each with its actor, in the action's
transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agentical.db import history, runs
from agentical.db.audit import SYSTEM, acting_as
from agentical.db.errors import InvalidInputError
from agentical.db.models.audit import AuditEntry
from agentical.db.models.playbook import (
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
    create_execution,
)
from agentical.db.types import utc_now
from tests.db.runs.builders import by_name, drain, started_run, step


def trail(session: Session, execution: PlaybookExecution) -> list[AuditEntry]:
    """The execution's rows, oldest first."""
    return list(reversed(session.scalars(history.audit_trail(execution=execution)).all()))


def rows(entries: list[AuditEntry]) -> list[tuple[Any, ...]]:
    return [
        (str(e.action), e.actor, e.from_status, e.to_status, e.step_name, e.reason) for e in entries
    ]


def transitions_of(execution: PlaybookExecution) -> list[tuple[str, str, str]]:
    return [(change["by"], change["from"], change["to"]) for change in execution.status_history]


def test_every_transition_of_a_run_has_its_row_and_its_actor(session: Session) -> None:
    execution = started_run(session, [step("a"), step("b", "a")])
    runs.pause_execution(session, execution, actor="alice")
    with acting_as("bob"):
        runs.resume_execution(session, execution)
    session.commit()
    drain(session)
    session.refresh(execution)
    assert execution.status is ExecutionStatus.COMPLETED
    assert rows(trail(session, execution)) == [
        ("start", "starter", "pending", "running", None, None),
        ("pause", "alice", "running", "paused", None, None),
        ("resume", "bob", "paused", "running", None, None),
        ("complete", SYSTEM, "running", "completed", None, None),
    ]
    # The row's history and the trail name the same people.
    assert [(e.actor, e.from_status, e.to_status) for e in trail(session, execution)] == (
        transitions_of(execution)
    )
    entry = trail(session, execution)[0]
    assert (entry.execution_id, entry.playbook_uuid, entry.playbook_name) == (
        execution.execution_id,
        execution.playbook.uuid,
        execution.playbook.name,
    )


def test_a_worker_claiming_and_finishing_steps_writes_no_rows(session: Session) -> None:
    execution = started_run(session, [step("a"), step("b"), step("c")])
    before = session.scalar(select(func.count()).select_from(AuditEntry))
    claimed = runs.claim_ready_steps(session, worker_id="w", limit=2)
    session.commit()
    for run in claimed:
        runs.complete_step(session, run)
    session.commit()
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == before
    drain(session)
    assert [str(e.action) for e in trail(session, execution)] == ["start", "complete"]


def test_a_run_that_fails_records_why_and_the_actor_of_its_last_step(session: Session) -> None:
    execution = started_run(session, [step("a"), step("b", "a")])
    drain(session, failing={"a"})
    assert rows(trail(session, execution))[-1] == (
        "fail",
        SYSTEM,
        "running",
        "failed",
        None,
        "step 'a' failed",
    )


def test_a_run_past_its_timeout_fails_with_a_row_that_says_so(session: Session) -> None:
    execution = started_run(session, [step("a")], timeout_minutes=30)
    with acting_as("reaper"):
        runs.enforce_timeouts(session, now=utc_now() + timedelta(minutes=31))
    session.commit()
    assert rows(trail(session, execution))[-1] == (
        "fail",
        "reaper",
        "running",
        "failed",
        None,
        "execution timed out after 30 min",
    )


def test_a_rolled_back_action_leaves_no_row(session: Session) -> None:
    execution = started_run(session, [step("a")])
    runs.cancel_execution(session, execution, "wrong button", actor="alice")
    assert [str(e.action) for e in trail(session, execution)] == ["start", "cancel"]
    session.rollback()
    assert [str(e.action) for e in trail(session, execution)] == ["start"]


def test_a_model_method_records_the_actor_in_effect_when_it_was_called(
    session: Session,
) -> None:
    execution = started_run(session, [step("a")])
    with acting_as("carol", request_id="req-42"):
        execution.cancel_execution("duplicate run")
    session.commit()  # flushed outside the block
    cancel = trail(session, execution)[-1]
    assert rows([cancel]) == [("cancel", "carol", "running", "cancelled", None, "duplicate run")]
    assert cancel.request_id == "req-42"
    assert execution.status_history[-1]["by"] == "carol"


def test_the_starter_is_the_actor_and_two_names_for_them_must_agree(session: Session) -> None:
    playbook = Playbook.import_definition(
        session, {"name": "Twice", "category": "testing", "steps": [step("a")]}
    )
    execution = create_execution(session, playbook)
    with pytest.raises(InvalidInputError, match="started_by"):
        runs.start_execution(session, execution, started_by="alice", actor="bob")
    assert execution.status is ExecutionStatus.PENDING
    with acting_as("dave"):
        runs.start_execution(session, execution)
    assert execution.started_by == "dave"
    assert rows(trail(session, execution)) == [("start", "dave", "pending", "running", None, None)]


def test_a_caller_deciding_the_outcome_is_recorded_once(session: Session) -> None:
    execution = started_run(session, [step("a")])
    with acting_as("erin"):
        execution.complete_execution(overall_success=False, error_message="gave up")
    session.commit()
    assert [str(e.action) for e in trail(session, execution)] == ["start", "fail"]
    assert trail(session, execution)[-1].actor == "erin"


def test_approvals_and_rejections_record_who_decided_and_why(session: Session) -> None:
    definition = [step("build"), {"name": "sign_off", "type": "approval"}, step("x", "sign_off")]
    approved = started_run(session, definition)
    runs.approve_step(session, by_name(approved)["sign_off"], "bob", comment="ship it")
    rejected = started_run(session, definition)
    runs.reject_step(session, by_name(rejected)["sign_off"], "carol", "not on a Friday")
    session.commit()
    drain(session)
    assert rows(trail(session, approved))[1:] == [
        ("approve", "bob", "pending", "completed", "sign_off", "ship it"),
        ("complete", SYSTEM, "running", "completed", None, None),
    ]
    assert rows(trail(session, rejected))[-2:] == [
        ("reject", "carol", "pending", "failed", "sign_off", "rejected by carol: not on a Friday"),
        ("fail", SYSTEM, "running", "failed", None, "step 'sign_off' failed"),
    ]


def test_a_manual_step_completed_in_a_context_names_its_person_once(session: Session) -> None:
    execution = started_run(session, [{"name": "check", "type": "manual"}])
    check = by_name(execution)["check"]
    with acting_as("alice"):
        check.complete_step({"looked": True})
    session.commit()
    assert check.completed_by == "alice"
    assert rows(trail(session, execution))[1:] == [
        ("complete_step", "alice", "pending", "completed", "check", None),
        ("complete", SYSTEM, "running", "completed", None, None),
    ]


def test_publish_and_archive_record_their_actor_and_statuses(session: Session) -> None:
    with acting_as("importer"):
        playbook = Playbook.import_definition(
            session, {"name": "Lifecycle", "category": "testing", "steps": [step("a")]}
        )
    with acting_as("alice"):
        playbook.publish()
    session.flush()
    playbook.archive()
    session.commit()
    entries = list(reversed(session.scalars(history.audit_trail(playbook=playbook)).all()))
    assert [(str(e.action), e.actor, e.from_status, e.to_status) for e in entries] == [
        ("import", "importer", None, "draft"),
        ("publish", "alice", "draft", "published"),
        ("archive", SYSTEM, "published", "archived"),
    ]
    assert playbook.created_by == "importer"
    assert {(e.playbook_name, e.playbook_version) for e in entries} == {("Lifecycle", 1)}


def test_no_input_value_reaches_the_trail(session: Session) -> None:
    secret = "s3cr3t-token-value"
    playbook = Playbook.import_definition(
        session,
        {
            "name": "Secretive",
            "category": "testing",
            "variables": [{"name": "token", "type": "string", "sensitive": True}],
            "steps": [{"name": "check", "type": "manual"}],
        },
    )
    execution = create_execution(session, playbook, {"token": secret})
    runs.start_execution(session, execution, actor="alice")
    by_name(execution)["check"].complete_step({"token_seen": True}, completed_by="alice")
    runs.cancel_execution(session, started_again(session, playbook), "stop", actor="bob")
    session.commit()
    stored = [entry.to_dict() for entry in session.scalars(select(AuditEntry))]
    assert stored
    assert secret not in json.dumps(stored)


def started_again(session: Session, playbook: Playbook) -> PlaybookExecution:
    execution = create_execution(session, playbook, {"token": "another-secret"})
    playbook.max_concurrent_executions = 5
    runs.start_execution(session, execution)
    return execution


def test_a_step_decided_in_a_session_that_holds_only_the_step_names_its_run(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    execution = started_run(session, [{"name": "check", "type": "manual"}, step("b", "check")])
    check_id = by_name(execution)["check"].id
    with fresh_session() as other:
        check = other.get(PlaybookStepExecution, check_id)
        assert check is not None
        check.complete_step({}, completed_by="alice")
        other.commit()
    decided = trail(session, execution)[-1]
    assert (str(decided.action), decided.actor, decided.step_name, decided.to_status) == (
        "complete_step",
        "alice",
        "check",
        "completed",
    )
    assert (decided.execution_id, decided.playbook_name) == (
        execution.execution_id,
        execution.playbook.name,
    )


def test_transitions_that_return_to_the_same_status_in_one_flush_each_have_a_row(
    session: Session,
) -> None:
    execution = started_run(session, [step("a")])
    with acting_as("alice"):
        execution.pause_execution()
        execution.resume_execution()
    session.commit()
    assert [(str(e.action), e.actor) for e in trail(session, execution)] == [
        ("start", "starter"),
        ("pause", "alice"),
        ("resume", "alice"),
    ]
