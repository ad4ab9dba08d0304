"""A run's end adds each of its counted step runs to its step's metrics, once."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from agentical.db.models.playbook import Playbook, PlaybookStep, PlaybookStepExecution
from agentical.db.runs import step_metrics
from tests.db.runs.builders import by_name, drain, started_run, step

PRIOR_RUNS, PRIOR_MEAN = 3, 10.0


def test_every_step_gets_its_own_time_and_outcome_whatever_the_batching(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five steps with their own times, two failed, in batches of two (MariaDB writes the
    metrics from the values read, a batch per UPDATE; the others in one UPDATE)."""
    monkeypatch.setattr(step_metrics, "_STEPS_PER_STATEMENT", 2)
    names = ["a", "b", "c", "d", "e"]
    execution = started_run(session, [step(name, retry_attempts=0) for name in names])
    drain(session, failing={"b", "d"})
    session.expire_all()
    # Distinct times, and the steps' metrics as if before the run: then count it again.
    seconds = {name: 2.0 * (index + 1) for index, name in enumerate(names)}
    for name, run in by_name(execution).items():
        session.execute(
            update(PlaybookStepExecution)
            .where(PlaybookStepExecution.id == run.id)
            .values(execution_time_seconds=seconds[name])
        )
        session.execute(
            update(PlaybookStep)
            .where(PlaybookStep.id == run.playbook_step_id)
            .values(
                total_executions=PRIOR_RUNS,
                successful_executions=PRIOR_RUNS,
                failed_executions=0,
                average_execution_time=PRIOR_MEAN,
            )
        )

    step_metrics.add_step_metrics(session, execution.id)

    playbook = session.get_one(Playbook, execution.playbook_id)
    for each in playbook.steps:
        failed = each.step_name in {"b", "d"}
        assert (each.total_executions, each.successful_executions, each.failed_executions) == (
            PRIOR_RUNS + 1,
            PRIOR_RUNS + (not failed),
            int(failed),
        ), each.step_name
        expected = (PRIOR_MEAN * PRIOR_RUNS + seconds[each.step_name]) / (PRIOR_RUNS + 1)
        assert each.average_execution_time == pytest.approx(expected), each.step_name
        assert each.last_execution_at is not None
