"""The run engine reports its lifecycle events when the transaction commits, never before
and never for work that was rolled back."""

from __future__ import annotations

from typing import Any

from logfire.testing import CaptureLogfire
from sqlalchemy.orm import Session

from agentical.db import runs
from agentical.db.models.playbook import claim_ready_steps
from agentical.db.observability import event_at_commit
from tests.db.runs.builders import started_run, step


def _reported(capfire: CaptureLogfire) -> list[tuple[str, dict[str, Any]]]:
    spans = capfire.exporter.exported_spans_as_dict()
    return [
        (span["name"], span["attributes"])
        for span in spans
        if "agentical" in span["attributes"].get("logfire.tags", ())
    ]


def _names(capfire: CaptureLogfire) -> list[str]:
    return [name for name, _attributes in _reported(capfire)]


def test_a_claim_and_a_finish_are_reported_by_their_commit(
    session: Session, capfire: CaptureLogfire
) -> None:
    started_run(session, [step("a"), step("b", "a")])
    capfire.exporter.clear()

    (run,) = claim_ready_steps(session, worker_id="w")
    runs.complete_step(session, run, {"ok": True})
    assert _names(capfire) == []  # nothing has happened for anyone else yet
    session.commit()

    reported = _reported(capfire)
    assert [name for name, _attributes in reported] == ["step.claimed", "step.completed"]
    claimed = reported[0][1]
    assert (claimed["step_name"], claimed["worker"], claimed["attempt"]) == ("a", "w", 1)


def test_a_rolled_back_claim_is_never_reported(session: Session, capfire: CaptureLogfire) -> None:
    started_run(session, [step("a")])
    capfire.exporter.clear()

    claim_ready_steps(session, worker_id="w")
    session.rollback()
    session.commit()
    assert _names(capfire) == []

    again = claim_ready_steps(session, worker_id="w2")  # claimable again: the claim is undone
    session.commit()
    assert [run.step_name for run in again] == ["a"]
    assert [(name, attributes["worker"]) for name, attributes in _reported(capfire)] == [
        ("step.claimed", "w2")
    ]


def test_a_closed_session_reports_nothing_it_did_not_commit(
    session: Session, capfire: CaptureLogfire
) -> None:
    started_run(session, [step("a")])
    capfire.exporter.clear()
    claim_ready_steps(session, worker_id="w")
    session.close()
    session.commit()  # a new, empty transaction
    assert _names(capfire) == []


def test_a_savepoint_rolled_back_drops_its_own_events_only(
    session: Session, capfire: CaptureLogfire
) -> None:
    session.commit()
    session.begin()
    event_at_commit(session, "test.before")
    savepoint = session.begin_nested()
    event_at_commit(session, "test.undone")
    savepoint.rollback()
    with session.begin_nested():
        event_at_commit(session, "test.kept")
    assert _names(capfire) == []  # a released savepoint waits for the outermost commit
    session.commit()
    assert _names(capfire) == ["test.before", "test.kept"]


def test_outside_a_transaction_an_event_is_reported_at_once(
    session: Session, capfire: CaptureLogfire
) -> None:
    session.commit()
    event_at_commit(session, "test.now", answer=42)
    reported = _reported(capfire)
    assert [(name, attributes["answer"]) for name, attributes in reported] == [("test.now", 42)]
