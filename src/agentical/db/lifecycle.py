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


def check_transition(subject: str, table: Transitions[S], current: S, target: S) -> None:
    """Raise ``InvalidTransitionError`` unless ``current -> target`` is in ``table``."""
    allowed = table.get(current, frozenset())
    if target not in allowed:
        raise InvalidTransitionError(
            subject, str(current), str(target), sorted(str(state) for state in allowed)
        )
