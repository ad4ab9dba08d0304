"""Fenced leases: a claimed step run is finished, failed or extended only by its holder.

Every claim raises the run's ``attempt``; the claim hands its holder that number as the
lease's token. Finishing, failing, extending or releasing the run is one UPDATE that
matches ``id``, ``attempt = token`` and ``status = 'running'``: if the lease was taken
over, timed out, or the execution was cancelled, no row matches, nothing changes, and
``LeaseLostError`` says so. The token is kept here, outside the mapped attributes, so a
reload (``expire_on_commit``, a rollback) cannot replace it with the new holder's.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace
from datetime import datetime

from agentical.db.errors import LeaseLostError
from agentical.db.models.playbook.step_execution import PlaybookStepExecution


@dataclass(frozen=True, slots=True)
class Lease:
    """What a worker holds after a claim: enough to finish the run without reading it."""

    step_run_id: int
    execution_id: int
    step_name: str
    playbook_step_id: int | None
    token: int
    worker_id: str
    started_at: datetime
    retry_count: int
    lease_seconds: float
    definition_hash: str | None = None


_held: weakref.WeakKeyDictionary[PlaybookStepExecution, Lease] = weakref.WeakKeyDictionary()


def hold(step_run: PlaybookStepExecution, lease: Lease) -> None:
    _held[step_run] = lease


def lease_of(step_run: PlaybookStepExecution | Lease, token: int | None = None) -> Lease:
    """The lease held on ``step_run`` in this process (``token`` overrides its token)."""
    if isinstance(step_run, Lease):
        lease = step_run
    else:
        held = _held.get(step_run)
        if held is None:
            raise LeaseLostError(
                step_run.step_name, step_run.id, token or 0, "not claimed through this process"
            )
        lease = held
    if token is not None and token != lease.token:
        return replace(lease, token=token)
    return lease


def lost(lease: Lease, reason: str = "taken over, timed out, or its execution cancelled") -> None:
    raise LeaseLostError(lease.step_name, lease.step_run_id, lease.token, reason)


def held_lease(step_run: PlaybookStepExecution) -> Lease | None:
    """The lease this process holds on ``step_run``, if it claimed it."""
    return _held.get(step_run)
