"""An execution's plan, read from its own snapshot (see ``agentical.db.plan``).

The one place an execution's definition document is reached: ``plan_of`` compiles it
once per definition hash (no document is read for a hash already compiled).
An execution made without a snapshot (rows built by hand) is given its playbook's
snapshot when it is first planned, and follows that from then on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import object_session

from agentical.db.models.playbook.current_snapshot import current_snapshot
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.snapshot import DefinitionSnapshot
from agentical.db.plan import Plan, compiled_plan, plan_for

if TYPE_CHECKING:
    from agentical.db.models.playbook.execution import PlaybookExecution


def has_snapshot(execution: PlaybookExecution) -> bool:
    return execution.snapshot_id is not None or execution.__dict__.get("snapshot") is not None


def ensure_snapshot(execution: PlaybookExecution) -> None:
    """Give an execution made without one the snapshot of its playbook as it is now
    (stored at the flush, once per content hash: ``snapshot.stored_snapshot``)."""
    if has_snapshot(execution):
        return
    playbook = execution.playbook
    session = object_session(execution)
    if playbook is None and session is not None and execution.playbook_id is not None:
        playbook = session.get(Playbook, execution.playbook_id)  # made from an id alone
    if playbook is None:
        raise ValueError(f"PlaybookExecution {execution.execution_id} names no playbook")
    follow(execution, *current_snapshot(playbook))


def follow(execution: PlaybookExecution, document: dict[str, Any], digest: str) -> None:
    """Make ``execution`` run the definition ``document`` (content hash ``digest``)."""
    execution.snapshot = DefinitionSnapshot.of(document, digest)
    execution.definition_hash = digest


def plan_of(execution: PlaybookExecution) -> Plan:
    """The plan ``execution`` runs, compiled once per definition hash."""
    ensure_snapshot(execution)
    if execution.definition_hash is not None:
        plan = compiled_plan(execution.definition_hash)
        if plan is not None:
            return plan
    snapshot = execution.snapshot
    assert snapshot is not None, "ensure_snapshot gave it one"
    return plan_for(snapshot.document, snapshot.content_hash)
