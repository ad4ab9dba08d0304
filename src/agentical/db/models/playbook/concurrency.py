"""Start an execution only while its playbook has a free slot (``max_concurrent_executions``).

The count of executions in flight and the start are decided under a lock on the playbook
row, held until the caller commits, so racing starters are serialised:

- PostgreSQL: ``SELECT ... FOR NO KEY UPDATE`` on the playbook (it still lets other
  transactions insert executions that point at it); the count runs at READ COMMITTED (the
  default), so it sees every start committed before the lock was granted.
- MariaDB: ``SELECT ... FOR UPDATE`` on the playbook, and the count is a locking read
  (``LOCK IN SHARE MODE``), which reads the latest committed rows even under the default
  REPEATABLE READ.
- SQLite: the database's single write lock, taken before anything is read.

``PlaybookExecution.start_execution()`` stays a plain state change that needs no session;
this function is the checked way to start one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus
from agentical.db.errors import ConcurrencyLimitError
from agentical.db.lifecycle import EXECUTION_TRANSITIONS, check_transition
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.locking import (
    begin_read_committed,
    is_mysql_family,
    take_sqlite_write_lock,
)
from agentical.db.models.playbook.playbook import Playbook

# A paused execution holds its slot: resuming it must never exceed the limit.
SLOT_HOLDING_STATUSES = (ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)


def count_active_executions(session: Session, playbook_id: int) -> int:
    """Executions of ``playbook_id`` that hold a slot (running or paused), as committed."""
    statement = (
        select(func.count())
        .select_from(PlaybookExecution)
        .where(
            PlaybookExecution.playbook_id == playbook_id,
            PlaybookExecution.status.in_(SLOT_HOLDING_STATUSES),
        )
    )
    if is_mysql_family(session, PlaybookExecution):
        statement = statement.with_for_update(read=True)
    return session.execute(statement).scalar_one()


def start_execution(
    session: Session,
    execution: PlaybookExecution,
    input_variables: dict[str, Any] | None = None,
) -> PlaybookExecution:
    """Start ``execution`` (pending -> running) if its playbook has a free slot.

    Raises ``ConcurrencyLimitError`` (and changes nothing) when the playbook already has
    ``max_concurrent_executions`` running or paused, ``InvalidTransitionError`` when the
    execution is not pending. The playbook row stays locked until the caller commits or
    rolls back: commit promptly.
    """
    label = f"PlaybookExecution {execution.execution_id}"
    check_transition(label, EXECUTION_TRANSITIONS, execution.status, ExecutionStatus.RUNNING)
    begin_read_committed(session, Playbook)
    session.add(execution)
    take_sqlite_write_lock(session, Playbook)
    session.flush()
    limit = session.execute(
        select(Playbook.max_concurrent_executions)
        .where(Playbook.id == execution.playbook_id)
        .with_for_update(key_share=True)
    ).scalar_one()
    active = count_active_executions(session, execution.playbook_id)
    if active >= limit:
        raise ConcurrencyLimitError(execution.playbook_id, limit, active)
    execution.start_execution(input_variables)
    session.flush()
    return execution
