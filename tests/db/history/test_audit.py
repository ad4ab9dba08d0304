"""history.audit_trail: the trail newest first, narrowed and paged; purges record
themselves and leave the trail of what they deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agentical.db import history, runs
from agentical.db.audit import acting_as
from agentical.db.errors import InvalidInputError
from agentical.db.models.audit import AuditEntry
from agentical.db.models.playbook import Playbook, PlaybookExecution, create_execution
from agentical.db.types import utc_now
from tests.db.runs.builders import drain, started_run, step


def actions(session: Session, **narrowing: object) -> list[str]:
    statement = history.audit_trail(**narrowing)  # type: ignore[arg-type]
    return [str(entry.action) for entry in session.scalars(statement)]


def two_versions(session: Session) -> tuple[Playbook, Playbook]:
    document = {"name": "Versioned", "category": "testing", "steps": [step("a")]}
    with acting_as("alice"):
        first = Playbook.import_definition(session, document)
        first.publish()
    with acting_as("bob"):
        second = Playbook.import_definition(session, document)
    session.flush()
    return first, second


def test_the_trail_of_a_playbook_is_its_version_or_every_version_by_name(
    session: Session,
) -> None:
    first, second = two_versions(session)
    assert actions(session, playbook=first) == ["publish", "import"]
    assert actions(session, playbook=second) == ["import"]
    assert actions(session, playbook="Versioned") == ["import", "publish", "import"]
    assert actions(session, playbook="Versioned", actor="alice") == ["publish", "import"]
    assert actions(session, playbook="Versioned", action="import") == ["import", "import"]
    assert actions(session, playbook="Versioned", action=["publish"]) == ["publish"]


def test_the_trail_of_an_execution_by_object_or_public_id_newest_first(
    session: Session,
) -> None:
    execution = started_run(session, [step("a")])
    runs.pause_execution(session, execution, actor="alice")
    runs.resume_execution(session, execution, actor="alice")
    session.commit()
    drain(session)
    assert actions(session, execution=execution) == ["complete", "resume", "pause", "start"]
    assert actions(session, execution=execution.execution_id) == [
        "complete",
        "resume",
        "pause",
        "start",
    ]
    since = session.scalars(history.audit_trail(execution=execution)).all()[1].created_at
    assert actions(session, execution=execution, since=since) == ["complete", "resume"]


def test_pages_of_the_trail_follow_one_another_without_gaps_or_repeats(
    session: Session,
) -> None:
    execution = started_run(session, [step("a")])
    for _ in range(3):
        runs.pause_execution(session, execution, actor="alice")
        runs.resume_execution(session, execution, actor="alice")
    session.commit()
    statement = history.audit_trail(execution=execution)
    every = [entry.id for entry in session.scalars(statement)]
    seen: list[int] = []
    page = history.page_of(session, statement, limit=3)
    seen += [entry.id for entry in page.items]
    while page.next_cursor is not None:
        page = history.page_of(session, statement, cursor=page.next_cursor, limit=3)
        seen += [entry.id for entry in page.items]
    assert seen == every
    assert len(every) == 7


@pytest.mark.parametrize(
    ("narrowing", "message"),
    [({"action": "teleport"}, "action must be one of"), ({"since": "yesterday"}, "since")],
)
def test_a_bad_narrowing_is_refused_with_the_field(
    narrowing: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        history.audit_trail(**narrowing)  # type: ignore[arg-type]


def test_a_purge_records_each_batch_and_the_trail_of_the_runs_it_deleted_stays(
    session: Session,
) -> None:
    playbook = Playbook.import_definition(
        session,
        {
            "name": "Purged",
            "category": "testing",
            "max_concurrent_executions": 10,
            "steps": [step("a")],
        },
    )
    executions: list[PlaybookExecution] = []
    for _ in range(3):
        execution = create_execution(session, playbook)
        runs.start_execution(session, execution)
        runs.cancel_execution(session, execution, "not needed")
        executions.append(execution)
    session.commit()
    public_ids = [execution.execution_id for execution in executions]
    with acting_as("janitor"):
        result = history.purge_executions(
            session, finished_before=utc_now() + timedelta(days=1), playbook="Purged", batch_size=2
        )
    assert (result.executions, result.batches) == (3, 2)
    assert session.scalar(select(func.count()).select_from(PlaybookExecution)) == 0
    purges = session.scalars(history.audit_trail(action="purge", actor="janitor")).all()
    assert [entry.details["executions"] for entry in purges] == [1, 2]
    assert {entry.playbook_name for entry in purges} == {"Purged"}
    for public_id in public_ids:
        assert actions(session, execution=public_id) == ["cancel", "start"]


def test_a_dry_run_purge_records_nothing(session: Session) -> None:
    before = session.scalar(select(func.count()).select_from(AuditEntry))
    history.purge_executions(session, finished_before=utc_now(), dry_run=True, actor="janitor")
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == before
