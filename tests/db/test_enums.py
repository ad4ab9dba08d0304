"""The six enumerations: exact members, lower-case values, upper-case names."""

from __future__ import annotations

from enum import StrEnum

import pytest

from agentical.db.enums import (
    ExecutionStatus,
    PlaybookCategory,
    PlaybookStatus,
    StepStatus,
    StepType,
    VariableType,
)

CONTRACT: dict[type[StrEnum], list[str]] = {
    PlaybookCategory: [
        "incident_response",
        "troubleshooting",
        "deployment",
        "maintenance",
        "security",
        "code_review",
        "testing",
        "release",
        "onboarding",
        "monitoring",
        "backup",
        "disaster_recovery",
        "capacity_planning",
    ],
    PlaybookStatus: ["draft", "published", "archived", "deprecated"],
    ExecutionStatus: ["pending", "running", "completed", "failed", "cancelled", "paused"],
    StepType: [
        "manual",
        "automated",
        "conditional",
        "parallel",
        "sequential",
        "approval",
        "notification",
        "webhook",
        "script",
        "api_call",
        "database",
        "file_operation",
        "external_tool",
    ],
    StepStatus: ["pending", "running", "completed", "failed", "skipped", "active"],
    VariableType: [
        "string",
        "integer",
        "float",
        "boolean",
        "json",
        "select",
        "multi_select",
        "date",
        "datetime",
        "file",
    ],
}


@pytest.mark.parametrize("enum", list(CONTRACT), ids=[e.__name__ for e in CONTRACT])
def test_members_are_exactly_the_contract(enum: type[StrEnum]) -> None:
    assert [member.value for member in enum] == CONTRACT[enum]


@pytest.mark.parametrize("enum", list(CONTRACT), ids=[e.__name__ for e in CONTRACT])
def test_names_are_the_upper_case_values_and_members_equal_their_values(
    enum: type[StrEnum],
) -> None:
    for member in enum:
        assert member.name == member.value.upper()
        assert member == member.value
        assert str(member) == member.value
        assert enum(member.value) is member
