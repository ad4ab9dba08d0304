"""A worker's moves on a claimed step run: complete, fail, heartbeat, release.

Each is one UPDATE fenced by the lease's token (see ``leases``): a run the worker no longer
holds raises ``LeaseLostError`` and nothing changes. What the outcome means for the rest
of the run (dependants, counts, the execution's end) is queued for ``settlement`` and
written in the same transaction: at the commit, or before, at a flush of other changes or
the session's next query (a ``flush()`` with nothing else to write does not run it).
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Integer, bindparam, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from agentical.db.enums import StepStatus
from agentical.db.errors import InvalidInputError
from agentical.db.limits import text_problem
from agentical.db.models.base import table_of
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.observability import event_at_commit
from agentical.db.runs import settlement
from agentical.db.runs.claims import check_lease_seconds, write_queued_claims
from agentical.db.runs.clock import (
    clock_values,
    later_sql,
    now_parameter_sql,
    now_sql,
    seconds_since_parameter_sql,
    seconds_since_sql,
)
from agentical.db.runs.leases import Lease, lease_of, lost
from agentical.db.runs.plans import plan_by_id
from agentical.db.runs.wakeup import announce_ready
from agentical.db.types import ensure_json, utc_now

# Attributes written by the database's clock: a session's copy reloads them when read.
_CLOCK_ATTRIBUTES = ["completed_at", "execution_time_seconds", "updated_at", "row_version"]


def _fenced(session: Session, lease: Lease, values: dict[str, Any]) -> None:
    """Write ``values`` to the leased run if the lease still holds; else raise."""
    write_queued_claims(session)
    runs = table_of(PlaybookStepExecution).c
    result = connection_for(session, PlaybookStepExecution).execute(
        update(table_of(PlaybookStepExecution))
        .where(
            runs.id == lease.step_run_id,
            runs.attempt == lease.token,
            runs.status == StepStatus.RUNNING,
        )
        .values({**values, "row_version": runs.row_version + 1})
    )
    if result.rowcount != 1:
        lost(lease)


def _show(session: Session, step_run: PlaybookStepExecution | Lease, **values: Any) -> None:
    """The session's copy of the run takes the values written (no ORM write follows)."""
    if isinstance(step_run, Lease):
        return
    for key, value in values.items():
        set_committed_value(step_run, key, value)
    if step_run in session:
        session.expire(step_run, _CLOCK_ATTRIBUTES)


def _finished_values(session: Session, lease: Lease) -> dict[str, Any]:
    connection = connection_for(session, PlaybookStepExecution)
    runs = table_of(PlaybookStepExecution).c
    return {
        "completed_at": now_sql(connection),
        "execution_time_seconds": seconds_since_sql(connection, runs.started_at, utc_now()),
        "claim_due_at": None,
        "lease_expires_at": None,
        "deadline_at": None,
        "updated_at": utc_now(),
    }


@functools.lru_cache(maxsize=8)
def _completion(dialect: str) -> Any:
    """The fenced UPDATE that completes a run, built once per database (the hot path)."""
    runs = table_of(PlaybookStepExecution).c
    return (
        update(table_of(PlaybookStepExecution))
        .where(
            runs.id == bindparam("run_id", type_=Integer()),
            runs.attempt == bindparam("token", type_=Integer()),
            runs.status == StepStatus.RUNNING,
        )
        .values(
            status=StepStatus.COMPLETED,
            output_data=bindparam("output", type_=runs.output_data.type),
            completed_at=now_parameter_sql(dialect),
            execution_time_seconds=seconds_since_parameter_sql(dialect, runs.started_at),
            claim_due_at=None,
            lease_expires_at=None,
            deadline_at=None,
            updated_at=bindparam("updated_at", type_=runs.updated_at.type),
            row_version=runs.row_version + 1,
        )
    )


def complete_step(
    session: Session,
    step_run: PlaybookStepExecution | Lease,
    output_data: dict[str, Any] | None = None,
    *,
    token: int | None = None,
) -> None:
    """Complete a claimed run with ``output_data``, if its lease still holds.

    Raises ``LeaseLostError`` (nothing changed) when the lease was taken over, timed out,
    or the execution was cancelled. Its dependants, the execution's counts and, when it
    was the last step, the execution's end are written at the next flush or commit.
    """
    if output_data is not None and not isinstance(output_data, dict):
        raise ValueError("output_data must be a dict")
    output = dict(output_data or {})
    ensure_json("PlaybookStepExecution.output_data", output)
    lease = lease_of(step_run, token)
    write_queued_claims(session)
    connection = connection_for(session, PlaybookStepExecution)
    dialect = connection.dialect.name
    result = connection.execute(
        _completion(dialect),
        {
            "run_id": lease.step_run_id,
            "token": lease.token,
            "output": output,
            "updated_at": utc_now(),
            **clock_values(dialect),
        },
    )
    if result.rowcount != 1:
        lost(lease)
    _show(
        session,
        step_run,
        status=StepStatus.COMPLETED,
        output_data=output,
        claim_due_at=None,
        lease_expires_at=None,
        deadline_at=None,
    )
    _settle(session, lease, StepStatus.COMPLETED)


