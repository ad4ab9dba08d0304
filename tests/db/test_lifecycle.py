"""The transition tables and the one function that applies them."""

from __future__ import annotations

from enum import StrEnum

import pytest

from agentical.db.enums import ExecutionStatus, PlaybookStatus, StepStatus
from agentical.db.errors import InvalidTransitionError
from agentical.db.lifecycle import (
    EXECUTION_RESUME_FROM,
    EXECUTION_START_FROM,
    EXECUTION_TRANSITIONS,
    PLAYBOOK_TRANSITIONS,
    STEP_EXECUTION_TRANSITIONS,
    Transitions,
    check_transition,
)

TABLES: list[tuple[str, Transitions[StrEnum], type[StrEnum]]] = [
    ("playbook", PLAYBOOK_TRANSITIONS, PlaybookStatus),  # type: ignore[list-item]
    ("execution", EXECUTION_TRANSITIONS, ExecutionStatus),  # type: ignore[list-item]
    ("step_execution", STEP_EXECUTION_TRANSITIONS, StepStatus),  # type: ignore[list-item]
]


def _pairs(allowed: bool) -> list[tuple[Transitions[StrEnum], StrEnum, StrEnum]]:
    return [
        (table, current, target)
        for _, table, enum in TABLES
        for current in enum
        for target in enum
        if (target in table.get(current, frozenset())) is allowed
    ]


@pytest.mark.parametrize(("name", "table", "enum"), TABLES, ids=[t[0] for t in TABLES])
def test_every_state_has_an_entry(
    name: str, table: Transitions[StrEnum], enum: type[StrEnum]
) -> None:
    assert set(table) == set(enum)


def test_execution_table_is_exactly_the_contract() -> None:
    expected = {
        ("pending", "running"),
        ("running", "paused"),
        ("paused", "running"),
        ("running", "completed"),
        ("running", "failed"),
        ("pending", "cancelled"),
        ("running", "cancelled"),
        ("paused", "cancelled"),
    }
    actual = {(str(a), str(b)) for a, targets in EXECUTION_TRANSITIONS.items() for b in targets}
    assert actual == expected


def test_step_execution_table_is_exactly_the_contract() -> None:
    expected = {
        ("pending", "running"),
        ("running", "completed"),
        ("running", "failed"),
        ("pending", "skipped"),
    }
    actual = {
        (str(a), str(b)) for a, targets in STEP_EXECUTION_TRANSITIONS.items() for b in targets
    }
    assert actual == expected


def test_playbook_table_allows_publish_from_draft_and_archive_from_the_contract_states() -> None:
    assert PlaybookStatus.PUBLISHED in PLAYBOOK_TRANSITIONS[PlaybookStatus.DRAFT]
    for state in (PlaybookStatus.DRAFT, PlaybookStatus.PUBLISHED, PlaybookStatus.DEPRECATED):
        assert PlaybookStatus.ARCHIVED in PLAYBOOK_TRANSITIONS[state]
    assert PLAYBOOK_TRANSITIONS[PlaybookStatus.ARCHIVED] == frozenset()


@pytest.mark.parametrize(("table", "current", "target"), _pairs(allowed=True))
def test_allowed_transition_passes(
    table: Transitions[StrEnum], current: StrEnum, target: StrEnum
) -> None:
    check_transition("thing", table, current, target)


@pytest.mark.parametrize(("table", "current", "target"), _pairs(allowed=False))
def test_other_transition_raises_naming_subject_states_and_what_is_allowed(
    table: Transitions[StrEnum], current: StrEnum, target: StrEnum
) -> None:
    with pytest.raises(InvalidTransitionError) as raised:
        check_transition("Thing 7", table, current, target)
    error = raised.value
    assert isinstance(error, ValueError)
    message = str(error)
    assert "Thing 7" in message
    assert f"'{current}'" in message
    assert f"'{target}'" in message
    allowed = sorted(str(state) for state in table[current])
    assert error.allowed == allowed
    assert (", ".join(allowed) if allowed else "final state") in message


@pytest.mark.parametrize(
    ("sources", "current", "passes"),
    [
        (EXECUTION_START_FROM, ExecutionStatus.PENDING, True),
        (EXECUTION_START_FROM, ExecutionStatus.PAUSED, False),
        (EXECUTION_RESUME_FROM, ExecutionStatus.PAUSED, True),
        (EXECUTION_RESUME_FROM, ExecutionStatus.PENDING, False),
    ],
)
def test_sources_narrow_an_action_that_shares_its_target_with_another(
    sources: frozenset[ExecutionStatus], current: ExecutionStatus, passes: bool
) -> None:
    def check() -> None:
        check_transition("run", EXECUTION_TRANSITIONS, current, ExecutionStatus.RUNNING, sources)

    if passes:
        check()
        return
    with pytest.raises(InvalidTransitionError) as raised:
        check()
    assert "running" not in raised.value.allowed
