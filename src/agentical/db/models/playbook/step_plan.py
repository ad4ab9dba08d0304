"""An execution's plan, read from its own snapshot (see ``agentical.db.plan``).

An execution made without a snapshot (rows built by hand) is given its playbook's
snapshot when it is first planned, and follows that from then on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import object_session

from agentical.db.models.playbook.builder import snapshot_of
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.plan import Plan, is_snapshot, plan_for

if TYPE_CHECKING:
    from agentical.db.models.playbook.execution import PlaybookExecution


def ensure_snapshot(execution: PlaybookExecution) -> None:
    """Give an execution made without one the snapshot of its playbook as it is now."""
    if is_snapshot(execution.definition_snapshot):
        return
    playbook = execution.playbook
    session = object_session(execution)
    if playbook is None and session is not None and execution.playbook_id is not None:
        playbook = session.get(Playbook, execution.playbook_id)  # made from an id alone
    if playbook is None:
        raise ValueError(f"PlaybookExecution {execution.execution_id} names no playbook")
    execution.definition_snapshot, execution.definition_hash = snapshot_of(playbook)


def plan_of(execution: PlaybookExecution) -> Plan:
    """The plan ``execution`` runs, compiled once per definition hash."""
    ensure_snapshot(execution)
    snapshot = execution.definition_snapshot
    assert snapshot is not None
    return plan_for(snapshot, execution.definition_hash)
