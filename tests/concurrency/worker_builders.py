"""Running executions of small DAGs of worker steps, for the worker's tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from agentical.db.models.playbook import (
    Playbook,
    PlaybookExecution,
    PlaybookVariable,
    StepType,
    VariableType,
    start_execution,
)
from agentical.db.testing.factories import make_playbook


@dataclass(frozen=True)
class Step:
    name: str
    after: Sequence[str] = ()
    step_type: StepType = StepType.AUTOMATED
    parameters: Mapping[str, Any] = field(default_factory=dict)
    retry_attempts: int = 0
    retry_delay_seconds: int = 0
    optional: bool = False
    timeout_minutes: int | None = None


def dag_playbook_id(
    session: Session, steps: Sequence[Step], *, variables: Sequence[str] = ()
) -> int:
    """A playbook of ``steps`` (string variables ``variables``), any number of runs at once."""
    playbook = make_playbook(
        session,
        steps=[step.name for step in steps],
        chain=False,
        max_concurrent_executions=1000,
        variables=[
            PlaybookVariable(variable_name=name, variable_type=VariableType.STRING)
            for name in variables
        ],
    )
    by_name = {step.step_name: step for step in playbook.steps}
    for spec in steps:
        step = by_name[spec.name]
        step.step_type = spec.step_type
        step.parameters = dict(spec.parameters)
        step.retry_attempts = spec.retry_attempts
        step.retry_delay_seconds = spec.retry_delay_seconds
        step.is_optional = spec.optional
        step.timeout_minutes = spec.timeout_minutes
        for dependency in spec.after:
            step.add_dependency(by_name[dependency])
    session.flush()
    return playbook.id


def started_execution(
    session: Session, playbook_id: int, inputs: Mapping[str, Any] | None = None
) -> PlaybookExecution:
    playbook = session.get(Playbook, playbook_id)
    assert playbook is not None
    execution = playbook.new_execution(dict(inputs or {}))
    start_execution(session, execution)
    return execution
