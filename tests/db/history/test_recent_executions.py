"""``recent_executions``: the runs of every playbook, newest first, paged like the others."""

from __future__ import annotations

from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus
from agentical.db.history import page_of, recent_executions
from agentical.db.testing.factories import make_playbook
from tests.db.history.test_pagination import run


def test_runs_of_every_playbook_come_newest_first_across_pages(session: Session) -> None:
    first, second = make_playbook(session), make_playbook(session)
    made = [run(session, (first, second)[minute % 2], minute) for minute in range(5)]

    page = page_of(session, recent_executions(), limit=3)
    rest = page_of(session, recent_executions(), cursor=page.next_cursor, limit=3)

    assert [*page.items, *rest.items] == made[::-1]
    assert rest.next_cursor is None


def test_one_status_across_playbooks(session: Session) -> None:
    first, second = make_playbook(session), make_playbook(session)
    failed = [
        run(session, playbook, minute, ExecutionStatus.FAILED)
        for minute, playbook in ((1, first), (2, second))
    ]
    run(session, first, 3)

    page = page_of(session, recent_executions(ExecutionStatus.FAILED))

    assert page.items == failed[::-1]
