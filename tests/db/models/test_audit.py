"""``AuditEntry``: the trail's rows are written once and never changed through the ORM."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from agentical.db.audit import AuditAction
from agentical.db.models.audit import AppendOnlyError, AuditEntry, entry, write_entries
from agentical.db.models.playbook.binding import connection_for


def _stored(session: Session) -> AuditEntry:
    write_entries(
        connection_for(session, AuditEntry),
        [
            entry(
                AuditAction.PAUSE,
                "alice",
                execution_id="run-1",
                playbook_uuid=uuid.uuid4(),
                from_status="running",
                to_status="paused",
                reason="maintenance window",
                request_id="req-7",
            )
        ],
    )
    return session.scalars(select(AuditEntry)).one()


def test_a_stored_entry_reads_back_with_every_column_and_serialises(session: Session) -> None:
    stored = _stored(session)
    data = stored.to_dict()
    json.dumps(data)
    assert (data["actor"], data["action"], data["from_status"], data["to_status"]) == (
        "alice",
        "pause",
        "running",
        "paused",
    )
    assert (data["reason"], data["request_id"], data["details"]) == (
        "maintenance window",
        "req-7",
        {},
    )
    assert stored.created_at.utcoffset() is not None
    assert repr(stored) == f"<AuditEntry id={stored.id}>"


def test_changing_an_entry_through_the_orm_is_refused_and_changes_nothing(
    session: Session,
) -> None:
    stored = _stored(session)
    session.commit()
    stored.actor = "mallory"
    with pytest.raises(AppendOnlyError, match="append-only"):
        session.flush()
    session.rollback()
    assert session.scalars(select(AuditEntry.actor)).one() == "alice"


def test_deleting_an_entry_through_the_orm_is_refused(session: Session) -> None:
    stored = _stored(session)
    session.commit()
    session.delete(stored)
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    assert session.scalars(select(AuditEntry)).all() == [stored]


@pytest.mark.parametrize(
    "statement",
    [update(AuditEntry).values(actor="mallory"), delete(AuditEntry)],
    ids=["update", "delete"],
)
def test_orm_bulk_updates_and_deletes_of_the_trail_are_refused(
    session: Session, statement: object
) -> None:
    _stored(session)
    with pytest.raises(AppendOnlyError):
        session.execute(statement)  # type: ignore[call-overload]
    assert session.scalars(select(AuditEntry.actor)).all() == ["alice"]
