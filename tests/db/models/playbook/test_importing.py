"""``importing.import_definition`` in one session: versions, and errors that are not races."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agentical.db.models.playbook import Playbook
from agentical.db.testing.queries import count_queries

DEFINITION = {"name": "Backup", "category": "backup", "steps": [{"name": "dump"}]}


def test_each_import_of_a_name_is_its_next_version(session: Session) -> None:
    versions = [Playbook.import_definition(session, DEFINITION).version for _ in range(3)]
    assert versions == [1, 2, 3]


def test_a_violation_other_than_a_taken_version_is_raised_at_once(session: Session) -> None:
    with count_queries(session.connection()) as log, pytest.raises(IntegrityError):
        Playbook.import_definition(session, DEFINITION, created_by_user_id=987_654)
    inserts = [statement for statement in log.statements if statement.startswith("INSERT")]
    assert len(inserts) == 1  # not retried: only a taken version is
    assert Playbook.import_definition(session, DEFINITION).version == 1  # the session goes on
