"""The worker's hot path: how many statements a claim and a finish send, and the
notification that wakes waiting workers when a commit makes a step ready."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from agentical.db import runs
from agentical.db.runs.wakeup import ReadyListener
from tests.concurrency.builders import claim_and_finish_statements, running_execution

# Claim (its transaction, committed), then finish (its own), by a worker's session (it
# holds no execution): PostgreSQL and SQLite return the claimed rows and the definition
# hash from the claim's UPDATE, write the current step, and settle the counts with
# UPDATE ... RETURNING; MariaDB (no UPDATE ... RETURNING) locks and reads the rows, then
# writes the claim and the current step in one multi-table UPDATE, and adds the counts on
# the condition that steps are left (no read-back unless it may end the run).
STATEMENTS = {"sqlite": (2, 2), "postgresql": (2, 2), "mariadb": (2, 2)}


def test_a_claim_and_a_finish_that_releases_nothing_send_the_pinned_statements(
    engine: Engine, database: str
) -> None:
    sessions = sessionmaker(bind=engine)  # expire_on_commit: no attribute reloads either
    with sessions() as session:
        running_execution(session, steps=3, chain=False)
        session.commit()
    with sessions() as session:
        claim, finish = claim_and_finish_statements(engine, session)
    assert (claim.count, finish.count) == STATEMENTS[database], (
        claim.statements,
        finish.statements,
    )


def test_a_commit_that_makes_a_step_ready_wakes_a_listener_and_others_do_not(
    engine: Engine, database: str
) -> None:
    sessions = sessionmaker(bind=engine)
    with (
        ReadyListener(engine, poll_first=0.01, poll_longest=0.04) as listener,
        sessions() as session,
    ):
        running_execution(session, steps=2, chain=True)
        session.commit()  # the start made the first step ready
        if not listener.listens:
            assert database != "postgresql"
            assert listener.wait(1.0) is False  # polls: a short sleep, then "look again"
            return
        assert listener.wait(5.0) is True
        (first,) = runs.claim_ready_steps(session, worker_id="w")
        session.commit()
        assert listener.wait(0.2) is False  # a claim makes nothing ready
        runs.complete_step(session, first)
        session.rollback()
        assert listener.wait(0.2) is False  # a rolled-back release is never announced
        runs.complete_step(session, first)
        session.commit()
        assert listener.wait(5.0) is True  # its dependant is ready
        (second,) = runs.claim_ready_steps(session, worker_id="w")
        runs.complete_step(session, second)
        session.commit()
        assert listener.wait(0.2) is False  # the last step released nothing
