"""Which values of an execution are secret: sensitive in the definition the run follows
(its snapshot) or in the live playbook now, for every reader and at rest."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from agentical.db.details import execution_detail, select_execution_detail
from agentical.db.encryption import SEALED, SECRET_KEY_VARIABLE
from agentical.db.history import iter_executions_jsonl
from agentical.db.models.playbook import (
    SECRET_MASK,
    Playbook,
    PlaybookExecution,
    rotate_secrets,
)
from tests.db.sensitive import sensitive_playbook

SECRET = "sentinel-secret-names-51c2"

# What the playbook's owner does after the run was created.
LATER_EDITS: dict[str, Callable[[Session, Playbook], None]] = {
    "un-marks the variable": lambda _session, playbook: setattr(
        playbook.variables[0], "is_sensitive", False
    ),
    "deletes the variable": lambda session, playbook: session.delete(playbook.variables[0]),
}


def run_then_edit(session: Session, edit: Callable[[Session, Playbook], None]) -> int:
    """The id of a run given the secret (and a plain region), made before ``edit``."""
    playbook = sensitive_playbook(session, SECRET)
    execution = playbook.new_execution({"api_key": SECRET, "region": "eu-west-1"})
    session.commit()
    edit(session, playbook)
    session.commit()
    return execution.id


def shown_inputs(session: Session, execution_id: int) -> dict[str, list[object]]:
    """The execution's inputs as each reader shows them, read afresh from the database."""
    session.expunge_all()
    alone = session.get_one(PlaybookExecution, execution_id)
    without_playbook = alone.to_dict()["input_variables"]
    with_playbook = (alone.playbook, alone.to_dict()["input_variables"])[1]
    session.expunge_all()
    detail = execution_detail(
        session.scalars(select_execution_detail().where(PlaybookExecution.id == execution_id)).one()
    )
    exported = [json.loads(line) for line in iter_executions_jsonl(session)]
    (line,) = (row for row in exported if row["id"] == execution_id)
    readers = {
        "to_dict": without_playbook,
        "to_dict, playbook loaded": with_playbook,
        "execution_detail": detail["input_variables"],
        "iter_executions_jsonl": line["input_variables"],
    }
    return {name: [inputs["api_key"], inputs["region"]] for name, inputs in readers.items()}


@pytest.mark.parametrize("edit", LATER_EDITS)
def test_a_secret_input_stays_masked_after_the_playbook_stops_calling_it_secret(
    session: Session, edit: str
) -> None:
    execution_id = run_then_edit(session, LATER_EDITS[edit])
    for reader, values in shown_inputs(session, execution_id).items():
        assert values == [SECRET_MASK, "eu-west-1"], reader


def test_a_variable_marked_sensitive_after_a_run_is_masked_where_the_playbook_is_read(
    session: Session,
) -> None:
    execution_id = run_then_edit(
        session, lambda _session, playbook: setattr(playbook.variables[1], "is_sensitive", True)
    )
    shown = shown_inputs(session, execution_id)
    del shown["to_dict"]  # without the playbook loaded: the snapshot alone, no query
    for reader, values in shown.items():
        assert values == [SECRET_MASK, SECRET_MASK], reader


def stored_inputs(session: Session, execution_id: int) -> str:
    value = session.execute(
        text("SELECT input_variables FROM playbook_executions WHERE id = :id"),
        {"id": execution_id},
    ).scalar_one()
    return value if isinstance(value, str) else json.dumps(value)


@pytest.mark.parametrize("edit", LATER_EDITS)
def test_a_secret_input_stays_sealed_at_rest_after_the_playbook_stops_calling_it_secret(
    session: Session, monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    execution_id = run_then_edit(session, LATER_EDITS[edit])
    monkeypatch.setenv(SECRET_KEY_VARIABLE, Fernet.generate_key().decode())
    rotate_secrets(session)  # seals what was stored before the key
    session.commit()
    assert SECRET not in stored_inputs(session, execution_id)
    session.get_one(PlaybookExecution, execution_id).set_variable("api_key", SECRET + "-updated")
    session.commit()
    stored = stored_inputs(session, execution_id)
    assert SECRET not in stored
    assert SEALED in stored
    assert "eu-west-1" in stored  # only the secret is sealed
    session.expunge_all()
    reloaded = session.scalars(
        select(PlaybookExecution).where(PlaybookExecution.id == execution_id)
    ).one()
    assert reloaded.input_variables["api_key"] == SECRET + "-updated"
