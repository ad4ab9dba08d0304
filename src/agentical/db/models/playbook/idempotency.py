"""Idempotent starts: one execution per (playbook, idempotency key), even under races.

``Playbook.new_execution(..., idempotency_key=k)`` first asks ``execution_for_key``. It
locks the playbook row (``FOR NO KEY UPDATE`` on PostgreSQL, ``FOR UPDATE`` on MariaDB,
the write lock on SQLite) and then looks the key up, so of two racing calls the second
waits for the first to commit and then finds its execution instead of inserting another.
The lock is held until the caller commits. The UNIQUE (playbook_id, idempotency_key)
constraint stays the last line of defence for rows inserted any other way.

A replay must be the same request: ``same_request`` raises ``IdempotencyConflictError``
when the (resolved) inputs differ from those the execution was made with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import object_session

from agentical.db.errors import IdempotencyConflictError, InvalidInputError
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.locking import is_mysql_family, take_sqlite_write_lock
from agentical.db.models.playbook.playbook import Playbook

IDEMPOTENCY_KEY_MAX_LENGTH = 255


def check_idempotency_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInputError("idempotency_key must be a non-empty string")
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise InvalidInputError(
            f"idempotency_key is longer than {IDEMPOTENCY_KEY_MAX_LENGTH} characters"
        )
    return key


def execution_for_key(playbook: Playbook, key: str) -> PlaybookExecution | None:
    """The execution of ``playbook`` already made with ``key``, or ``None``.

    Decided under a lock on the playbook row, held until the transaction ends, so that
    nobody else can add an execution with ``key`` before this transaction commits. A
    playbook outside a session, or not yet flushed, cannot have one.
    """
    check_idempotency_key(key)
    session = object_session(playbook)
    if session is None or playbook.id is None:
        return None
    take_sqlite_write_lock(session, Playbook)
    session.execute(
        select(Playbook.id).where(Playbook.id == playbook.id).with_for_update(key_share=True)
    )
    lookup = select(PlaybookExecution).where(
        PlaybookExecution.playbook_id == playbook.id,
        PlaybookExecution.idempotency_key == key,
    )
    if is_mysql_family(session, PlaybookExecution):
        # A locking read sees rows committed after this transaction's snapshot was taken.
        lookup = lookup.with_for_update(read=True)
    return session.scalars(lookup).first()


def same_request(existing: PlaybookExecution, key: str, inputs: Mapping[str, Any]) -> None:
    """Refuse a replay of ``key`` whose resolved ``inputs`` differ from ``existing``'s."""
    stored = existing.input_variables or {}
    differing = sorted(name for name in {*stored, *inputs} if stored.get(name) != inputs.get(name))
    if differing:
        raise IdempotencyConflictError(key, existing.execution_id, differing)
