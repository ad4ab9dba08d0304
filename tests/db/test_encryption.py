"""Sensitive values at rest: plaintext without a key, Fernet tokens with
``AGENTICAL_SECRET_KEY`` (rotation included); the library reads them back transparently.
On every database."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.orm import Session

from agentical.db.encryption import SEALED, SECRET_KEY_VARIABLE, SecretKeyError
from agentical.db.models.playbook import (
    PlaybookExecution,
    PlaybookVariable,
    rotate_secrets,
)
from agentical.db.testing.factories import make_playbook
from tests.db.sensitive import sensitive_playbook

SECRET = "sentinel-at-rest-7f3a"
OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    def use(keys: str | None) -> None:
        if keys is None:
            monkeypatch.delenv(SECRET_KEY_VARIABLE, raising=False)
        else:
            monkeypatch.setenv(SECRET_KEY_VARIABLE, keys)

    use(OLD_KEY)
    return use


def _stored(session: Session, table: str, column: str, row_id: int) -> str:
    """The column as the database holds it, bypassing the library's types."""
    value = session.execute(
        text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}
    ).scalar_one()
    return value if isinstance(value, str) else json.dumps(value)


def _playbook_and_execution(session: Session) -> tuple[PlaybookVariable, PlaybookExecution]:
    playbook = sensitive_playbook(session, SECRET)
    variables = playbook.variables
    variables[0].set_value(SECRET + "-current")
    execution = playbook.new_execution({"api_key": SECRET, "region": "eu-west-1"})
    session.flush()
    return variables[0], execution


def test_with_a_key_sensitive_values_are_stored_encrypted_and_read_back(
    session: Session, fresh_session: Callable[[], Session], key: Callable[[str | None], None]
) -> None:
    variable, execution = _playbook_and_execution(session)
    assert variable.default_value == SECRET  # the object keeps the plaintext
    assert execution.input_variables["api_key"] == SECRET
    for column in ("default_value", "current_value"):
        stored = _stored(session, "playbook_variables", column, variable.id)
        assert SECRET not in stored
        assert SEALED in stored
    inputs = _stored(session, "playbook_executions", "input_variables", execution.id)
    assert SECRET not in inputs
    assert "eu-west-1" in inputs  # only sensitive values are sealed
    with fresh_session() as other:
        loaded = other.get_one(PlaybookExecution, execution.id)
        assert loaded.input_variables == {"api_key": SECRET, "region": "eu-west-1"}
        assert other.get_one(PlaybookVariable, variable.id).get_value() == SECRET + "-current"


def test_an_update_of_a_sensitive_value_is_sealed_too(
    session: Session, key: Callable[[str | None], None]
) -> None:
    variable, execution = _playbook_and_execution(session)
    execution.set_variable("api_key", SECRET + "-updated")
    variable.default_value = SECRET + "-new-default"
    session.flush()
    assert SECRET not in _stored(session, "playbook_executions", "input_variables", execution.id)
    assert SECRET not in _stored(session, "playbook_variables", "default_value", variable.id)
    assert execution.input_variables["api_key"] == SECRET + "-updated"


def test_without_a_key_sensitive_values_are_stored_in_plaintext(
    session: Session, key: Callable[[str | None], None]
) -> None:
    key(None)
    variable, execution = _playbook_and_execution(session)
    assert SECRET in _stored(session, "playbook_variables", "default_value", variable.id)
    assert SECRET in _stored(session, "playbook_executions", "input_variables", execution.id)


def test_rotation_re_encrypts_with_the_newest_key_and_seals_old_plaintext(
    session: Session, fresh_session: Callable[[], Session], key: Callable[[str | None], None]
) -> None:
    key(None)
    plain_variable, plain_execution = _playbook_and_execution(session)
    key(OLD_KEY)
    sealed_variable, sealed_execution = _playbook_and_execution(session)
    key(f"{NEW_KEY},{OLD_KEY}")
    variables, executions = rotate_secrets(session)
    assert (variables, executions) >= (2, 2)
    key(NEW_KEY)  # the old key is gone: everything must open with the new one alone
    with fresh_session() as other:
        for variable in (plain_variable, sealed_variable):
            assert other.get_one(PlaybookVariable, variable.id).default_value == SECRET
            assert SECRET not in _stored(other, "playbook_variables", "default_value", variable.id)
        for execution in (plain_execution, sealed_execution):
            loaded = other.get_one(PlaybookExecution, execution.id)
            assert loaded.input_variables["api_key"] == SECRET
            assert loaded.row_version == execution.row_version  # no version bump


def test_a_value_sealed_with_an_unknown_key_is_a_clear_error(
    session: Session, fresh_session: Callable[[], Session], key: Callable[[str | None], None]
) -> None:
    variable, _execution = _playbook_and_execution(session)
    key(NEW_KEY)
    with fresh_session() as other, pytest.raises(SecretKeyError, match="not in") as caught:
        other.get_one(PlaybookVariable, variable.id)
    assert NEW_KEY not in str(caught.value)
    key(None)
    with fresh_session() as other, pytest.raises(SecretKeyError, match="set AGENTICAL_SECRET"):
        other.get_one(PlaybookVariable, variable.id)


@pytest.mark.parametrize("keys", ["not-a-key", f"{NEW_KEY},short"])
def test_a_malformed_key_is_refused_without_showing_it(
    session: Session, key: Callable[[str | None], None], keys: str
) -> None:
    key(keys)
    playbook: Any = make_playbook(session, steps=1)
    playbook.variables = [PlaybookVariable(variable_name="t", is_sensitive=True, default_value="x")]
    with pytest.raises(SecretKeyError, match="is not a Fernet key") as caught:
        session.flush()
    assert keys not in str(caught.value)
    session.rollback()
