"""Allowed state transitions, kept as data, and the one function that applies them."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from agentical.db.enums import ExecutionStatus, PlaybookStatus, StepStatus
from agentical.db.errors import InvalidTransitionError

S = TypeVar("S", bound=StrEnum)

Transitions = Mapping[S, frozenset[S]]

PLAYBOOK_TRANSITIONS: Transitions[PlaybookStatus] = {
    PlaybookStatus.DRAFT: frozenset({PlaybookStatus.PUBLISHED, PlaybookStatus.ARCHIVED}),
    PlaybookStatus.PUBLISHED: frozenset({PlaybookStatus.ARCHIVED, PlaybookStatus.DEPRECATED}),
    PlaybookStatus.DEPRECATED: frozenset({PlaybookStatus.ARCHIVED}),
    PlaybookStatus.ARCHIVED: frozenset(),
}

EXECUTION_TRANSITIONS: Transitions[ExecutionStatus] = {
    ExecutionStatus.PENDING: frozenset({ExecutionStatus.RUNNING, ExecutionStatus.CANCELLED}),
    ExecutionStatus.RUNNING: frozenset(
        {
            ExecutionStatus.PAUSED,
            ExecutionStatus.COMPLETED,
            ExecutionStatus.FAILED,
            ExecutionStatus.CANCELLED,
        }
    ),
    ExecutionStatus.PAUSED: frozenset({ExecutionStatus.RUNNING, ExecutionStatus.CANCELLED}),
    ExecutionStatus.COMPLETED: frozenset(),
    ExecutionStatus.FAILED: frozenset(),
    ExecutionStatus.CANCELLED: frozenset(),
}

STEP_EXECUTION_TRANSITIONS: Transitions[StepStatus] = {
    StepStatus.PENDING: frozenset({StepStatus.RUNNING, StepStatus.SKIPPED}),
    StepStatus.RUNNING: frozenset({StepStatus.COMPLETED, StepStatus.FAILED}),
    StepStatus.COMPLETED: frozenset(),
    StepStatus.FAILED: frozenset(),
    StepStatus.SKIPPED: frozenset(),
    StepStatus.ACTIVE: frozenset(),
}


# Two actions lead an execution to running: start only from pending, resume only from paused.
EXECUTION_START_FROM = frozenset({ExecutionStatus.PENDING})
EXECUTION_RESUME_FROM = frozenset({ExecutionStatus.PAUSED})


def check_transition(
    subject: str,
    table: Transitions[S],
    current: S,
    target: S,
    sources: frozenset[S] | None = None,
) -> None:
    """Raise ``InvalidTransitionError`` unless ``current -> target`` is in ``table``.

    ``sources`` narrows the states the calling action may start from, for actions that
    share a target state (``start`` and ``resume``).
    """
    allowed = table.get(current, frozenset())
    if sources is not None and current not in sources:
        allowed = allowed - {target}
    if target not in allowed:
        raise InvalidTransitionError(
            subject, str(current), str(target), sorted(str(state) for state in allowed)
        )