def fail_step(
    session: Session,
    step_run: PlaybookStepExecution | Lease,
    error_message: str,
    *,
    token: int | None = None,
    retry: bool = True,
) -> bool:
    """Fail a claimed run's attempt, if its lease still holds; ``True`` when it will be
    retried (attempts left: pending again, due after the step's ``retry_delay_seconds``),
    ``False`` when it failed for good (its dependants and execution follow at the flush).
    ``retry=False`` fails it for good whatever attempts are left (an error a retry cannot
    fix).

    The message is kept exactly as given; one no database can store (a NUL, a lone
    surrogate, over 65,535 bytes) raises ``InvalidInputError``, and ``storable_text`` makes
    one that can. Raises ``LeaseLostError`` like ``complete_step``.
    """
    if not isinstance(error_message, str):
        raise ValueError("error_message must be a string")
    if (reason := text_problem(error_message, controls=False)) is not None:
        raise InvalidInputError(f"error_message {reason}")
    lease = lease_of(step_run, token)
    step = plan_by_id(session, lease.execution_id, lease.definition_hash).step(lease.step_name)
    retry_count = lease.retry_count
    if retry and retry_count < step.retry_attempts:
        connection = connection_for(session, PlaybookStepExecution)
        due = later_sql(connection, step.retry_delay_seconds)
        _fenced(
            session,
            lease,
            {
                "status": StepStatus.PENDING,
                "error_message": error_message,
                "retry_count": retry_count + 1,
                "claim_due_at": due,
                "next_attempt_at": due,
                "lease_expires_at": None,
                "deadline_at": None,
                "started_at": None,
                "updated_at": utc_now(),
            },
        )
        _show(
            session,
            step_run,
            status=StepStatus.PENDING,
            error_message=error_message,
            retry_count=retry_count + 1,
            lease_expires_at=None,
            deadline_at=None,
            started_at=None,
        )
        if not isinstance(step_run, Lease) and step_run in session:
            session.expire(step_run, ["claim_due_at", "next_attempt_at"])
        event_at_commit(
            session,
            "step.retry_scheduled",
            step_execution_id=lease.step_run_id,
            playbook_execution_id=lease.execution_id,
            step_name=lease.step_name,
            retry_count=retry_count + 1,
            delay_seconds=step.retry_delay_seconds,
        )
        return True
    _fenced(
        session,
        lease,
        {
            **_finished_values(session, lease),
            "status": StepStatus.FAILED,
            "error_message": error_message,
        },
    )
    _show(
        session,
        step_run,
        status=StepStatus.FAILED,
        error_message=error_message,
        claim_due_at=None,
        lease_expires_at=None,
        deadline_at=None,
    )
    _settle(session, lease, StepStatus.FAILED)
    return False


def heartbeat(
    session: Session,
    step_run: PlaybookStepExecution | Lease,
    lease_seconds: float | None = None,
    *,
    token: int | None = None,
) -> None:
    """Extend a held lease to ``lease_seconds`` from now (default: the claim's length),
    by the database's clock. Raises ``LeaseLostError`` when the lease is no longer held."""
    lease = lease_of(step_run, token)
    seconds = lease.lease_seconds if lease_seconds is None else check_lease_seconds(lease_seconds)
    until = later_sql(connection_for(session, PlaybookStepExecution), seconds)
    _fenced(session, lease, {"lease_expires_at": until, "claim_due_at": until})
    if not isinstance(step_run, Lease) and step_run in session:
        session.expire(step_run, ["lease_expires_at", "claim_due_at", "row_version"])


def release_step(
    session: Session, step_run: PlaybookStepExecution | Lease, *, token: int | None = None
) -> None:
    """Give a claimed run back unfinished (a worker stopping): pending and due now, for
    any worker; not a retry. Raises ``LeaseLostError`` when it was not held any more."""
    lease = lease_of(step_run, token)
    connection = connection_for(session, PlaybookStepExecution)
    _fenced(
        session,
        lease,
        {
            "status": StepStatus.PENDING,
            "claim_due_at": now_sql(connection),
            "lease_expires_at": None,
            "deadline_at": None,
            "claimed_by": None,
            "started_at": None,
            "updated_at": utc_now(),
        },
    )
    announce_ready(connection)
    _show(session, step_run, status=StepStatus.PENDING, claimed_by=None, lease_expires_at=None)
    event_at_commit(
        session,
        "step.released",
        step_execution_id=lease.step_run_id,
        playbook_execution_id=lease.execution_id,
        step_name=lease.step_name,
        worker=lease.worker_id,
    )


def _settle(session: Session, lease: Lease, outcome: StepStatus) -> None:
    plan = plan_by_id(session, lease.execution_id, lease.definition_hash)
    settlement.queue(session, lease.execution_id, plan, lease.step_name, outcome)
    event_at_commit(
        session,
        f"step.{outcome}",
        step_execution_id=lease.step_run_id,
        playbook_execution_id=lease.execution_id,
        step_name=lease.step_name,
        attempt=lease.token,
        worker=lease.worker_id,
        status=str(outcome),
    )
