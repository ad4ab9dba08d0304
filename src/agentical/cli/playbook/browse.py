"""Read-only views of stored playbooks: list, show, stats."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from rich.tree import Tree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agentical.cli.context import settings
from agentical.cli.lookup import find_playbook
from agentical.cli.output import (
    JsonOption,
    console,
    info,
    print_json,
    print_table,
    reports_errors,
    table,
)
from agentical.db.details import playbook_detail
from agentical.db.history import most_failing_steps
from agentical.db.lookups import latest_versions
from agentical.db.models.playbook import (
    SECRET_MASK,
    Playbook,
    PlaybookCategory,
    PlaybookExecution,
    PlaybookStatus,
    PlaybookStep,
    PlaybookVariable,
)

NameArgument = Annotated[str, typer.Argument(help="The playbook's name.")]
VersionOption = Annotated[int | None, typer.Option(help="Version (default: latest).")]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _rate(successes: int | None, total: int | None) -> str:
    return f"{100.0 * (successes or 0) / total:.0f}%" if total else "-"


@reports_errors
def list_playbooks(
    ctx: typer.Context,
    status: Annotated[PlaybookStatus | None, typer.Option(help="Only this status.")] = None,
    category: Annotated[PlaybookCategory | None, typer.Option(help="Only this category.")] = None,
    all_versions: Annotated[bool, typer.Option(help="Every version, not only the latest.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List the playbooks (latest versions) as a table, one row a line."""
    query = select(Playbook).where(Playbook.is_active.is_(True))
    if not all_versions:
        query = latest_versions(query)
    if status is not None:
        query = query.where(Playbook.status == status)
    if category is not None:
        query = query.where(Playbook.category == category)
    grid = table("name", "version", "status", "category", "steps", "runs", "success", "mean")
    with settings(ctx).session() as session:
        playbooks = session.scalars(query.order_by(Playbook.name, Playbook.version)).all()
        if as_json:
            print_json([playbook.to_dict() for playbook in playbooks])
            return
        for playbook in playbooks:
            grid.add_row(
                Text(playbook.name),
                str(playbook.version),
                str(playbook.status),
                str(playbook.category),
                str(playbook.step_count),
                str(playbook.total_executions),
                _rate(playbook.successful_executions, playbook.total_executions),
                _seconds(playbook.average_execution_time if playbook.total_executions else None),
            )
    if grid.row_count == 0:
        info("no playbooks match" if status or category else "no playbooks yet")
        return
    print_table(grid)


def _step_label(step: PlaybookStep) -> Text:
    label = Text.assemble(
        (f"{step.step_order}. ", "dim"), (step.step_name, "bold"), f" ({step.step_type})"
    )
    if step.display_name:
        label.append(f" {step.display_name}")
    if step.is_optional:
        label.append(" optional", "italic")
    return label


def _steps_tree(playbook: Playbook) -> Tree:
    tree = Tree(Text.assemble(("steps", "bold"), f" ({playbook.step_count})"))
    for step in playbook.steps:
        node = tree.add(_step_label(step))
        if step.depends_on:
            after = ", ".join(dependency.step_name for dependency in step.depends_on)
            node.add(Text.assemble(("after ", "cyan"), after))
        for key, value in (step.parameters or {}).items():
            node.add(Text(f"{key}: {value}"))
    return tree


def _constraints(variable: PlaybookVariable) -> str:
    parts: list[str] = []
    if variable.enum_values:
        parts.append("one of " + ", ".join(str(option) for option in variable.enum_values))
    for label, value in (
        ("min", variable.min_value),
        ("max", variable.max_value),
        ("min length", variable.min_length),
        ("max length", variable.max_length),
        ("pattern", variable.pattern),
    ):
        if value is not None:
            parts.append(f"{label} {value}")
    return "; ".join(parts)


def _default(variable: PlaybookVariable) -> Any:
    if variable.default_value is None:
        return ""
    return SECRET_MASK if variable.is_sensitive else str(variable.default_value)


