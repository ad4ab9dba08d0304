"""Runs to test the engine on: a definition imported, planned and started."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from agentical.db import runs
from agentical.db.models.playbook import (
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
    claim_ready_steps,
    create_execution,
)

_names = itertools.count(1)


def started_run(
    session: Session,
    steps: Sequence[Mapping[str, Any]],
    *,
    inputs: Mapping[str, Any] | None = None,
    **fields: Any,
) -> PlaybookExecution:
    """A started execution of a new playbook made of ``steps`` (committed)."""
    document: dict[str, Any] = {
        "name": f"Run {next(_names)}",
        "category": "testing",
        "max_concurrent_executions": 10,
        "steps": list(steps),
        **fields,
    }
    playbook = Playbook.import_definition(session, document)
    execution = create_execution(session, playbook, inputs)
    runs.start_execution(session, execution, started_by="starter")
    session.commit()
    return execution


def claim_leases(session: Session, limit: int) -> dict[str, runs.Lease]:
    """Claim up to ``limit`` ready steps as worker ``w`` and commit: their leases, by step
    name (a lease outlives the session, unlike the step run)."""
    claimed = claim_ready_steps(session, worker_id="w", limit=limit)
    session.commit()
    return {run.step_name: runs.lease_of(run) for run in claimed}


def by_name(execution: PlaybookExecution) -> dict[str, PlaybookStepExecution]:
    return {run.step_name: run for run in execution.step_executions}


def drain(
    session: Session,
    *,
    outputs: Mapping[str, Mapping[str, Any]] | None = None,
    failing: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[list[str]]:
    """Claim and finish ready steps until none is left; the names claimed, wave by wave."""
    waves: list[list[str]] = []
    while claimed := claim_ready_steps(session, worker_id="w", limit=100):
        session.commit()
        waves.append(sorted(run.step_name for run in claimed))
        for run in claimed:
            if run.step_name in failing:
                runs.fail_step(session, run, f"{run.step_name} failed")
            else:
                runs.complete_step(session, run, dict((outputs or {}).get(run.step_name, {})))
        session.commit()
    return waves


def step(name: str, *depends_on: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": "script", "depends_on": list(depends_on), **fields}
