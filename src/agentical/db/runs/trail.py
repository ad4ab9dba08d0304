"""The audit rows of a run: every status transition of an execution, the decisions of
people on its steps, and the playbook's own transitions.

Written on the session's connection in the transaction of the change they record:

- a change made by a model method (``execution.pause_execution()``, ``playbook.publish()``,
  ``step_run.complete_step(completed_by=...)``, ``approve_step``...) when ``hooks`` sees it
  flushed: one row per new entry of the execution's ``status_history`` (its ``by`` is the
  row's actor), one per decided person step, one per playbook transition;
- an operator's retry of a step (``retries.retry_step``), with the steps it runs again;
- a run's own end (``settlement.finish_execution``: its last step, or a timeout) right
  after the UPDATE that ends it, on the same connection.

A person's step row has the step's stored status before the flush that finished it as
``from_status``: ``pending``, or ``running`` when a flush came between its start and end.

Nothing is written for a worker's claim or finish of a step: only starts, ends and
people's actions, so the worker's hot path sends no more statements than before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from agentical.db.audit import (
    EXECUTION_ACTIONS,
    PLAYBOOK_ACTIONS,
    SYSTEM,
    AuditAction,
    current_actor,
    current_request_id,
    resolve_actor,
    transition_actor,
)
from agentical.db.enums import ExecutionStatus, PlaybookStatus, StepStatus, StepType
from agentical.db.models.audit import AuditEntry, entry, playbook_subject, write_entries
from agentical.db.models.base import table_of
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.playbook import TRANSITION_ACTOR, Playbook
from agentical.db.models.playbook.step_execution import PlaybookStepExecution

_PLAYBOOK_FIELDS = ("uuid", "name", "version")
_PERSON_ACTIONS = {
    (StepType.APPROVAL, StepStatus.COMPLETED): AuditAction.APPROVE,
    (StepType.APPROVAL, StepStatus.FAILED): AuditAction.REJECT,
    (StepType.MANUAL, StepStatus.COMPLETED): AuditAction.COMPLETE_STEP,
    (StepType.MANUAL, StepStatus.FAILED): AuditAction.FAIL_STEP,
}


def _connection(session: Session) -> Connection:
    return connection_for(session, AuditEntry)


def _loaded_playbook(session: Session, execution: PlaybookExecution) -> Playbook | None:
    playbook = execution.__dict__.get("playbook")
    if playbook is None and execution.playbook_id is not None:
        playbook = session.identity_map.get(identity_key(Playbook, execution.playbook_id))
    if isinstance(playbook, Playbook) and all(key in playbook.__dict__ for key in _PLAYBOOK_FIELDS):
        return playbook
    return None


def _execution_subject(session: Session, execution: PlaybookExecution) -> dict[str, Any]:
    """Execution and playbook columns, from memory or one plain (non-locking) read."""
    subject: dict[str, Any] = {"execution_id": execution.execution_id}
    playbook = _loaded_playbook(session, execution)
    if playbook is not None:
        return {**subject, **playbook_subject(playbook)}
    row = (
        connection_for(session, Playbook)
        .execute(
            select(Playbook.uuid, Playbook.name, Playbook.version).where(
                Playbook.id == execution.playbook_id
            )
        )
        .one_or_none()
    )
    if row is not None:
        subject.update(playbook_subject(row))
    return subject


def _stored_subject(session: Session, execution_pk: int) -> dict[str, Any]:
    """Execution and playbook columns of a stored execution not in the session: one read."""
    row = (
        connection_for(session, PlaybookExecution)
        .execute(
            select(PlaybookExecution.execution_id, Playbook.uuid, Playbook.name, Playbook.version)
            .join(Playbook, Playbook.id == PlaybookExecution.playbook_id)
            .where(PlaybookExecution.id == execution_pk)
        )
        .one()
    )
    return {"execution_id": row.execution_id, **playbook_subject(row)}


def _new_transitions(execution: PlaybookExecution) -> list[dict[str, Any]]:
    """The ``status_history`` entries added since the execution was loaded or flushed."""
    history = execution.__dict__.get("status_history")
    if history is None:
        return []
    changes = inspect(execution).attrs.status_history.history
    if not changes.added:
        return []
    before = changes.deleted[0] if changes.deleted else []
    return list(history[len(before or []) :])


def record_execution_changes(session: Session, execution: PlaybookExecution) -> None:
    """One row per transition the execution's ``status_history`` gained in this flush."""
    transitions = _new_transitions(execution)
    rows = []
    for change in transitions:
        source, target = ExecutionStatus(change["from"]), ExecutionStatus(change["to"])
        action = EXECUTION_ACTIONS.get((source, target))
        if action is None:
            continue
        rows.append(
            entry(
                action,
                change.get("by") or SYSTEM,
                from_status=str(source),
                to_status=str(target),
                reason=change.get("reason"),
                request_id=change.get("request_id"),
                created_at=datetime.fromisoformat(change["when"]),
            )
        )
    if rows:
        subject = _execution_subject(session, execution)
        write_entries(_connection(session), [{**row, **subject} for row in rows])


