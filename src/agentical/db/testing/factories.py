"""Factories for test data: plain functions that build, add and flush realistic rows."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from agentical.db.enums import PlaybookCategory, StepType, VariableType
from agentical.db.models.playbook import (
    Playbook,
    PlaybookExecution,
    PlaybookStep,
    PlaybookTemplate,
    PlaybookVariable,
)
from agentical.db.models.user import User

_sequence = itertools.count(1)


def make_user(session: Session, **fields: Any) -> User:
    number = next(_sequence)
    values: dict[str, Any] = {
        "username": f"user{number}",
        "email": f"user{number}@example.com",
        "hashed_password": "not-a-real-hash",
    }
    user = User(**(values | fields))
    session.add(user)
    session.flush()
    return user


def make_playbook(
    session: Session,
    *,
    steps: int | Sequence[str] = 3,
    chain: bool = True,
    variables: Sequence[PlaybookVariable] = (),
    step_type: StepType = StepType.AUTOMATED,
    **fields: Any,
) -> Playbook:
    """A playbook with ``steps`` steps (a count or their names) of ``step_type`` (workers
    claim automated steps), each depending on the previous one when ``chain`` is true."""
    values: dict[str, Any] = {
        "name": f"Playbook {next(_sequence)}",
        "category": PlaybookCategory.INCIDENT_RESPONSE,
    }
    playbook = Playbook(**(values | fields))
    names = [f"step_{i}" for i in range(1, steps + 1)] if isinstance(steps, int) else steps
    playbook.steps = [
        PlaybookStep(step_name=name, step_order=order, step_type=step_type)
        for order, name in enumerate(names, start=1)
    ]
    playbook.variables = list(variables)
    session.add(playbook)
    session.flush()
    if chain:
        for previous, step in itertools.pairwise(playbook.steps):
            step.add_dependency(previous)
        session.flush()
    return playbook


def make_variable(name: str = "severity", **fields: Any) -> PlaybookVariable:
    values: dict[str, Any] = {
        "variable_name": name,
        "variable_type": VariableType.SELECT,
        "enum_values": ["low", "medium", "high"],
        "default_value": "medium",
    }
    return PlaybookVariable(**(values | fields))


def make_execution(session: Session, playbook: Playbook, **fields: Any) -> PlaybookExecution:
    execution = PlaybookExecution(playbook=playbook, **fields)
    session.add(execution)
    session.flush()
    return execution


def make_template(session: Session, **fields: Any) -> PlaybookTemplate:
    values: dict[str, Any] = {
        "name": f"Template {next(_sequence)}",
        "category": PlaybookCategory.DEPLOYMENT,
        "version": "1.0.0",
        "created_by": "admin",
        "template_data": {
            "description": "Roll out a service",
            "tags": ["deploy"],
            "steps": [
                {"name": "prepare", "order": 1},
                {"name": "deploy", "order": 2, "type": "automated", "depends_on": ["prepare"]},
                {"name": "verify", "order": 3, "depends_on": ["deploy"]},
            ],
            "variables": [
                {
                    "name": "environment",
                    "type": "select",
                    "options": ["staging", "production"],
                    "default": "staging",
                },
            ],
        },
    }
    template = PlaybookTemplate(**(values | fields))
    session.add(template)
    session.flush()
    return template


class Factories:
    """The factories above bound to one session (the ``agentical_factories`` fixture)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def user(self, **fields: Any) -> User:
        return make_user(self.session, **fields)

    def playbook(
        self,
        *,
        steps: int | Sequence[str] = 3,
        chain: bool = True,
        variables: Sequence[PlaybookVariable] = (),
        **fields: Any,
    ) -> Playbook:
        return make_playbook(self.session, steps=steps, chain=chain, variables=variables, **fields)

    def variable(self, name: str = "severity", **fields: Any) -> PlaybookVariable:
        """An unsaved variable, to pass to ``playbook(variables=[...])``."""
        return make_variable(name, **fields)

    def execution(self, playbook: Playbook | None = None, **fields: Any) -> PlaybookExecution:
        return make_execution(self.session, playbook or self.playbook(), **fields)

    def template(self, **fields: Any) -> PlaybookTemplate:
        return make_template(self.session, **fields)
