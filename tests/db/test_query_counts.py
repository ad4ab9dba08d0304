"""Loading playbooks with everything ``to_dict`` shows costs a fixed number of queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import Playbook
from agentical.db.testing.queries import count_queries
from tests.perf.seed import insert_playbooks

# Small playbooks: the count of queries depends on the number of playbooks, not their size.
STEPS = 2
VARIABLES = 2


def serialise(playbook: Playbook) -> dict[str, Any]:
    return {
        **playbook.to_dict(),
        "steps": [step.to_dict() for step in playbook.steps],
        "variables": [variable.to_dict() for variable in playbook.variables],
    }


@pytest.mark.parametrize("count", [10, 100, 1000])
def test_select_full_loads_any_number_of_playbooks_in_three_queries(
    session: Session, fresh_session: Callable[[], Session], count: int
) -> None:
    insert_playbooks(session.connection(), count, steps=STEPS, variables=VARIABLES)
    reader = fresh_session()

    with count_queries(reader.connection()) as log:
        playbooks = reader.scalars(Playbook.select_full().order_by(Playbook.id)).all()
        documents = [serialise(playbook) for playbook in playbooks]

    assert log.count == 3, log.statements  # playbooks, steps with dependency ids, variables
    assert len(documents) == count
    first = documents[0]
    assert [step["step_order"] for step in first["steps"]] == list(range(1, STEPS + 1))
    step_ids = [step["id"] for step in first["steps"]]
    assert [step["depends_on_step_ids"] for step in first["steps"]] == [
        [],
        *([previous] for previous in step_ids[:-1]),
    ]
    assert first["step_count"] == STEPS
    assert [variable["variable_name"] for variable in first["variables"]] == ["var_0", "var_1"]
    assert first["variables"][-1]["default_value"] == "********"


def test_select_full_keeps_filters_limits_and_order(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    ids = insert_playbooks(session.connection(), 30, steps=3, variables=1)
    reader = fresh_session()

    with count_queries(reader.connection()) as log:
        statement = (
            Playbook.select_full().where(Playbook.id > ids[9]).order_by(Playbook.id).limit(5)
        )
        playbooks = reader.scalars(statement).all()
        documents = [serialise(playbook) for playbook in playbooks]

    assert log.count == 3, log.statements
    assert [document["id"] for document in documents] == ids[10:15]
    assert all(len(document["steps"]) == 3 for document in documents)


def test_select_full_finds_dependencies_ordered_after_their_dependant_and_loads_them_whole(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    """The steps query meets ``deploy``'s dependencies (``check``, ``backup``) before their
    own rows: they are found there by id and still loaded whole, in the same three queries."""
    definition = {
        "name": "Release with late checks",
        "category": "deployment",
        "steps": [
            {"name": "deploy", "depends_on": ["check", "backup"]},
            {"name": "notify", "depends_on": ["verify"]},
            {"name": "check", "configuration": {"probe": "http"}},
            {"name": "verify", "depends_on": ["deploy", "check", "backup"]},
            {"name": "backup", "success_indicators": ["snapshot taken"]},
        ],
    }
    Playbook.import_definition(session, definition)
    session.flush()
    reader = fresh_session()

    with count_queries(reader.connection()) as log:
        (playbook,) = reader.scalars(Playbook.select_full()).all()
        steps = [step.to_dict() for step in playbook.steps]

    assert log.count == 3, log.statements
    names = {step["id"]: step["step_name"] for step in steps}
    assert {
        step["step_name"]: [names[i] for i in step["depends_on_step_ids"]] for step in steps
    } == {
        "deploy": ["check", "backup"],
        "notify": ["verify"],
        "check": [],
        "verify": ["deploy", "check", "backup"],
        "backup": [],
    }
    by_name = {step["step_name"]: step for step in steps}
    assert by_name["check"]["configuration"] == {"probe": "http"}
    assert by_name["backup"]["success_indicators"] == ["snapshot taken"]


def test_default_selectin_loading_grows_with_the_number_of_playbooks(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    """Why ``select_full`` exists: the default ``selectin`` loaders send one query per 500
    parents, so a plain ``select(Playbook)`` of 501 playbooks already costs more than three."""
    insert_playbooks(session.connection(), 501, steps=1, variables=1)
    reader = fresh_session()

    with count_queries(reader.connection()) as log:
        playbooks = reader.scalars(select(Playbook)).all()

    assert len(playbooks) == 501
    assert log.count > 3
