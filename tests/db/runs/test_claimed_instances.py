"""A claimed step run is the instance a query would have returned (``persistent_from_row``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import (
    PlaybookStepExecution,
    StepStatus,
    claim_ready_steps,
)
from tests.db.runs.builders import by_name, started_run, step


def test_a_claimed_run_is_persistent_in_the_session_and_loads_its_relationships(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    execution = started_run(session, [step("a")])
    with fresh_session() as other:
        (run,) = claim_ready_steps(other, worker_id="w")
        assert inspect(run).persistent
        assert other.get(PlaybookStepExecution, run.id) is run
        assert (run.status, run.claimed_by, run.attempt) == (StepStatus.RUNNING, "w", 1)
        assert run.execution.id == execution.id  # loaded on first access
        assert run.step is not None
        assert run.step.step_name == "a"
        assert not other.dirty
        other.rollback()


def test_a_run_the_session_holds_is_refreshed_in_place_by_its_claim(session: Session) -> None:
    execution = started_run(session, [step("a")])
    held = by_name(execution)["a"]
    assert held.status == StepStatus.PENDING
    (run,) = claim_ready_steps(session, worker_id="w")
    assert run is held
    assert (held.status, held.claimed_by, held.attempt) == (StepStatus.RUNNING, "w", 1)
    assert held.lease_expires_at is not None
    assert not inspect(held).modified
    held.output_data["progress"] = 1  # its JSON still tracks in-place changes
    assert inspect(held).modified


def test_an_in_place_change_to_a_claimed_runs_json_is_stored(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    started_run(session, [step("a")])
    with fresh_session() as other:
        (run,) = claim_ready_steps(other, worker_id="w")
        run.input_data["note"] = "seen by the worker"
        assert inspect(run).modified
        other.flush()
        stored = other.execute(
            select(PlaybookStepExecution.__table__.c.input_data).where(
                PlaybookStepExecution.__table__.c.id == run.id
            )
        ).scalar_one()
        assert stored["note"] == "seen by the worker"
        other.rollback()


@pytest.fixture
def loads() -> Iterator[list[Any]]:
    """What a service's ``load`` listener on step runs sees."""
    seen: list[Any] = []

    def record(target: Any, _context: Any) -> None:
        seen.append(target)

    event.listen(PlaybookStepExecution, "load", record)
    yield seen
    event.remove(PlaybookStepExecution, "load", record)


def test_a_services_load_listener_sees_each_claimed_run(
    session: Session, fresh_session: Callable[[], Session], loads: list[Any]
) -> None:
    started_run(session, [step("a"), step("b")])
    with fresh_session() as other:
        claimed = claim_ready_steps(other, worker_id="w", limit=2)
        assert len(claimed) == 2
        assert loads == claimed
        other.rollback()
