"""Racing imports of one name, each in its own committed transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agentical.db.models.playbook import ImportConflictError, Playbook
from tests.concurrency.conftest import run_in_threads

RACERS = 10
TRANSACTION_RETRIES = 20
DEFINITION = {
    "name": "Primary database failover",
    "category": "incident_response",
    "steps": [{"name": "assess", "order": 1}],
}


def test_racing_imports_of_one_name_each_get_their_own_version(
    sessions: sessionmaker[Session],
) -> None:
    conflicts: list[ImportConflictError] = []

    def work(_index: int) -> int:
        # ImportConflictError is documented as retryable: a service retries its transaction.
        for _attempt in range(TRANSACTION_RETRIES):
            try:
                with sessions() as session:
                    playbook = Playbook.import_definition(session, DEFINITION)
                    session.commit()
                    return playbook.version
            except ImportConflictError as error:
                conflicts.append(error)
        raise AssertionError("no version after every retry")

    outcomes = run_in_threads(RACERS, work)
    assert sorted(outcomes) == list(range(1, RACERS + 1)), outcomes  # type: ignore[type-var]
    with sessions() as session:
        stored = session.scalars(
            select(Playbook.version).where(Playbook.name == DEFINITION["name"])
        ).all()
    assert sorted(stored) == list(range(1, RACERS + 1))
    assert len(conflicts) < RACERS * TRANSACTION_RETRIES


def test_an_import_inside_a_longer_transaction_keeps_that_transactions_work(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        Playbook.import_definition(session, DEFINITION)
        session.commit()
    with sessions() as first, sessions() as second:
        # Both read (and MariaDB snapshots) before either has taken version 2.
        assert first.scalar(select(Playbook.version)) == 1
        assert second.scalar(select(Playbook.version)) == 1
        taken = Playbook.import_definition(first, DEFINITION)
        first.commit()
        again = Playbook.import_definition(second, DEFINITION)
        second.commit()
    assert (taken.version, again.version) == (2, 3)
