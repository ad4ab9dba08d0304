"""``agentical audit``: read the audit trail, newest first."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from agentical.cli.clean import moment_ago
from agentical.cli.context import settings
from agentical.cli.output import JsonOption, info, print_json, print_table, reports_errors, table
from agentical.db.audit import AuditAction
from agentical.db.history import audit_trail
from agentical.db.models.audit import AuditEntry


def _subject(entry: AuditEntry) -> str:
    parts = []
    if entry.playbook_name is not None:
        parts.append(f"{entry.playbook_name} v{entry.playbook_version}")
    if entry.execution_id is not None:
        parts.append(f"run {entry.execution_id}")
    if entry.step_name is not None:
        parts.append(f"step {entry.step_name}")
    return ", ".join(parts) or "-"


def _change(entry: AuditEntry) -> str:
    if entry.to_status is None:
        return "-"
    return f"{entry.from_status or '-'} -> {entry.to_status}"


@reports_errors
def show_trail(
    ctx: typer.Context,
    playbook: Annotated[
        str | None, typer.Option(help="Only this playbook's entries (every version).")
    ] = None,
    execution: Annotated[
        str | None, typer.Option(help="Only this execution's entries (its execution id).")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only what this person did.")] = None,
    action: Annotated[AuditAction | None, typer.Option(help="Only this action.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only the entries of the last 7d, 12h, 30m...")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Who did what to which playbook or execution, newest first."""
    start = None if since is None else moment_ago(since, "--since")
    statement = audit_trail(
        playbook=playbook, execution=execution, actor=actor, action=action, since=start
    ).limit(limit)
    grid = table("when (UTC)", "actor", "action", "subject", "status", "reason")
    with settings(ctx).session() as session:
        entries = session.scalars(statement).all()
        if as_json:
            print_json([entry.to_dict() for entry in entries])
            return
        for entry in entries:
            grid.add_row(
                f"{entry.created_at:%Y-%m-%d %H:%M:%S}",
                Text(entry.actor),
                str(entry.action),
                Text(_subject(entry)),
                _change(entry),
                Text(entry.reason or ""),
            )
    if grid.row_count == 0:
        info("no audit entries")
        return
    print_table(grid)
