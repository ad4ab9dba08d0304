"""Keyset pages of the history: every run once, newest first, stable while runs arrive."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus
from agentical.db.errors import InvalidInputError
from agentical.db.history import (
    Page,
    counts_by_status,
    executions_by_status,
    failed_executions,
    page_of,
)
from agentical.db.models.playbook import Playbook, PlaybookExecution
from agentical.db.testing.factories import make_playbook

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(
    session: Session,
    playbook: Playbook,
    minutes: int,
    status: ExecutionStatus = ExecutionStatus.COMPLETED,
) -> PlaybookExecution:
    created = T0 + timedelta(minutes=minutes)
    execution = PlaybookExecution(
        playbook=playbook, status=status, created_at=created, updated_at=created
    )
    session.add(execution)
    session.flush()
    return execution


def walk(session: Session, playbook: Playbook, limit: int) -> list[Page[PlaybookExecution]]:
    pages = [page_of(session, executions_by_status(playbook.id), limit=limit)]
    while pages[-1].next_cursor is not None:
        cursor = pages[-1].next_cursor
        pages.append(
            page_of(session, executions_by_status(playbook.id), cursor=cursor, limit=limit)
        )
    return pages


def test_pages_hold_every_run_once_newest_first_and_the_last_has_no_cursor(
    session: Session,
) -> None:
    playbook, other = make_playbook(session), make_playbook(session)
    runs = [run(session, playbook, minute) for minute in range(7)]
    run(session, other, 3)

    pages = walk(session, playbook, limit=3)

    assert [len(page.items) for page in pages] == [3, 3, 1]
    assert [item for page in pages for item in page.items] == runs[::-1]
    assert pages[-1].next_cursor is None


def test_runs_sharing_a_creation_time_are_split_across_pages_by_id(session: Session) -> None:
    playbook = make_playbook(session)
    runs = [run(session, playbook, 5) for _ in range(5)] + [run(session, playbook, 1)]

    pages = walk(session, playbook, limit=2)

    read = [item for page in pages for item in page.items]
    assert read == [*sorted(runs[:5], key=lambda item: item.id, reverse=True), runs[5]]


def test_the_next_page_is_unchanged_by_runs_created_after_the_first(session: Session) -> None:
    playbook = make_playbook(session)
    runs = [run(session, playbook, minute) for minute in range(6)]
    first = page_of(session, executions_by_status(playbook.id), limit=2)
    for minute in range(10, 13):
        run(session, playbook, minute)

    second = page_of(session, executions_by_status(playbook.id), cursor=first.next_cursor, limit=2)

    assert list(first.items) == [runs[5], runs[4]]
    assert list(second.items) == [runs[3], runs[2]]


def test_pages_of_one_status_and_of_a_failure_window(session: Session) -> None:
    playbook = make_playbook(session)
    failed = [run(session, playbook, minute, ExecutionStatus.FAILED) for minute in range(0, 8, 2)]
    for minute in range(1, 8, 2):
        run(session, playbook, minute)

    by_status = page_of(session, executions_by_status(playbook.id, ExecutionStatus.FAILED), limit=3)
    window = failed_executions(T0, T0 + timedelta(hours=1), playbook_id=playbook.id)
    after = page_of(session, window, cursor=by_status.next_cursor, limit=3)

    assert list(by_status.items) == failed[:0:-1]
    assert list(after.items) == [failed[0]]
    assert after.next_cursor is None


def forged(position: list[object]) -> str:
    """A cursor made by hand: the encoding of a page's cursor around any position."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        "W10",
        "WyIyMDI2LTAzLTAxIiwgMV0",
        forged(["2026-01-01T00:00:00+00:00", 10**20]),  # no row has such an id
        forged(["2026-01-01T00:00:00+00:00", 2.5]),
        forged(["2026-01-01T00:00:00+00:00", 0]),
        forged(["0001-01-01T00:00:00+05:00", 1]),  # before the calendar in UTC
    ],
)
def test_a_cursor_that_is_not_one_names_the_field(session: Session, cursor: str) -> None:
    playbook = make_playbook(session)

    with pytest.raises(InvalidInputError, match=r"^cursor: "):
        page_of(session, executions_by_status(playbook.id), cursor=cursor)


@pytest.mark.parametrize("limit", [0, 1001, True, "5"])
def test_a_page_size_out_of_range_names_the_field(session: Session, limit: object) -> None:
    playbook = make_playbook(session)

    with pytest.raises(InvalidInputError, match=r"^limit "):
        page_of(session, executions_by_status(playbook.id), limit=limit)  # type: ignore[arg-type]


def test_counts_by_status_names_every_status_of_one_playbook(session: Session) -> None:
    playbook, other = make_playbook(session), make_playbook(session)
    for minute, status in enumerate(
        [ExecutionStatus.FAILED, ExecutionStatus.COMPLETED, ExecutionStatus.FAILED]
    ):
        run(session, playbook, minute, status)
    run(session, other, 0, ExecutionStatus.RUNNING)

    counts = counts_by_status(session, playbook.id)

    assert counts == {
        **dict.fromkeys(ExecutionStatus, 0),
        ExecutionStatus.FAILED: 2,
        ExecutionStatus.COMPLETED: 1,
    }
