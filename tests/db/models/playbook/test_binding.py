"""The connection the library runs its own statements on."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import PlaybookExecution, PlaybookStep
from agentical.db.models.playbook.binding import connection_for


def test_a_transaction_keeps_one_connection_and_the_next_one_gets_the_sessions_new_one(
    agentical_engine: Engine,
) -> None:
    with Session(agentical_engine) as session:
        first = connection_for(session, PlaybookExecution)
        assert connection_for(session, PlaybookExecution) is first
        assert connection_for(session, PlaybookStep) is first  # one engine: one connection
        assert first is session.connection()
        session.commit()

        after_commit = connection_for(session, PlaybookExecution)
        assert after_commit is not first
        assert first.closed
        assert after_commit is session.connection()
        session.rollback()

        after_rollback = connection_for(session, PlaybookExecution)
        assert after_rollback is not after_commit
        assert not after_rollback.closed
        assert after_rollback.scalar(select(1)) == 1


def test_a_session_bound_per_model_gets_each_models_engine(agentical_engine: Engine) -> None:
    other = agentical_engine.execution_options(logging_token="other")
    with Session(binds={PlaybookExecution: agentical_engine, PlaybookStep: other}) as session:
        executions = connection_for(session, PlaybookExecution)
        steps = connection_for(session, PlaybookStep)
        assert executions.engine is agentical_engine
        assert steps.engine is other
        assert connection_for(session, PlaybookStep) is steps
