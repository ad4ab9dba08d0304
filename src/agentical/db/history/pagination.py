"""Keyset pages of the newest-first history queries, and counts by status.

A page continues strictly after the last row of the one before it, ``(created_at, id)``
in descending order, instead of skipping rows with ``OFFSET``: page 1000 reads as few
index entries as page 1, and a run created meanwhile (newer than every page already read)
neither shifts nor repeats a row of the next page. The cursor is opaque to callers: the
position, encoded; nothing else about the query is in it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus
from agentical.db.errors import InvalidInputError
from agentical.db.limits import INT_COLUMN_MAX
from agentical.db.models.audit import AuditEntry
from agentical.db.models.playbook import PlaybookExecution

T = TypeVar("T")
R = TypeVar("R", PlaybookExecution, AuditEntry)
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows, and the cursor of the next one (``None`` on the last page)."""

    items: Sequence[T]
    next_cursor: str | None


def encode_cursor(row: PlaybookExecution | AuditEntry) -> str:
    position = [row.created_at.isoformat(), row.id]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: Any) -> tuple[datetime, int]:
    """The ``(created_at, id)`` a cursor stands for; ``InvalidInputError`` if it is not one."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        at = datetime.fromisoformat(created_at)
        # What encode_cursor writes: a time in UTC and an id a row can have. A forged one
        # would fail only where the query binds it, as a database error.
        if at.utcoffset() is None or type(row_id) is not int or not 0 < row_id <= INT_COLUMN_MAX:
            raise ValueError
        return at.astimezone(UTC), row_id
    except (TypeError, ValueError, OverflowError, binascii.Error, UnicodeError):
        raise InvalidInputError(
            f"cursor: not a cursor of this history (use a page's next_cursor), got {cursor!r}"
        ) from None


def _check_limit(limit: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInputError(
            f"limit must be an integer from 1 to {MAX_PAGE_SIZE}, got {limit!r}"
        )


def page_statement(
    statement: Select[R], *, cursor: str | None = None, limit: int = 50
) -> Select[R]:
    """``statement`` narrowed to the rows after ``cursor``, one row more than ``limit``
    (whether there is a next page). What ``page_of`` runs; ``EXPLAIN`` it to see the plan."""
    _check_limit(limit)
    if cursor is not None:
        at, row_id = decode_cursor(cursor)
        model = statement.column_descriptions[0]["entity"]
        # The first term is an index range; the second only breaks ties within it.
        statement = statement.where(
            and_(model.created_at <= at, or_(model.created_at < at, model.id < row_id))
        )
    return statement.limit(limit + 1)


def page_of(
    session: Session, statement: Select[R], *, cursor: str | None = None, limit: int = 50
) -> Page[R]:
    """The page of ``statement`` after ``cursor`` (the first page without one).

    ``statement`` is one of the newest-first queries (``executions_by_status``,
    ``failed_executions``, ``audit_trail``), ordered by ``created_at`` then ``id``, both
    descending.
    """
    rows = list(session.scalars(page_statement(statement, cursor=cursor, limit=limit)))
    items = rows[:limit]
    more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor(items[-1]) if more else None)


def execution_counts_by_status(playbook_id: int) -> Select[ExecutionStatus, int]:
    """``(status, count)`` rows of one playbook's executions, read from the index
    ``ix_playbook_executions_playbook_id_status_created_at`` alone."""
    return (
        select(PlaybookExecution.status, func.count())
        .where(PlaybookExecution.playbook_id == playbook_id)
        .group_by(PlaybookExecution.status)
        .order_by(PlaybookExecution.status)
    )


def counts_by_status(session: Session, playbook_id: int) -> dict[ExecutionStatus, int]:
    """Every status with its number of executions of one playbook (0 when it has none)."""
    counts = dict.fromkeys(ExecutionStatus, 0)
    for status, count in session.execute(execution_counts_by_status(playbook_id)):
        counts[status] = count
    return counts
