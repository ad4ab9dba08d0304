"""Optimistic locking: of two sessions that change the same loaded row, the later commit
fails with ``StaleDataError`` and the earlier one's change stays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from agentical.db.models.playbook import (
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
)
from agentical.db.testing.factories import make_playbook


def _seed(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        playbook = make_playbook(session, steps=1, chain=False)
        execution = PlaybookExecution(playbook=playbook)
        session.add(execution)
        session.flush()
        step_run = PlaybookStepExecution(
            playbook_execution_id=execution.id, step=playbook.steps[0], step_order=1
        )
        session.add(step_run)
        session.commit()
        return {"playbook": playbook.id, "execution": execution.id, "step_run": step_run.id}


Change = Callable[[Any, str], None]

CASES: dict[str, tuple[type[Any], str, str]] = {
    # model, row key, text attribute changed by both sessions
    "playbook": (Playbook, "playbook", "description"),
    "execution": (PlaybookExecution, "execution", "status_message"),
    "step_execution": (PlaybookStepExecution, "step_run", "error_message"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_second_commit_of_a_stale_row_fails_and_the_first_change_stays(
    sessions: sessionmaker[Session], case: str
) -> None:
    model, key, attribute = CASES[case]
    row_id = _seed(sessions)[key]
    first, second = sessions(), sessions()
    try:
        mine, theirs = first.get(model, row_id), second.get(model, row_id)
        assert mine is not None
        assert theirs is not None
        version = mine.row_version
        setattr(mine, attribute, "first")
        first.commit()
        setattr(theirs, attribute, "second")
        with pytest.raises(StaleDataError):
            second.commit()
        second.rollback()
    finally:
        first.close()
        second.close()
    with sessions() as check:
        stored = check.get(model, row_id)
        assert stored is not None
        assert getattr(stored, attribute) == "first"
        assert stored.row_version == version + 1


def test_a_lifecycle_change_on_a_stale_execution_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    row_id = _seed(sessions)["execution"]
    with sessions() as first, sessions() as second:
        mine, theirs = first.get(PlaybookExecution, row_id), second.get(PlaybookExecution, row_id)
        assert mine is not None
        assert theirs is not None
        mine.start_execution()
        first.commit()
        theirs.cancel_execution("too late")
        with pytest.raises(StaleDataError):
            second.commit()
    with sessions() as check:
        stored = check.get(PlaybookExecution, row_id)
        assert stored is not None
        assert stored.status is ExecutionStatus.RUNNING
        assert stored.cancellation_reason is None
