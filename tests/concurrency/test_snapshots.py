"""Definition snapshots under concurrency: sessions storing the same new definition share
one row, and retention never deletes a snapshot a run is being created with."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agentical.db.enums import ExecutionStatus
from agentical.db.history import purge_executions
from agentical.db.models.playbook import Playbook, PlaybookExecution, create_execution
from agentical.db.models.playbook.current_snapshot import current_snapshot
from agentical.db.models.playbook.snapshot import DefinitionSnapshot, stored_snapshot
from agentical.db.testing.factories import make_playbook
from agentical.db.types import utc_now
from tests.concurrency.conftest import run_in_threads

RACERS = 4


@pytest.fixture(autouse=True)
def servers_only(database: str) -> None:
    if database == "sqlite":
        pytest.skip("SQLite has one writer at a time: nothing races")


def snapshots_of(session: Session, digest: str) -> int:
    statement = select(func.count()).where(DefinitionSnapshot.content_hash == digest)
    return session.execute(statement).scalar_one()


def test_racing_first_runs_of_a_new_definition_all_succeed_and_share_one_snapshot(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=3)
        session.commit()
        playbook_id, digest = playbook.id, playbook.to_definition().content_hash()

    def work(index: int) -> int | None:
        with sessions() as session:
            loaded = session.get_one(Playbook, playbook_id)
            execution = create_execution(session, loaded) if index % 2 else loaded.new_execution()
            session.commit()
            return execution.snapshot_id

    outcomes = run_in_threads(RACERS, work)

    assert all(isinstance(outcome, int) for outcome in outcomes), outcomes
    assert len(set(outcomes)) == 1
    with sessions() as session:
        assert snapshots_of(session, digest) == 1
        stored = session.scalars(select(PlaybookExecution.definition_hash)).all()
        assert stored == [digest] * RACERS


def test_a_purge_keeps_the_snapshot_a_run_is_being_created_with(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=1)
        run = create_execution(session, playbook)
        session.commit()
        digest = run.definition_hash
        assert digest is not None
        session.delete(run)  # its snapshot is now an orphan, about to be swept
        session.commit()

    created = threading.Event()
    purged: list[int] = []

    def purge() -> None:
        created.wait(timeout=30)
        with sessions() as session:
            later = utc_now() + timedelta(days=1)
            purged.append(purge_executions(session, finished_before=later).snapshots)

    sweeper = threading.Thread(target=purge)
    sweeper.start()
    with sessions() as session:
        execution = create_execution(session, session.get_one(Playbook, playbook.id))
        created.set()
        sweeper.join(timeout=1)  # the sweep waits on this transaction's lock meanwhile
        session.commit()
    sweeper.join(timeout=60)

    assert not sweeper.is_alive()
    assert purged == [0]
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution.id)
        assert stored.snapshot is not None
        assert stored.snapshot.content_hash == digest
        assert snapshots_of(session, digest) == 1


def test_a_purge_waits_for_a_run_that_holds_its_snapshot_but_is_not_inserted_yet(
    sessions: sessionmaker[Session],
) -> None:
    """The sweep reaches the snapshot between the two halves of a run's flush: the snapshot
    found and locked, the run's row not yet written. It waits, then keeps the snapshot (on
    MariaDB it deadlocked with the run's INSERT when only the hash's index was locked)."""
    with sessions() as session:
        playbook = make_playbook(session, steps=1)
        old = utc_now() - timedelta(days=10)
        finished = PlaybookExecution(playbook=playbook, completed_at=old, created_at=old)
        finished.status = ExecutionStatus.COMPLETED
        session.add(finished)
        session.commit()
    outcome: list[object] = []

    def purge() -> None:
        with sessions() as session:
            try:
                later = utc_now() + timedelta(days=1)
                outcome.append(purge_executions(session, finished_before=later).snapshots)
            except Exception as error:
                outcome.append(error)

    with sessions() as session:
        loaded = session.get_one(Playbook, playbook.id)
        stored_snapshot(session, *current_snapshot(loaded))  # what a run's flush does first
        sweeper = threading.Thread(target=purge)
        sweeper.start()
        sweeper.join(timeout=1.5)  # the purge deletes the old run, then its sweep waits
        session.add(loaded.new_execution())
        session.commit()
    sweeper.join(timeout=60)

    assert outcome == [0]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DefinitionSnapshot)) == 1


@pytest.mark.parametrize("first_ends", ["commit", "rollback"])
def test_a_run_waiting_on_another_sessions_new_snapshot_takes_it_or_stores_its_own(
    sessions: sessionmaker[Session], first_ends: str
) -> None:
    """The first session has stored the new definition but not committed: the second one's
    INSERT waits for it, then shares its row, or writes its own if the first rolls back."""
    with sessions() as session:
        playbook = make_playbook(session, steps=2)
        session.commit()
        digest = playbook.to_definition().content_hash()
    second_run: list[int | None] = []

    def second() -> None:
        with sessions() as session:
            execution = create_execution(session, session.get_one(Playbook, playbook.id))
            session.commit()
            second_run.append(execution.snapshot_id)

    with sessions() as first:
        execution = create_execution(first, first.get_one(Playbook, playbook.id))
        waiting = threading.Thread(target=second)
        waiting.start()
        waiting.join(timeout=1)
        assert waiting.is_alive(), "the second INSERT waits for the first transaction"
        getattr(first, first_ends)()
        first_snapshot = execution.snapshot_id
    waiting.join(timeout=60)

    assert not waiting.is_alive()
    with sessions() as session:
        assert snapshots_of(session, digest) == 1
        stored = session.scalar(
            select(DefinitionSnapshot.id).where(DefinitionSnapshot.content_hash == digest)
        )
    assert second_run == [stored]
    assert (stored == first_snapshot) is (first_ends == "commit")
