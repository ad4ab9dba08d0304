"""``agentical playbook run``: start an execution, or simulate one to the end.

A simulation executes nothing: it walks the ready steps in dependency order, renders each
step's parameters (so a broken placeholder fails its step, as it would for real), and
completes the step with made-up values for the outputs later steps read. Everything is
recorded like a real run: the execution, its step executions, counters and metrics.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text

from agentical.cli.context import settings
from agentical.cli.lookup import find_playbook
from agentical.cli.output import console, reports_errors
from agentical.db.models.playbook import (
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
    RenderError,
    StepStatus,
    start_execution,
)
from agentical.db.rendering import iter_strings, step_output_reference, template_references

SIMULATED_FAILURE = "simulated failure"
_MARKS = {
    StepStatus.COMPLETED: ("✓", "green"),
    StepStatus.FAILED: ("✗", "red"),
    StepStatus.SKIPPED: ("-", "yellow"),
    StepStatus.PENDING: ("·", "dim"),
}


def parse_variables(pairs: list[str]) -> dict[str, str]:
    """``["key=value", ...]`` as a dict of raw text (the playbook's types coerce it)."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        key = key.strip()
        if not separator or not key:
            raise ValueError(
                "--var expects key=value: an argument has no '=' or no key (not shown)"
            )
        if key in values:
            raise ValueError(f"--var {key} is given twice")
        values[key] = value
    return values


def simulated_outputs(playbook: Playbook) -> dict[str, dict[str, Any]]:
    """For each step, a made-up value for every output key its dependants read."""
    outputs: dict[str, dict[str, Any]] = defaultdict(dict)
    for step in playbook.steps:
        for _path, text in iter_strings(step.parameters or {}):
            for chain in template_references(text):
                source = step_output_reference(chain)
                if source is not None and len(chain) > 3:
                    outputs[source][chain[3]] = f"<simulated {source}.{chain[3]}>"
    return outputs


def _run_step(
    execution: PlaybookExecution,
    run: PlaybookStepExecution,
    outputs: dict[str, dict[str, Any]],
    failing: set[str],
) -> None:
    run.start_step()
    try:
        execution.render_parameters(run)
    except RenderError as error:
        run.fail_step(str(error))
        return
    if run.step_name in failing:
        run.fail_step(SIMULATED_FAILURE)
    else:
        run.complete_step({**outputs.get(run.step_name, {}), "simulated": True})


def walk(
    execution: PlaybookExecution,
    outputs: dict[str, dict[str, Any]],
    failing: set[str],
    advance: Callable[[PlaybookStepExecution], None],
) -> None:
    """Run ready steps until none is left; skip those a failed required step blocks."""
    while True:
        ready = execution.ready_steps()
        if not ready:
            blocked = execution.skip_blocked_steps()
            for run in blocked:
                advance(run)
            if not blocked:
                return
            continue
        for run in ready:
            _run_step(execution, run, outputs, failing)
            advance(run)


def _finish(execution: PlaybookExecution) -> None:
    """Complete the execution if its last step did not: failed when a required step
    failed or could not run."""
    if execution.status is not ExecutionStatus.RUNNING:
        return
    failed = [
        run.step_name
        for run in execution.step_executions
        if run.status == StepStatus.FAILED and not (run.step is not None and run.step.is_optional)
    ]
    stuck = [run.step_name for run in execution.step_executions if run.status == StepStatus.PENDING]
    message = None
    if failed:
        message = f"step '{failed[0]}' failed"
    elif stuck:
        message = f"step '{stuck[0]}' could not run"
    execution.complete_execution(overall_success=message is None, error_message=message)


def _report(execution: PlaybookExecution) -> None:
    for run in execution.step_executions:
        mark, style = _MARKS.get(StepStatus(run.status), ("?", ""))
        line = Text.assemble((f"  {mark} ", style), run.step_name)
        if run.status in (StepStatus.FAILED, StepStatus.SKIPPED) and run.error_message:
            line.append(f"  {run.error_message}", "dim")
        console.print(line)
    style = "green" if execution.status == ExecutionStatus.COMPLETED else "red"
    console.print(
        Text.assemble(
            ("execution ", ""),
            (execution.execution_id, "bold"),
            (f" {execution.status}", style),
            f": {execution.completed_steps} completed, {execution.failed_steps} failed, "
            f"{execution.skipped_steps} skipped in {execution.execution_time_seconds or 0:.2f} s",
        )
    )


def _simulate(execution: PlaybookExecution, failing: set[str]) -> None:
    playbook = execution.playbook
    unknown = failing - {step.step_name for step in playbook.steps}
    if unknown:
        raise ValueError(f"--fail names no step of '{playbook.name}': {', '.join(sorted(unknown))}")
    outputs = simulated_outputs(playbook)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(playbook.name, total=len(execution.step_executions))

        def advance(run: PlaybookStepExecution) -> None:
            progress.update(task, advance=1, description=f"{playbook.name}: {run.step_name}")

        walk(execution, outputs, failing, advance)
        progress.update(task, description=playbook.name)
    _finish(execution)
    _report(execution)


@reports_errors
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The playbook's name.")],
    var: Annotated[
        list[str] | None, typer.Option("--var", help="An input variable, key=value (repeat).")
    ] = None,
    simulate: Annotated[
        bool, typer.Option(help="Walk every step to the end without executing anything.")
    ] = False,
    fail: Annotated[
        list[str] | None, typer.Option(help="With --simulate: this step fails (repeat).")
    ] = None,
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
) -> None:
    """Start an execution of a playbook; with --simulate, run it through to the end."""
    if fail and not simulate:
        raise ValueError("--fail only applies to a --simulate run")
    inputs = parse_variables(var or [])
    with settings(ctx).session() as session:
        playbook = find_playbook(session, name, version)
        execution = playbook.new_execution(inputs, triggered_by="cli")
        start_execution(session, execution)  # refuses beyond max_concurrent_executions
        if simulate:
            _simulate(execution, set(fail or ()))
            return
        ready = ", ".join(run.step_name for run in execution.ready_steps()) or "none"
        console.print(
            Text.assemble(
                "started execution ", (execution.execution_id, "bold"), f"; ready steps: {ready}"
            )
        )
