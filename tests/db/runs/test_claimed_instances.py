"""A claimed step run is the instance a query would have returned (``persistent_from_row``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, event, inspect, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import (
    PlaybookStep,
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
def events() -> Iterator[list[str]]:
    """The instance and session events a service's listeners see, by name."""
    seen: list[str] = []
    listeners: list[tuple[Any, str, Callable[..., None]]] = []
    for target, names in (
        (PlaybookStepExecution, ("load", "refresh", "expire")),
        (Session, ("loaded_as_persistent", "after_attach", "detached_to_persistent")),
    ):
        for name in names:
            listener: Callable[..., None] = functools.partial(_record, seen, name)
            event.listen(target, name, listener)
            listeners.append((target, name, listener))
    yield seen
    for target, name, listener in listeners:
        event.remove(target, name, listener)


def _record(seen: list[str], name: str, *_args: Any) -> None:
    seen.append(name)


def test_a_claim_is_seen_by_listeners_as_a_load(
    session: Session, fresh_session: Callable[[], Session], events: list[str]
) -> None:
    started_run(session, [step("a"), step("b")])
    with fresh_session() as other:
        events.clear()
        claimed = claim_ready_steps(other, worker_id="w", limit=2)
        assert len(claimed) == 2
        assert events == ["load", "loaded_as_persistent"] * 2
        other.rollback()


def test_a_held_run_whose_step_was_removed_loses_it_at_its_claim(session: Session) -> None:
    execution = started_run(session, [step("a")])
    held = by_name(execution)["a"]
    assert held.step is not None
    session.execute(delete(PlaybookStep).where(PlaybookStep.id == held.playbook_step_id))
    (run,) = claim_ready_steps(session, worker_id="w")
    assert run is held
    assert run.playbook_step_id is None
    assert run.step is None
