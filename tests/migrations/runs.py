"""Runs stored before a migration: what an upgrade must keep and carry on."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import PlaybookStepExecution
from agentical.db.models.playbook.creation import create_execution
from agentical.db.runs import claim_ready_steps, complete_step, start_execution
from agentical.db.testing.factories import make_playbook

# The revision before the run engine's (0004), which rebuilds both run tables on SQLite.
BEFORE_THE_RUN_ENGINE = "0003"


def run_steps(session: Session, count: int) -> list[str]:
    """Claim and complete ``count`` ready steps, one at a time; their names."""
    names = []
    for _ in range(count):
        (step_run,) = claim_ready_steps(session, worker_id="w")
        complete_step(session, step_run)
        session.commit()
        names.append(step_run.step_name)
    return names


def add_runs(engine: Engine) -> None:
    """A playbook of 3 chained steps, one run of it finished and one whose first step is
    done (6 step runs)."""
    with Session(engine) as session:
        playbook = make_playbook(session, steps=3)
        session.commit()
        for steps_done in (3, 1):
            start_execution(session, create_execution(session, playbook, {}), started_by="s")
            session.commit()
            run_steps(session, steps_done)


def step_run_count(connection: Connection) -> int:
    return connection.execute(select(func.count()).select_from(PlaybookStepExecution)).scalar_one()