def record_person_step(
    session: Session, run: PlaybookStepExecution, previous: StepStatus, status: StepStatus
) -> None:
    """A person's decision on a manual or approval step: approve, reject, complete, fail."""
    action = _PERSON_ACTIONS.get((run.step_type, status)) if run.step_type else None
    if action is None:
        return
    execution = run.__dict__.get("execution") or session.identity_map.get(
        identity_key(PlaybookExecution, run.playbook_execution_id)
    )
    if isinstance(execution, PlaybookExecution) and "execution_id" in execution.__dict__:
        subject = _execution_subject(session, execution)
    else:
        subject = _stored_subject(session, run.playbook_execution_id)
    reason = run.error_message if status is StepStatus.FAILED else None
    if action is AuditAction.APPROVE:
        reason = (run.output_data or {}).get("comment")
    row = entry(
        action,
        run.completed_by or current_actor() or SYSTEM,
        step_name=run.step_name,
        from_status=str(previous),
        to_status=str(status),
        reason=reason,
    )
    write_entries(_connection(session), [{**row, **subject}])


def record_retry(
    session: Session,
    execution: PlaybookExecution,
    step_name: str,
    previous: StepStatus,
    retried: list[str],
    actor: str | None,
) -> None:
    """A person's retry of ``step_name`` (``retried``: the failed steps that run again)."""
    row = entry(
        AuditAction.RETRY,
        resolve_actor(actor),
        step_name=step_name,
        from_status=str(previous),
        to_status=str(StepStatus.PENDING),
        details={"retried": retried},
    )
    write_entries(_connection(session), [{**row, **_execution_subject(session, execution)}])


def record_playbook_change(
    session: Session, playbook: Playbook, previous: PlaybookStatus, status: PlaybookStatus
) -> None:
    """Publish, archive, deprecate: by the actor in effect when the method was called."""
    action = PLAYBOOK_ACTIONS.get(status)
    if action is None:
        return
    acted = inspect(playbook).info.pop(TRANSITION_ACTOR, None) or transition_actor()
    row = entry(
        action,
        acted["by"],
        from_status=str(previous) if previous is not None else None,
        to_status=str(status),
        request_id=acted.get("request_id"),
        **playbook_subject(playbook),
    )
    write_entries(_connection(session), [row])


def record_end(
    connection: Connection,
    *,
    execution_id: str,
    playbook_id: int,
    change: dict[str, Any],
) -> None:
    """The row of a run the engine ended (``finish_execution``): one INSERT, its playbook's
    columns read by subqueries (the playbook row is already locked by the metrics)."""
    target = ExecutionStatus(change["to"])
    row = entry(
        EXECUTION_ACTIONS[(ExecutionStatus.RUNNING, target)],
        change.get("by") or SYSTEM,
        execution_id=execution_id,
        from_status=change["from"],
        to_status=str(target),
        reason=change.get("reason"),
        request_id=change.get("request_id", current_request_id()),
        created_at=datetime.fromisoformat(change["when"]),
    )
    playbooks = table_of(Playbook)

    def column_of_playbook(name: str) -> Any:
        return select(playbooks.c[name]).where(playbooks.c.id == playbook_id).scalar_subquery()

    row.update(
        playbook_uuid=column_of_playbook("uuid"),
        playbook_name=column_of_playbook("name"),
        playbook_version=column_of_playbook("version"),
    )
    connection.execute(insert(table_of(AuditEntry)).values(row))
