"""Read-only views of executions: a page of them, and one with its steps and timeline.

Both read the library's JSON-ready documents (``to_dict``, ``execution_detail``), which
mask sensitive inputs: the text shown is drawn from the same masked data as ``--json``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text
from sqlalchemy import select

from agentical.cli.context import Settings, settings
from agentical.cli.execution.timeline import deciders, timeline, trail_of
from agentical.cli.lookup import find_execution
from agentical.cli.output import (
    JsonOption,
    console,
    info,
    print_json,
    print_table,
    reports_errors,
    table,
)
from agentical.db import history
from agentical.db.details import execution_detail
from agentical.db.history.pagination import MAX_PAGE_SIZE
from agentical.db.models.playbook import ExecutionStatus, Playbook, PlaybookExecution, StepStatus

ExecutionArgument = Annotated[
    str, typer.Argument(help="The execution's id (or the start of it, if only one id starts so).")
]
ENDED = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED})
# Attempts made so far: the retries counted, plus the one running or finished by a run.
_RAN = frozenset({StepStatus.RUNNING, StepStatus.COMPLETED, StepStatus.FAILED})


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _playbook_names(session: Any, executions: list[PlaybookExecution]) -> dict[int, str]:
    ids = {execution.playbook_id for execution in executions}
    rows = session.execute(
        select(Playbook.id, Playbook.name, Playbook.version).where(Playbook.id.in_(ids))
    )
    return {row.id: f"{row.name} v{row.version}" for row in rows}


@reports_errors
def list_executions(
    ctx: typer.Context,
    status: Annotated[ExecutionStatus | None, typer.Option(help="Only this status.")] = None,
    playbook: Annotated[
        str | None, typer.Option(help="Only runs of this playbook (every version).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE, help="Executions per page.")] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="The next page: the cursor the previous page printed.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List executions, newest first, a page at a time."""
    statement = history.recent_executions(status)
    with settings(ctx).session() as session:
        if playbook is not None:
            ids = select(Playbook.id).where(Playbook.name == playbook.strip())
            statement = statement.where(PlaybookExecution.playbook_id.in_(ids))
        page = history.page_of(session, statement, cursor=cursor, limit=limit)
        executions = list(page.items)
        if as_json:
            items = [execution.to_dict() for execution in executions]
            print_json({"items": items, "next_cursor": page.next_cursor})
            return
        names = _playbook_names(session, executions)
        grid = table("execution", "playbook", "status", "progress", "steps", "created", "duration")
        for execution in executions:
            grid.add_row(
                execution.execution_id,
                Text(names.get(execution.playbook_id, "-")),
                str(execution.status),
                f"{execution.progress_percentage:.0f}%",
                f"{execution.completed_steps}/{execution.total_steps}",
                execution.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                seconds(execution.execution_time_seconds),
            )
    if not executions:
        info("no executions match" if status or playbook or cursor else "no executions yet")
        return
    print_table(grid)
    if page.next_cursor:
        info(f"more: --cursor {page.next_cursor}")


def attempts(step: dict[str, Any]) -> int:
    return int(step["retry_count"]) + (StepStatus(step["status"]) in _RAN)


def _who(step: dict[str, Any], decided: dict[str, str]) -> str:
    if step["step_name"] in decided:  # approved, rejected or completed by a person
        return decided[step["step_name"]]
    if step.get("completed_by"):
        return str(step["completed_by"])
    return str(step.get("claimed_by") or "")


def render(document: dict[str, Any], playbook: str) -> list[RenderableType]:
    """An execution's detail document as text: summary, steps, timeline."""
    header = Text.assemble(
        ("execution ", ""),
        (document["execution_id"], "bold"),
        f"  {playbook} · {document['status']} · {document['progress_percentage']:.0f}%",
    )
    lines: list[RenderableType] = [header]
    facts = [
        ("started", document["started_at"]),
        ("started by", document.get("started_by")),
        ("triggered by", document["triggered_by"]),
        ("finished", document["completed_at"]),
        (
            "duration",
            document["execution_time_seconds"] and seconds(document["execution_time_seconds"]),
        ),
        ("error", document["error_message"]),
        ("cancelled because", document["cancellation_reason"]),
        (
            "inputs",
            ", ".join(f"{key}={value}" for key, value in document["input_variables"].items()),
        ),
    ]
    for label, value in facts:
        if value:
            lines.append(Text.assemble((f"{label}: ", "dim"), str(value)))
    steps = table("#", "step", "type", "status", "attempts", "duration", "by", "note")
    decided = deciders(document.get("audit_trail") or [])
    for step in document["step_executions"]:
        steps.add_row(
            str(step["step_order"]),
            Text(step["step_name"] or ""),
            str(step["step_type"] or ""),
            str(step["status"]),
            str(attempts(step)),
            seconds(step["duration_seconds"]),
            Text(_who(step, decided)),
            Text(step["error_message"] or ""),
        )
    lines.append(steps)
    lines.append(timeline(document))
    return lines


def _read(context: Settings, reference: str) -> tuple[dict[str, Any], str]:
    with context.session() as session:
        execution = find_execution(session, reference)
        playbook = execution.playbook
        label = "-" if playbook is None else f"{playbook.name} v{playbook.version}"
        return execution_detail(execution) | {"audit_trail": trail_of(session, execution)}, label


@reports_errors
def show(
    ctx: typer.Context,
    execution: ExecutionArgument,
    watch: Annotated[
        bool, typer.Option(help="Redraw until the execution ends (Ctrl-C stops watching).")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, max=3600, help="With --watch: seconds between redraws.")
    ] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Show an execution: its steps (status, attempts, duration, who) and its timeline
    (who did what, from the audit trail). ``--json`` adds ``audit_trail``, oldest first."""
    if watch and as_json:
        raise ValueError("--watch draws on the terminal: leave out --json")
    context = settings(ctx)
    document, playbook = _read(context, execution)
    if as_json:
        print_json(document)
        return
    if not watch:
        for part in render(document, playbook):
            if isinstance(part, Table):
                print_table(part)
            else:
                console.print(part)
        return
    drawing = Group(*render(document, playbook))
    try:
        with Live(drawing, console=console, auto_refresh=False) as live:
            while ExecutionStatus(document["status"]) not in ENDED:
                time.sleep(interval)
                document, playbook = _read(context, document["execution_id"])
                live.update(Group(*render(document, playbook)), refresh=True)
    except KeyboardInterrupt:
        return
