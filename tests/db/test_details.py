"""Detail views: a playbook with its steps and variables, an execution with its step runs,
each loaded in a fixed number of queries and serialised without one, secrets masked."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from agentical.db.details import (
    execution_detail,
    playbook_detail,
    select_execution_detail,
    select_playbook_detail,
)
from agentical.db.models.playbook import SECRET_MASK, Playbook, PlaybookExecution
from agentical.db.testing.queries import count_queries
from tests.perf.seed import insert_playbooks

SECRET = "s3cret-token-value"
DEFINITION = {
    "name": "Primary database failover",
    "category": "disaster_recovery",
    "steps": [
        {"name": "assess"},
        {"name": "promote", "depends_on": ["assess"]},
        {"name": "verify", "depends_on": ["promote"]},
    ],
    "variables": [
        {"name": "cluster", "default": "db-1"},
        {"name": "token", "sensitive": True, "required": True},
    ],
}


@pytest.mark.parametrize("count", [1, 30])
def test_playbook_details_of_any_number_of_playbooks_take_three_queries(
    session: Session, fresh_session: Callable[[], Session], count: int
) -> None:
    insert_playbooks(session.connection(), count, steps=3, variables=2)
    reader = fresh_session()

    with count_queries(reader.connection()) as log:
        playbooks = reader.scalars(select_playbook_detail().order_by(Playbook.id)).all()
        documents = [playbook_detail(playbook) for playbook in playbooks]

    assert log.count == 3, log.statements
    assert len(documents) == count
    first = documents[0]
    assert [step["step_order"] for step in first["steps"]] == [1, 2, 3]
    assert first["steps"][1]["depends_on_step_ids"] == [first["steps"][0]["id"]]
    assert [variable["variable_name"] for variable in first["variables"]] == ["var_0", "var_1"]
    assert first["variables"][-1]["default_value"] == SECRET_MASK
    assert first["step_count"] == 3
    json.dumps(documents)


@pytest.mark.parametrize("count", [1, 12])
def test_execution_details_of_any_number_of_executions_take_four_queries(
    session: Session, fresh_session: Callable[[], Session], count: int
) -> None:
    playbook = Playbook.import_definition(session, DEFINITION)
    for _ in range(count):
        playbook.new_execution({"token": SECRET})
    session.flush()
    reader = fresh_session()

    with count_queries(reader.connection()) as log:
        executions = reader.scalars(select_execution_detail().order_by(PlaybookExecution.id)).all()
        documents = [execution_detail(execution) for execution in executions]

    # Executions with playbooks, step runs, variables, and the one snapshot they share.
    assert log.count == 4, log.statements
    assert len(documents) == count
    first = documents[0]
    assert [run["step_name"] for run in first["step_executions"]] == ["assess", "promote", "verify"]
    assert first["input_variables"] == {"cluster": "db-1", "token": SECRET_MASK}
    assert SECRET not in json.dumps(documents)