def _variables_table(playbook: Playbook) -> Table:
    grid = table("variable", "type", "required", "default", "constraints", title="variables")
    for variable in playbook.variables:
        name = variable.variable_name + (" (sensitive)" if variable.is_sensitive else "")
        grid.add_row(
            Text(name),
            str(variable.variable_type),
            "yes" if variable.is_required else "",
            Text(_default(variable)),
            Text(_constraints(variable)),
        )
    return grid


@reports_errors
def show(
    ctx: typer.Context,
    name: NameArgument,
    version: VersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a playbook: its steps as a tree with their dependencies, and its variables."""
    with settings(ctx).session() as session:
        playbook = find_playbook(session, name, version)
        if as_json:
            print_json(playbook_detail(playbook))
            return
        console.print(
            Text.assemble(
                (playbook.name, "bold"),
                f"  version {playbook.version} · {playbook.status} · {playbook.category}",
            )
        )
        for label, value in (
            ("description", playbook.description),
            ("purpose", playbook.purpose),
            ("strategy", playbook.strategy),
            ("tags", ", ".join(playbook.get_tags())),
            ("success criteria", "; ".join(playbook.get_success_criteria())),
        ):
            if value:
                console.print(Text.assemble((f"{label}: ", "dim"), value))
        console.print(_steps_tree(playbook))
        if playbook.variables:
            print_table(_variables_table(playbook))


def _statistics(session: Session, playbook: Playbook) -> dict[str, Any]:
    """What ``stats`` reports, as plain data (the text and the JSON output show the same)."""
    by_status = session.execute(
        select(PlaybookExecution.status, func.count())
        .where(PlaybookExecution.playbook_id == playbook.id)
        .group_by(PlaybookExecution.status)
        .order_by(PlaybookExecution.status)
    ).all()
    failing = session.execute(most_failing_steps(playbook.id, limit=5)).all()
    return {
        "name": playbook.name,
        "version": playbook.version,
        "finished_runs": playbook.total_executions or 0,
        "successful_runs": playbook.successful_executions or 0,
        "mean_seconds": playbook.average_execution_time if playbook.total_executions else None,
        "executions_by_status": {str(status): count for status, count in by_status},
        "steps": [
            {
                "step_name": step.step_name,
                "runs": step.total_executions or 0,
                "successful_runs": step.successful_executions or 0,
                "mean_seconds": step.average_execution_time if step.total_executions else None,
            }
            for step in playbook.steps
        ],
        "most_failed_steps": [{"step_name": step, "failures": count} for step, count in failing],
    }


def _print_statistics(report: dict[str, Any]) -> None:
    total = report["finished_runs"]
    console.print(
        Text.assemble(
            (report["name"], "bold"),
            f"  version {report['version']}: {total} finished run{'' if total == 1 else 's'}, "
            f"{_rate(report['successful_runs'], total)} successful, "
            f"mean {_seconds(report['mean_seconds'])}",
        )
    )
    if report["executions_by_status"]:
        counts = report["executions_by_status"].items()
        console.print("executions: " + ", ".join(f"{count} {status}" for status, count in counts))
    steps = table("step", "runs", "success", "mean", title="steps")
    for step in report["steps"]:
        steps.add_row(
            Text(step["step_name"]),
            str(step["runs"]),
            _rate(step["successful_runs"], step["runs"]),
            _seconds(step["mean_seconds"]),
        )
    print_table(steps)
    failing = report["most_failed_steps"]
    if failing:
        console.print(
            "most failed steps: "
            + ", ".join(f"{step['step_name']} ({step['failures']})" for step in failing)
        )
    else:
        console.print("no step has failed")


@reports_errors
def stats(
    ctx: typer.Context,
    name: NameArgument,
    version: VersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Runs, success rate, mean duration and the steps that fail most."""
    with settings(ctx).session() as session:
        report = _statistics(session, find_playbook(session, name, version))
    if as_json:
        print_json(report)
    else:
        _print_statistics(report)
