"""The plan of a stored execution, without loading it.

A snapshot never changes after the execution is created and plans are compiled once per
definition hash, so a worker that finishes steps of an execution it did not load needs
the hash (which its lease carries) and reads a snapshot only for a new definition.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.snapshot import DefinitionSnapshot
from agentical.db.models.playbook.step_plan import plan_of
from agentical.db.plan import Plan, compiled_plan, plan_for


def plan_by_id(session: Session, execution_id: int, digest: str | None = None) -> Plan:
    """The plan of the stored execution ``execution_id``: from the session's copy when it
    holds one; else by its definition hash (``digest``, or read: a small indexed read)
    from the plans already compiled, reading the snapshot only for a definition not seen
    yet. Statements run on the connection: no autoflush."""
    loaded = session.identity_map.get(identity_key(PlaybookExecution, execution_id))
    if isinstance(loaded, PlaybookExecution) and "snapshot_id" in loaded.__dict__:
        return plan_of(loaded)
    if digest is None:
        digest = connection_for(session, PlaybookExecution).scalar(
            select(PlaybookExecution.definition_hash).where(PlaybookExecution.id == execution_id)
        )
    plan = compiled_plan(digest) if digest is not None else None
    if plan is not None:
        return plan
    row = (
        connection_for(session, PlaybookExecution)
        .execute(
            select(DefinitionSnapshot.document, DefinitionSnapshot.content_hash)
            .join(PlaybookExecution, PlaybookExecution.snapshot_id == DefinitionSnapshot.id)
            .where(PlaybookExecution.id == execution_id)
        )
        .first()
    )
    if row is not None:
        return plan_for(row.document, row.content_hash)
    execution = session.get(PlaybookExecution, execution_id)
    assert execution is not None
    return plan_of(execution)


def stored_variables(connection: Connection, execution_id: int) -> dict[str, Any]:
    """A stored execution's variables (inputs, overridden by outputs), as templates and
    conditions read them; one read, without loading the execution."""
    row = connection.execute(
        select(PlaybookExecution.input_variables, PlaybookExecution.output_variables).where(
            PlaybookExecution.id == execution_id
        )
    ).one()
    return {**(row.input_variables or {}), **(row.output_variables or {})}
