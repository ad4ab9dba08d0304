"""``new_execution(..., idempotency_key=...)``: one execution per key and playbook, even
when two callers race."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agentical.db.models.playbook import Playbook, PlaybookExecution
from agentical.db.testing.factories import make_playbook
from tests.concurrency.conftest import run_in_threads

RACERS = 6


def _count(session: Session, playbook_id: int) -> int:
    return session.execute(
        select(func.count())
        .select_from(PlaybookExecution)
        .where(PlaybookExecution.playbook_id == playbook_id)
    ).scalar_one()


def test_racing_starts_with_one_key_give_one_execution(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        playbook_id = make_playbook(session, steps=2).id
        session.commit()

    def work(_index: int) -> int:
        with sessions() as session:
            playbook = session.get(Playbook, playbook_id)
            assert playbook is not None
            execution = playbook.new_execution(idempotency_key="deploy-42")
            session.commit()
            return execution.id

    outcomes = run_in_threads(RACERS, work)
    assert all(isinstance(outcome, int) for outcome in outcomes), outcomes
    assert len(set(outcomes)) == 1
    with sessions() as session:
        assert _count(session, playbook_id) == 1
        execution = session.get(PlaybookExecution, outcomes[0])
        assert execution is not None
        assert execution.idempotency_key == "deploy-42"
        assert len(execution.step_executions) == 2


def test_a_repeated_key_returns_the_same_execution_and_another_key_a_new_one(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=1)
        other_playbook = make_playbook(session, steps=1)
        session.commit()
        first = playbook.new_execution(idempotency_key="a")
        again = playbook.new_execution(idempotency_key="a")  # not committed yet: same session
        assert again is first
        session.commit()
        assert playbook.new_execution(idempotency_key="a") is first
        assert playbook.new_execution(idempotency_key="b") is not first
        assert other_playbook.new_execution(idempotency_key="a") is not first
        unkeyed = [playbook.new_execution(), playbook.new_execution()]
        session.commit()
        assert unkeyed[0].idempotency_key is None
        assert _count(session, playbook.id) == 4


def test_a_replay_after_the_run_finished_still_returns_it(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=1)
        session.commit()
        execution = playbook.new_execution(idempotency_key="nightly-2026-11-27")
        execution.start_execution()
        execution.complete_execution(overall_success=True)
        session.commit()
    with sessions() as session:
        reloaded = session.get(Playbook, playbook.id)
        assert reloaded is not None
        replay = reloaded.new_execution(idempotency_key="nightly-2026-11-27")
        assert replay.id == execution.id
        assert replay.overall_success is True


@pytest.mark.parametrize("key", ["", "   ", "k" * 256, 42])
def test_a_bad_key_is_refused(sessions: sessionmaker[Session], key: object) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=1)
        session.commit()
        with pytest.raises(ValueError, match="idempotency_key"):
            playbook.new_execution(idempotency_key=key)  # type: ignore[arg-type]
        session.rollback()
        assert _count(session, playbook.id) == 0
