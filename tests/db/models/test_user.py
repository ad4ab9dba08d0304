"""``User``: unique username and email, a safe to_dict, ownership that survives deletion."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agentical.db.models.playbook import Playbook, PlaybookExecution
from agentical.db.models.user import User
from agentical.db.testing.factories import make_execution, make_playbook, make_user


def test_a_user_is_created_with_the_contract_keywords(session: Session) -> None:
    user = User(username="alice", email="alice@example.com", hashed_password="hash")
    session.add(user)
    session.flush()
    assert user.id is not None
    assert user.is_active is True


@pytest.mark.parametrize("field", ["username", "email"])
def test_a_duplicate_is_rejected_by_the_database_and_the_session_recovers(
    session: Session, field: str
) -> None:
    first = make_user(session)
    session.commit()
    with pytest.raises(IntegrityError):
        make_user(session, **{field: getattr(first, field)})
    session.rollback()
    assert session.scalars(select(User).where(User.id == first.id)).one() is first
    make_user(session)


def test_to_dict_never_contains_the_password_hash(session: Session) -> None:
    user = make_user(session, hashed_password="$argon2id$secret", full_name="Alice A.")
    data = user.to_dict()
    assert "hashed_password" not in data
    assert "$argon2id$secret" not in json.dumps(data)
    assert data["username"] == user.username
    assert data["full_name"] == "Alice A."


def test_deleting_a_user_keeps_what_they_owned_with_no_owner(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    user = make_user(session)
    playbook = make_playbook(session, steps=1, created_by_user_id=user.id, created_by="alice")
    execution = make_execution(session, playbook, executed_by_user_id=user.id)
    session.commit()
    session.delete(user)
    session.commit()
    other = fresh_session()
    loaded = other.get(Playbook, playbook.id)
    assert loaded is not None
    assert loaded.created_by_user_id is None
    assert loaded.created_by == "alice"
    loaded_execution = other.get(PlaybookExecution, execution.id)
    assert loaded_execution is not None
    assert loaded_execution.executed_by_user_id is None


def test_created_by_user_relationship_points_at_the_user(session: Session) -> None:
    user = make_user(session)
    playbook = make_playbook(session, steps=0, created_by_user=user)
    assert playbook.created_by_user_id == user.id
