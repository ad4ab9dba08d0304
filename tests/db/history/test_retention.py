"""purge_executions: finished runs older than a cut-off go in batches, each committed."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from agentical.db import runs
from agentical.db.enums import ExecutionStatus, StepStatus, VariableType
from agentical.db.errors import InvalidInputError, LeaseLostError, NotFoundError
from agentical.db.history import PurgeResult, purge_executions
from agentical.db.models.playbook import (
    SECRET_MASK,
    Playbook,
    PlaybookExecution,
    PlaybookStep,
    PlaybookStepExecution,
    create_execution,
)
from agentical.db.models.playbook.snapshot import DefinitionSnapshot
from agentical.db.testing.factories import make_playbook, make_variable
from agentical.db.types import utc_now

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CUT_OFF = T0 + timedelta(days=30)
FINISHED = (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


def finished_run(
    session: Session,
    playbook: Playbook,
    days: float,
    status: ExecutionStatus = ExecutionStatus.COMPLETED,
    **fields: Any,
) -> PlaybookExecution:
    """A run that ended ``days`` after T0 (unfinished statuses get no end), with one step
    execution per step of its playbook."""
    at = T0 + timedelta(days=days)
    completed_at = at if status in FINISHED else None
    execution = PlaybookExecution(
        playbook=playbook,
        status=status,
        created_at=at,
        updated_at=at,
        started_at=at,
        completed_at=completed_at,
        **fields,
    )
    session.add(execution)
    for step in playbook.steps:
        session.add(
            PlaybookStepExecution(execution=execution, step=step, status=StepStatus.COMPLETED)
        )
    session.flush()
    return execution


def execution_ids(session: Session) -> set[int]:
    return set(session.scalars(select(PlaybookExecution.id)))


def step_run_count(session: Session, execution_ids: set[int] | None = None) -> int:
    statement = select(func.count(PlaybookStepExecution.id))
    if execution_ids is not None:
        statement = statement.where(PlaybookStepExecution.playbook_execution_id.in_(execution_ids))
    return session.scalar(statement) or 0


def test_purge_deletes_only_finished_runs_older_than_the_cut_off_with_their_steps(
    session: Session,
) -> None:
    playbook = make_playbook(session, steps=2)
    old = [finished_run(session, playbook, day, status) for day, status in enumerate(FINISHED)]
    unfinished = [
        finished_run(session, playbook, 1, status)
        for status in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)
    ]
    recent = finished_run(session, playbook, 31)
    kept = {run.id for run in unfinished} | {recent.id}
    old_ids = {run.id for run in old}
    session.commit()

    result = purge_executions(session, finished_before=CUT_OFF)

    assert (result.matched, result.executions) == (3, 3)
    assert (result.matched_step_executions, result.step_executions) == (6, 6)
    assert execution_ids(session) == kept
    assert step_run_count(session, old_ids) == 0
    assert step_run_count(session) == 2 * len(kept)


def test_keep_last_spares_each_playbooks_newest_finished_runs(session: Session) -> None:
    first, second = make_playbook(session), make_playbook(session)
    firsts = [finished_run(session, first, day) for day in range(5)]
    seconds = [finished_run(session, second, day) for day in range(2)]
    session.commit()

    result = purge_executions(session, finished_before=CUT_OFF, keep_last=3)

    assert result.executions == 2
    assert execution_ids(session) == {run.id for run in firsts[2:] + seconds}


def test_playbook_limits_the_purge_to_every_version_of_that_name(session: Session) -> None:
    mine = make_playbook(session, name="Restore", version=1)
    mine_next = make_playbook(session, name="Restore", version=2)
    other = make_playbook(session, name="Rotate")
    finished_run(session, mine, 1)
    finished_run(session, mine_next, 2)
    spared = finished_run(session, other, 3)
    session.commit()

    result = purge_executions(session, finished_before=CUT_OFF, playbook="Restore")

    assert result.executions == 2
    assert execution_ids(session) == {spared.id}


def test_dry_run_counts_and_deletes_nothing(session: Session) -> None:
    playbook = make_playbook(session, steps=3)
    runs = [finished_run(session, playbook, day) for day in range(4)]
    session.commit()

    result = purge_executions(session, finished_before=CUT_OFF, dry_run=True, batch_size=1)

    assert result == PurgeResult(matched=4, matched_step_executions=12, dry_run=True)
    assert execution_ids(session) == {run.id for run in runs}


def test_each_batch_is_committed_and_reported_with_the_counts_so_far(session: Session) -> None:
    playbook = make_playbook(session, steps=1)
    for day in range(5):
        finished_run(session, playbook, day)
    session.commit()
    reported: list[tuple[int, int, int]] = []

    def on_batch(progress: PurgeResult) -> None:
        # Each report follows a commit: another connection would see the rows gone.
        assert not session.in_transaction()
        reported.append((progress.batches, progress.executions, progress.matched))

    result = purge_executions(session, finished_before=CUT_OFF, batch_size=2, on_batch=on_batch)

    assert reported == [(0, 0, 5), (1, 2, 5), (2, 4, 5), (3, 5, 5)]
    assert result.batches == 3


class FailingArchive(io.StringIO):
    """An archive that fails while writing the batch number ``fail_at`` (from 1)."""

    def __init__(self, session: Session, fail_at: int | None = None) -> None:
        super().__init__()
        self.session, self.fail_at = session, fail_at
        self.flushed_with_rows_present: list[int] = []

    def write(self, text: str) -> int:
        if self.fail_at is not None and len(self.flushed_with_rows_present) + 1 == self.fail_at:
            raise OSError("disk full")
        return super().write(text)

    def flush(self) -> None:
        super().flush()
        self.flushed_with_rows_present.append(len(execution_ids(self.session)))


def test_a_purge_stopped_mid_batch_leaves_whole_runs_and_can_be_run_again(
    session: Session,
) -> None:
    playbook = make_playbook(session, steps=2)
    runs = [finished_run(session, playbook, day) for day in range(4)]
    session.commit()
    archive = FailingArchive(session, fail_at=2)

    with pytest.raises(OSError, match="disk full"):
        purge_executions(session, finished_before=CUT_OFF, batch_size=2, archive=archive)

    survivors = execution_ids(session)
    assert survivors == {run.id for run in runs[2:]}
    assert step_run_count(session, survivors) == 4  # the failed batch kept every step run
    again = purge_executions(session, finished_before=CUT_OFF, batch_size=2)
    assert again.executions == 2
    assert execution_ids(session) == set()


def test_the_archive_holds_each_batch_with_secrets_masked_before_it_is_deleted(
    session: Session,
) -> None:
    token = make_variable("token", variable_type=VariableType.STRING, is_sensitive=True)
    token.enum_values = []
    token.default_value = None
    playbook = make_playbook(session, variables=[token])
    runs = [
        finished_run(session, playbook, day, input_variables={"token": "hunter2", "n": day})
        for day in range(3)
    ]
    names = [run.execution_id for run in runs]
    session.commit()
    archive = FailingArchive(session)

    result = purge_executions(session, finished_before=CUT_OFF, batch_size=2, archive=archive)

    lines = [json.loads(line) for line in archive.getvalue().splitlines()]
    assert result.archived == 3
    assert [line["execution_id"] for line in lines] == names
    assert {line["input_variables"]["token"] for line in lines} == {SECRET_MASK}
    assert "hunter2" not in archive.getvalue()
    # Flushed while the batch was still stored: 3 runs before the first, 1 before the second.
    assert archive.flushed_with_rows_present == [3, 1]


def test_purging_leaves_playbook_and_step_metrics_unchanged(session: Session) -> None:
    playbook = make_playbook(session, steps=1)
    finished_run(session, playbook, 1)
    playbook.total_executions, playbook.successful_executions = 7, 5
    playbook.steps[0].total_executions = 7
    session.commit()
    before = (playbook.total_executions, playbook.successful_executions)

    purge_executions(session, finished_before=CUT_OFF)

    session.expire_all()
    assert (playbook.total_executions, playbook.successful_executions) == before
    assert playbook.steps[0].total_executions == 7


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"finished_before": datetime(2026, 4, 1)}, "finished_before"),  # noqa: DTZ001
        ({"finished_before": "2026-04-01"}, "finished_before"),
        ({"keep_last": -1}, "keep_last"),
        ({"keep_last": True}, "keep_last"),
        ({"batch_size": 0}, "batch_size"),
        ({"playbook": " "}, "playbook"),
    ],
)
def test_bad_arguments_name_the_field_and_change_nothing(
    session: Session, arguments: dict[str, Any], field: str
) -> None:
    playbook = make_playbook(session)
    finished_run(session, playbook, 1)
    session.commit()
    before = execution_ids(session)

    with pytest.raises(InvalidInputError, match=f"^{field} "):
        purge_executions(session, **{"finished_before": CUT_OFF, **arguments})

    assert execution_ids(session) == before


def test_an_unknown_playbook_is_not_found_and_nothing_changes(session: Session) -> None:
    playbook = make_playbook(session)
    finished_run(session, playbook, 1)
    session.commit()

    with pytest.raises(NotFoundError, match="playbook: no playbook is named 'Nope'"):
        purge_executions(session, finished_before=CUT_OFF, playbook="Nope")

    assert len(execution_ids(session)) == 1


def test_a_session_with_unflushed_work_is_refused(session: Session) -> None:
    playbook = make_playbook(session)
    session.commit()
    playbook.description = "edited"

    with pytest.raises(InvalidInputError, match=r"^session: "):
        purge_executions(session, finished_before=CUT_OFF)


def snapshot_ids(session: Session) -> set[int]:
    return set(session.scalars(select(DefinitionSnapshot.id)))


def test_purge_removes_the_snapshots_no_execution_points_at_any_more(session: Session) -> None:
    playbook = make_playbook(session, steps=1)
    version_1 = [finished_run(session, playbook, day) for day in (1, 2, 40)]
    playbook.description = "Version 2"
    session.flush()
    version_2 = [finished_run(session, playbook, day) for day in (3, 4)]
    kept, gone = version_1[0].snapshot_id, version_2[0].snapshot_id
    assert kept is not None
    assert gone is not None
    assert {run.snapshot_id for run in version_1 + version_2} == {kept, gone}
    session.commit()

    result = purge_executions(session, finished_before=CUT_OFF, batch_size=1)

    assert (result.executions, result.snapshots) == (4, 1)
    assert kept in snapshot_ids(session)
    assert gone not in snapshot_ids(session)
    assert execution_ids(session) == {version_1[-1].id}


def test_a_purge_sweeps_snapshots_left_by_an_earlier_one_that_stopped(session: Session) -> None:
    playbook = make_playbook(session, steps=1)
    run = finished_run(session, playbook, 1)
    orphan = run.snapshot_id
    session.commit()
    # What a purge stopped between its last batch and its sweep leaves behind.
    session.execute(delete(PlaybookExecution).where(PlaybookExecution.id == run.id))
    session.commit()

    result = purge_executions(session, finished_before=CUT_OFF)

    assert (result.matched, result.snapshots) == (0, 1)
    assert orphan not in snapshot_ids(session)


def test_a_run_made_after_a_sweep_follows_its_own_snapshot_in_a_long_lived_session(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    """The session that made the purged run still holds the swept snapshot in its identity
    map (on SQLite before revision 0010, the new snapshot even got the swept one's id)."""
    session.expire_on_commit = False  # a service's long-lived session
    playbook = make_playbook(session, steps=1)
    first = create_execution(session, playbook)
    first.start_execution()
    first.complete_execution()
    session.commit()
    with fresh_session() as other:
        assert purge_executions(other, finished_before=utc_now() + timedelta(days=1)).snapshots == 1
    session.expunge(first)  # done with the run; its snapshot stays in the identity map
    playbook.steps.append(PlaybookStep(step_name="added", step_order=2))
    second = create_execution(session, playbook)
    session.commit()
    assert second.snapshot is not None
    assert second.snapshot.content_hash == second.definition_hash
    assert [step["name"] for step in second.snapshot.document["steps"]] == ["step_1", "added"]


def test_a_lease_held_on_a_purged_run_cannot_finish_a_newer_run_s_step(session: Session) -> None:
    """An id is never given again (SQLite too, like the servers): a worker that stalled
    through its run's cancel and purge holds the id and token a new step run would get."""
    playbook = make_playbook(session, steps=1, max_concurrent_executions=2)
    first = create_execution(session, playbook)
    runs.start_execution(session, first)
    (claimed,) = runs.claim_ready_steps(session, worker_id="stalled")
    stale = runs.lease_of(claimed)
    runs.cancel_execution(session, first, "stuck")
    session.commit()
    purge_executions(session, finished_before=utc_now() + timedelta(days=1))

    second = create_execution(session, playbook)
    runs.start_execution(session, second)
    (current,) = runs.claim_ready_steps(session, worker_id="current")
    session.commit()
    assert current.id != stale.step_run_id

    with pytest.raises(LeaseLostError):
        runs.complete_step(session, stale)
    session.refresh(current)
    assert (current.status, current.claimed_by) == (StepStatus.RUNNING, "current")
