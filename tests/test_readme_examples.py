"""The README's examples run as written, and its list of errors says where they are."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import agentical.db.models.playbook as public
from agentical.db import migrate
from agentical.db.models.playbook import (
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    PlaybookTemplate,
    StepStatus,
)
from agentical.db.session import create_engine, session_factory
from tests.readme import README, python_block, run_block

DEFINITION = {
    "name": "Release",
    "category": "deployment",
    "variables": [{"name": "service", "type": "string", "required": True}],
    "steps": [
        {"name": "build", "type": "script", "parameters": {"target": "{{ service }}"}},
        {"name": "deploy", "type": "script", "depends_on": ["build"]},
    ],
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'readme.db'}")
    with engine.begin() as connection:
        migrate.upgrade(connection)
    yield engine
    engine.dispose()


def test_the_hand_written_worker_loop_runs_the_claimed_steps(engine: Engine) -> None:
    """Its steps render their parameters and complete; the run goes on."""
    with Session(engine) as session:
        playbook = Playbook.import_definition(session, DEFINITION)
        playbook.publish()
        session.commit()
        playbook_id = playbook.id
    handled: list[dict[str, Any]] = []

    def handle(parameters: dict[str, Any]) -> dict[str, Any]:
        handled.append(parameters)
        return {"built": True}

    namespace: dict[str, object] = {
        "Session": session_factory(engine),
        "playbook_id": playbook_id,
        "request_id": "request-1",
        "handle": handle,
    }
    run_block(python_block("## Running playbooks"), namespace)

    assert handled == [{"target": "api"}]
    with Session(engine) as session:
        execution = session.scalars(select(PlaybookExecution)).one()
        states = {run.step_name: run.status for run in execution.step_executions}
        assert execution.status is ExecutionStatus.RUNNING
        assert states == {"build": StepStatus.COMPLETED, "deploy": StepStatus.PENDING}
        assert [run.step_name for run in execution.ready_steps()] == ["deploy"]


def test_the_definition_example_stores_the_playbook_its_template_and_the_copy(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(README.parent)  # the example names examples/ by a relative path
    with Session(engine) as session:
        namespace: dict[str, object] = {
            "session": session,
            "request_body_text": json.dumps(DEFINITION),
        }
        run_block(python_block("## Playbook definitions"), namespace)
        session.commit()
    with Session(engine) as session:
        names = session.scalars(select(Playbook.name).order_by(Playbook.id)).all()
        assert names == ["Release", "Failover (eu-west)"]
        template = session.scalars(select(PlaybookTemplate)).one()
        assert (template.name, template.version) == ("failover", "1.0.0")
        assert template.usage_count == 1
        assert session.scalar(select(func.count()).select_from(PlaybookExecution)) == 0


def documented_errors() -> dict[str, list[str]]:
    """The README's Errors table: each family with the members it names."""
    section = README.read_text().split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)`[^|]*\| \d+ \| ([^\n]*) \|$", section, re.M)
    return {family: re.findall(r"`(\w+)`", members) for family, members in rows}


def test_every_error_the_readme_names_is_importable_where_it_says_and_in_its_family() -> None:
    errors = documented_errors()
    assert set(errors) == {
        "InvalidInputError",
        "ConflictError",
        "LimitReachedError",
        "NotFoundError",
    }
    for family, members in errors.items():
        for member in members:
            error = getattr(public, member, None)
            assert isinstance(error, type), f"{member} is not in agentical.db.models.playbook"
            assert issubclass(error, getattr(public, family)), (member, family)
