"""The plan of a stored execution, looked up once per process.

A snapshot never changes after the execution is created, so a worker that finishes steps
of an execution it did not load reads the snapshot once and keeps the plan by its id.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.step_plan import plan_of
from agentical.db.plan import Plan, is_snapshot, plan_for

EXECUTIONS_KEPT = 4096

_by_execution: OrderedDict[int, Plan] = OrderedDict()
_lock = threading.Lock()


def _remember(execution_id: int, plan: Plan) -> Plan:
    with _lock:
        _by_execution[execution_id] = plan
        _by_execution.move_to_end(execution_id)
        if len(_by_execution) > EXECUTIONS_KEPT:
            _by_execution.popitem(last=False)
    return plan


def plan_by_id(session: Session, execution_id: int) -> Plan:
    """The plan of the stored execution ``execution_id``: from the session's copy when it
    holds one, else read once per process (on the connection: no autoflush)."""
    with _lock:
        plan = _by_execution.get(execution_id)
    if plan is not None:
        return plan
    loaded = session.identity_map.get(identity_key(PlaybookExecution, execution_id))
    if isinstance(loaded, PlaybookExecution) and "definition_snapshot" in loaded.__dict__:
        return _remember(execution_id, plan_of(loaded))
    row = (
        connection_for(session, PlaybookExecution)
        .execute(
            select(PlaybookExecution.definition_snapshot, PlaybookExecution.definition_hash).where(
                PlaybookExecution.id == execution_id
            )
        )
        .one()
    )
    if is_snapshot(row.definition_snapshot):
        return _remember(execution_id, plan_for(row.definition_snapshot, row.definition_hash))
    execution = session.get(PlaybookExecution, execution_id)
    assert execution is not None
    return plan_of(execution)
