"""Retention: delete finished executions older than a cut-off, in batches.

Each batch is its own transaction (its step executions, then its executions, then a
commit), so a purge stopped at any point leaves whole runs or none and can be run again.
Then the definition snapshots no execution points at any more go, in batches too; a
purge stopped before that leaves them to the next one, which sweeps every such snapshot.
Batches are taken by ascending id after the last one seen (keyset), so a batch never
re-reads what an earlier one kept. Deleting rows touches no counter: the metrics of
playbooks, steps and templates are stored figures, not counts of the rows kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, Any, cast

from sqlalchemy import ColumnElement, CursorResult, Delete, and_, delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agentical.db.audit import AuditAction, resolve_actor
from agentical.db.errors import InvalidInputError, NotFoundError
from agentical.db.history.export import iter_executions_jsonl
from agentical.db.lifecycle import EXECUTION_TRANSITIONS
from agentical.db.models.audit import AuditEntry, entry, write_entries
from agentical.db.models.playbook import Playbook, PlaybookExecution, PlaybookStepExecution
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.snapshot import DefinitionSnapshot

# Finished: the statuses a run never leaves (completed, failed, cancelled), so a batch
# read as finished is still finished when it is deleted, with no lock taken.
FINISHED = tuple(status for status, targets in EXECUTION_TRANSITIONS.items() if not targets)

Execution = PlaybookExecution
StepRun = PlaybookStepExecution


@dataclass(frozen=True)
class PurgeResult:
    """What a purge found (``matched``) and what it deleted so far.

    ``matched`` executions (with ``matched_step_executions``) were eligible when the purge
    began; a dry run stops there. ``archived`` counts the lines written to the archive,
    ``snapshots`` the definition snapshots deleted because no execution pointed at them.
    """

    matched: int = 0
    matched_step_executions: int = 0
    executions: int = 0
    step_executions: int = 0
    archived: int = 0
    batches: int = 0
    dry_run: bool = False
    snapshots: int = 0


def _validate(finished_before: Any, keep_last: Any, playbook: Any, batch_size: Any) -> None:
    if not isinstance(finished_before, datetime) or finished_before.utcoffset() is None:
        raise InvalidInputError(
            "finished_before must be an aware datetime (a naive one is ambiguous), "
            f"got {finished_before!r}"
        )
    if keep_last is not None and (
        isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0
    ):
        raise InvalidInputError(f"keep_last must be None or an integer >= 0, got {keep_last!r}")
    if playbook is not None and (not isinstance(playbook, str) or not playbook.strip()):
        raise InvalidInputError(f"playbook must be a playbook's name, got {playbook!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def _playbook_ids(session: Session, name: str) -> list[int]:
    ids = list(session.scalars(select(Playbook.id).where(Playbook.name == name)))
    if not ids:
        raise NotFoundError(f"playbook: no playbook is named {name!r}")
    return ids


def _keep_newest(session: Session, playbook_id: int, keep_last: int) -> ColumnElement[bool] | None:
    """The criterion sparing a playbook's ``keep_last`` most recently finished runs, or
    ``None`` when it has no more than that (nothing of it may go)."""
    newest_kept = session.execute(
        select(Execution.completed_at, Execution.id)
        .where(
            Execution.playbook_id == playbook_id,
            Execution.status.in_(FINISHED),
            Execution.completed_at.is_not(None),
        )
        .order_by(Execution.completed_at.desc(), Execution.id.desc())
        .offset(keep_last - 1)
        .limit(1)
    ).first()
    if newest_kept is None:
        return None
    at, execution_id = newest_kept
    return and_(
        Execution.playbook_id == playbook_id,
        or_(
            Execution.completed_at < at,
            and_(Execution.completed_at == at, Execution.id < execution_id),
        ),
    )


def _scopes(
    session: Session,
    eligible: ColumnElement[bool],
    keep_last: int | None,
) -> list[ColumnElement[bool]]:
    """One criterion per independent stream of batches: all eligible runs, or with
    ``keep_last`` one per playbook (each has its own newest runs to spare)."""
    if not keep_last:
        return [eligible]
    playbook_ids = session.scalars(
        select(Execution.playbook_id).where(eligible).distinct().order_by(Execution.playbook_id)
    ).all()
    scopes = []
    for playbook_id in playbook_ids:
        spared = _keep_newest(session, playbook_id, keep_last)
        if spared is not None:
            scopes.append(and_(eligible, spared))
    return scopes


def _count(session: Session, scopes: Sequence[ColumnElement[bool]]) -> tuple[int, int]:
    executions = steps = 0
    for scope in scopes:
        executions += session.scalar(select(func.count(Execution.id)).where(scope)) or 0
        steps += (
            session.scalar(select(func.count(StepRun.id)).join(StepRun.execution).where(scope)) or 0
        )
    return executions, steps


def _delete_batch(
    session: Session, ids: Sequence[int], archive: IO[str] | None
) -> tuple[int, int, int]:
    """Archive (written and flushed first), then delete one batch; the caller commits."""
    archived = 0
    if archive is not None:
        statement = select(Execution).where(Execution.id.in_(ids)).order_by(Execution.id)
        with closing(iter_executions_jsonl(session, statement, batch_size=len(ids))) as lines:
            for line in lines:
                archive.write(line)
                archived += 1
        archive.flush()
    # Children first: the database's cascade would delete them uncounted.
    steps = _deleted(session, delete(StepRun).where(StepRun.playbook_execution_id.in_(ids)))
    runs = _deleted(session, delete(Execution).where(Execution.id.in_(ids)))
    return runs, steps, archived


def _record(
    session: Session,
    actor: str,
    playbook: str | None,
    executions: int,
    step_executions: int,
    finished_before: datetime,
    keep_last: int | None,
) -> None:
    details = {
        "executions": executions,
        "step_executions": step_executions,
        "finished_before": finished_before.isoformat(),
        "keep_last": keep_last,
    }
    row = entry(AuditAction.PURGE, actor, playbook_name=playbook, details=details)
    write_entries(connection_for(session, AuditEntry), [row])


def _deleted(session: Session, statement: Delete) -> int:
    # A DELETE's result is a CursorResult; Session.execute is typed for any statement.
    result = cast("CursorResult[Any]", session.execute(statement))
    return result.rowcount


def _sweep_snapshots(session: Session, batch_size: int) -> int:
    """Delete the snapshots no execution points at, a committed batch at a time (keyset
    by id); return how many went. A batch that a run created meanwhile points into is
    refused by the foreign key (RESTRICT) and kept whole for a later purge."""
    unused = ~exists().where(Execution.snapshot_id == DefinitionSnapshot.id)
    deleted = after = 0
    while True:
        ids = session.scalars(
            select(DefinitionSnapshot.id)
            .where(DefinitionSnapshot.id > after, unused)
            .order_by(DefinitionSnapshot.id)
            .limit(batch_size)
        ).all()
        if not ids:
            return deleted
        after = ids[-1]
        statement = delete(DefinitionSnapshot).where(DefinitionSnapshot.id.in_(ids), unused)
        try:
            count = _deleted(session, statement.execution_options(synchronize_session=False))
            session.commit()
        except IntegrityError:
            session.rollback()
        except BaseException:
            session.rollback()
            raise
        else:
            deleted += count


def purge_executions(
    session: Session,
    *,
    finished_before: datetime,
    keep_last: int | None = None,
    playbook: str | None = None,
    batch_size: int = 1000,
    dry_run: bool = False,
    archive: IO[str] | None = None,
    on_batch: Callable[[PurgeResult], None] | None = None,
    actor: str | None = None,
) -> PurgeResult:
    """Delete finished executions (completed, failed, cancelled) that finished before
    ``finished_before``, with their step executions, then every definition snapshot no
    execution points at; return the counts.

    ``keep_last`` spares each playbook's N most recently finished runs; ``playbook``
    limits the purge to the playbook(s) of that name (every version). ``archive`` receives
    each batch as JSON lines (the export's format, sensitive inputs masked), flushed before
    the batch is deleted; a purge stopped between the two writes that batch again when
    re-run. ``on_batch`` is called with the counts so far once before the first batch
    (``matched`` known: a progress bar's total) and after each commit. ``dry_run`` only
    counts.

    Each batch adds a ``purge`` row to the audit trail, in its transaction, by ``actor``
    (else the ``acting_as`` context's, else ``system``); the trail itself is never purged.
    Commits the session after every batch: give it a session with no work of its own.
    Bad arguments raise ``InvalidInputError`` (an unknown playbook ``NotFoundError``)
    before anything changes; a dry run leaves the session as it was.
    """
    _validate(finished_before, keep_last, playbook, batch_size)
    actor = resolve_actor(actor)
    if session.new or session.dirty or session.deleted:
        raise InvalidInputError(
            "session: purge_executions commits after every batch; flush and commit "
            "(or roll back) the session's own changes first"
        )
    eligible = and_(Execution.status.in_(FINISHED), Execution.completed_at < finished_before)
    if playbook is not None:
        eligible = and_(eligible, Execution.playbook_id.in_(_playbook_ids(session, playbook)))
    scopes = _scopes(session, eligible, keep_last)
    matched, matched_steps = _count(session, scopes)
    result = PurgeResult(matched=matched, matched_step_executions=matched_steps, dry_run=dry_run)
    if dry_run:
        return result
    session.commit()  # nothing written yet: the reads above hold no locks into the batches
    if on_batch is not None:
        on_batch(result)
    for scope in scopes:
        after = 0
        while True:
            ids = session.scalars(
                select(Execution.id)
                .where(scope, Execution.id > after)
                .order_by(Execution.id)
                .limit(batch_size)
            ).all()
            if not ids:
                break
            after = ids[-1]
            try:
                runs, steps, archived = _delete_batch(session, ids, archive)
                _record(session, actor, playbook, runs, steps, finished_before, keep_last)
                session.commit()
            except BaseException:
                session.rollback()
                raise
            result = replace(
                result,
                executions=result.executions + runs,
                step_executions=result.step_executions + steps,
                archived=result.archived + archived,
                batches=result.batches + 1,
            )
            if on_batch is not None:
                on_batch(result)
    return replace(result, snapshots=_sweep_snapshots(session, batch_size))
