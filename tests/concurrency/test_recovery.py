"""After an integrity error, a validation error or a stale-data error, the session rolls
back and works again, and what was committed before is intact. Real commits, every
database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, IntegrityError, PendingRollbackError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from agentical.db.models.playbook import (
    ConcurrencyLimitError,
    ExecutionStatus,
    InvalidTransitionError,
    Playbook,
    PlaybookExecution,
    VariableValidationError,
    start_execution,
)
from agentical.db.models.user import User
from agentical.db.testing.factories import make_playbook, make_user, make_variable


def _users(session: Session) -> list[str]:
    return list(session.scalars(select(User.username).order_by(User.username)))


def test_after_a_unique_violation_the_session_rolls_back_and_works_again(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        make_user(session, username="alice", email="alice@example.com")
        session.commit()
        session.add(User(username="alice", email="other@example.com", hashed_password="x"))
        with pytest.raises(IntegrityError):
            session.commit()
        with pytest.raises(PendingRollbackError):
            session.execute(select(User.id))
        session.rollback()
        make_user(session, username="bob", email="bob@example.com")
        session.commit()
        assert _users(session) == ["alice", "bob"]


def test_a_duplicate_idempotency_key_made_by_hand_is_refused_and_the_first_kept(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=1)
        first = PlaybookExecution(playbook=playbook, idempotency_key="k")
        session.add(first)
        session.commit()
        session.add(PlaybookExecution(playbook=playbook, idempotency_key="k"))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
        keys = session.scalars(
            select(PlaybookExecution.id).where(PlaybookExecution.playbook_id == playbook.id)
        ).all()
        assert keys == [first.id]


def test_after_a_check_violation_the_session_recovers(
    sessions: sessionmaker[Session], database: str
) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=1)
        execution = PlaybookExecution(playbook=playbook)
        session.add(execution)
        session.commit()
        execution.progress_percentage = 150.0  # bypassing update_progress: only the CHECK
        # MariaDB reports a CHECK violation as OperationalError, the others as IntegrityError.
        expected = DBAPIError if database == "mariadb" else IntegrityError
        with pytest.raises(expected, match="progress"):
            session.commit()
        session.rollback()
        assert execution.progress_percentage == 0.0
        execution.update_progress(40, "fine")
        session.commit()
    with sessions() as check:
        stored = check.get(PlaybookExecution, execution.id)
        assert stored is not None
        assert (stored.progress_percentage, stored.status_message) == (40.0, "fine")


def test_a_failed_flush_of_several_rows_stores_none_of_them(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        make_user(session, username="carol", email="carol@example.com")
        session.commit()
        session.add_all(
            [
                User(username="dave", email="dave@example.com", hashed_password="x"),
                User(username="carol", email="again@example.com", hashed_password="x"),
            ]
        )
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        assert _users(session) == ["carol"]


def test_validation_errors_change_nothing_and_need_no_rollback(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        variable = make_variable("severity")
        playbook = make_playbook(session, steps=1, variables=[variable])
        execution = PlaybookExecution(playbook=playbook)
        session.add(execution)
        session.commit()
        variable.set_value("high")
        with pytest.raises(VariableValidationError):
            variable.set_value("catastrophic")
        with pytest.raises(ValueError, match="name"):
            playbook.name = "   "
        with pytest.raises(InvalidTransitionError):
            execution.complete_execution()
        playbook.description = "still usable"
        session.commit()
    with sessions() as check:
        stored = check.get(Playbook, playbook.id)
        assert stored is not None
        assert (stored.name, stored.description) == (playbook.name, "still usable")
        assert stored.variables[0].current_value == "high"
        assert check.get(PlaybookExecution, execution.id).status is ExecutionStatus.PENDING  # type: ignore[union-attr]


def test_after_a_refused_start_the_session_rolls_back_and_works_again(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=1, max_concurrent_executions=1)
        first, second = PlaybookExecution(playbook=playbook), PlaybookExecution(playbook=playbook)
        session.add_all([first, second])
        session.commit()
        start_execution(session, first)
        session.commit()
        with pytest.raises(ConcurrencyLimitError):
            start_execution(session, second)
        session.rollback()
        first.complete_execution(overall_success=True)
        session.commit()
        start_execution(session, second)
        session.commit()
        statuses = session.scalars(
            select(PlaybookExecution.status).order_by(PlaybookExecution.id)
        ).all()
        assert statuses[-2:] == [ExecutionStatus.COMPLETED, ExecutionStatus.RUNNING]


def test_after_a_stale_data_error_the_loser_reloads_and_retries(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        playbook_id = make_playbook(session, steps=1).id
        session.commit()
    with sessions() as winner, sessions() as loser:
        mine, theirs = winner.get(Playbook, playbook_id), loser.get(Playbook, playbook_id)
        assert mine is not None
        assert theirs is not None
        mine.add_tag("winner")
        winner.commit()
        theirs.add_tag("loser")
        with pytest.raises(StaleDataError):
            loser.commit()
        loser.rollback()
        assert theirs.get_tags() == ["winner"]  # reloaded: the committed state
        theirs.add_tag("loser")
        loser.commit()
    with sessions() as check:
        stored = check.get(Playbook, playbook_id)
        assert stored is not None
        assert stored.get_tags() == ["winner", "loser"]
        count = check.scalar(select(func.count()).select_from(Playbook))
        assert count == 1
