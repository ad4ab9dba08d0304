"""An execution's timeline for ``execution show``: from the audit trail (who did each
transition and decision, and why), or, for a run that has no trail rows (made before the
trail existed), from its ``status_history``."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from agentical.cli.output import table
from agentical.db.audit import AuditAction
from agentical.db.history import audit_trail
from agentical.db.models.playbook import PlaybookExecution

# The trail's actions that are a person's decision on one step.
DECISIONS = frozenset({AuditAction.APPROVE, AuditAction.REJECT, AuditAction.COMPLETE_STEP})


def trail_of(session: Session, execution: PlaybookExecution) -> list[dict[str, Any]]:
    """The execution's audit entries, oldest first, as JSON-ready documents (the trail
    keeps no input value: nothing to mask)."""
    entries = session.scalars(audit_trail(execution=execution)).all()
    return [entry.to_dict() for entry in reversed(entries)]


def deciders(trail: list[dict[str, Any]]) -> dict[str, str]:
    """Step name -> the person who last approved, rejected or completed it."""
    return {
        entry["step_name"]: entry["actor"]
        for entry in trail
        if entry["step_name"] and AuditAction(entry["action"]) in DECISIONS
    }


def timeline(document: dict[str, Any]) -> Table:
    trail: list[dict[str, Any]] = document.get("audit_trail") or []
    if not trail:
        return _from_status_history(document["status_history"])
    grid = table("when", "who", "action", "step", "from", "to", "reason", title="timeline")
    for entry in trail:
        grid.add_row(
            str(entry["created_at"]),
            Text(entry["actor"]),
            str(entry["action"]),
            Text(entry["step_name"] or ""),
            str(entry["from_status"] or ""),
            str(entry["to_status"] or ""),
            Text(entry["reason"] or ""),
        )
    return grid


def _from_status_history(changes: list[dict[str, Any]]) -> Table:
    grid = table("when", "who", "from", "to", "reason", title="timeline")
    for change in changes:
        grid.add_row(
            str(change.get("when", "")),
            Text(str(change.get("by") or "")),
            str(change.get("from") or ""),
            str(change.get("to", "")),
            Text(str(change.get("reason") or "")),
        )
    return grid
