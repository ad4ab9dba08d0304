"""``agentical playbook run``: start an execution, or simulate one to the end.

A simulation executes nothing: it is the worker (``agentical.db.worker``) with simulated
handlers, which return made-up values for the outputs later steps read, or fail the steps
named by ``--fail`` (for good: a simulation does not wait out retry delays). Manual and
approval steps are completed or approved by the person ``simulation`` as they become
ready. The worker claims only this execution's steps, renders each step's parameters (a
broken placeholder fails its step, as it would for real), and the run engine finishes the
execution: everything is recorded like a real run.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agentical.cli.context import Settings, settings
from agentical.cli.lookup import find_playbook
from agentical.cli.output import console, reports_errors
from agentical.db.models.playbook import (
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
    RenderError,
    StepStatus,
    StepType,
    approve_step,
    reject_step,
    start_execution,
)
from agentical.db.models.playbook.step_plan import plan_of
from agentical.db.plan import PERSON_STEP_TYPES
from agentical.db.rendering import iter_strings, step_output_reference, template_references
from agentical.db.runs import cancel_execution
from agentical.db.session import session_factory
from agentical.db.worker import Handler, StepFailed, Worker
from agentical.db.worker.parameters import step_parameters

SIMULATED_FAILURE = "simulated failure"
IDLE_SECONDS = 0.05
SIMULATION = "simulation"  # the worker, and the person who decides manual and approval steps
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


def _simulated(output: dict[str, Any], fails: bool) -> Handler:
    def handler(_parameters: dict[str, Any]) -> dict[str, Any]:
        if fails:
            raise StepFailed(SIMULATED_FAILURE)
        return {**output, "simulated": True}

    return handler


class Simulation:
    """One execution driven to its end by a worker of its own and a simulated person."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        execution: PlaybookExecution,
        outputs: dict[str, dict[str, Any]],
        failing: set[str],
    ) -> None:
        self.sessions = sessions
        self.execution_id = execution.id
        self.outputs = outputs
        self.failing = failing
        handlers: dict[StepType | str, Handler] = {
            step.name: _simulated(outputs.get(step.name, {}), step.name in failing)
            for step in plan_of(execution).steps.values()
            if step.for_workers
        }
        self.worker = (
            Worker(sessions, handlers, worker_id=SIMULATION, execution_ids=[execution.id])
            if handlers
            else None
        )

    def run(self, advance: Callable[[PlaybookExecution], None]) -> None:
        """Pass after pass until the run engine has finished the execution. Interrupted
        (Ctrl-C, an error), the execution is cancelled: a simulation left running would
        be taken up by real workers."""
        try:
            while self._running(advance):
                done = self.worker.run_once() if self.worker else 0
                if not done + self._decide_person_steps():
                    time.sleep(IDLE_SECONDS)
        except BaseException:
            with self.sessions.begin() as session:
                execution = session.get(PlaybookExecution, self.execution_id)
                if execution is not None and execution.status is ExecutionStatus.RUNNING:
                    cancel_execution(session, execution, "simulation interrupted")
            raise

    def _running(self, advance: Callable[[PlaybookExecution], None]) -> bool:
        with self.sessions() as session:
            execution = session.get(PlaybookExecution, self.execution_id)
            assert execution is not None
            advance(execution)
            return execution.status is ExecutionStatus.RUNNING

    def _decide_person_steps(self) -> int:
        """Complete, approve, or (``--fail``) fail or reject the ready person steps."""
        with self.sessions() as session:
            ready = session.scalars(
                select(PlaybookStepExecution).where(
                    PlaybookStepExecution.playbook_execution_id == self.execution_id,
                    PlaybookStepExecution.status == StepStatus.PENDING,
                    PlaybookStepExecution.unmet_dependencies == 0,
                    PlaybookStepExecution.step_type.in_(sorted(PERSON_STEP_TYPES)),
                )
            ).all()
            for run in ready:
                self._decide(session, run)
                session.commit()
            return len(ready)

    def _decide(self, session: Session, run: PlaybookStepExecution) -> None:
        failure = SIMULATED_FAILURE if run.step_name in self.failing else None
        try:
            step_parameters(session, self.execution_id, run.step_name)
        except RenderError as error:
            failure = str(error)
        if run.step_type is StepType.APPROVAL:
            if failure is None:
                approve_step(session, run, SIMULATION)
            else:
                reject_step(session, run, SIMULATION, failure)
            return
        run.start_step()
        if failure is None:
            output = {**self.outputs.get(run.step_name, {}), "simulated": True}
            run.complete_step(output, completed_by=SIMULATION)
        else:
            run.fail_step(failure)


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


def _simulate(
    context: Settings, name: str, version: int | None, inputs: dict[str, str], failing: set[str]
) -> None:
    engine = context.engine()
    try:
        sessions = session_factory(engine, expire_on_commit=False)
        with sessions.begin() as session:
            playbook = find_playbook(session, name, version)
            unknown = failing - {step.step_name for step in playbook.steps}
            if unknown:
                raise ValueError(
                    f"--fail names no step of '{playbook.name}': {', '.join(sorted(unknown))}"
                )
            execution = playbook.new_execution(inputs, triggered_by="cli")
            start_execution(session, execution)  # refuses beyond max_concurrent_executions
            simulation = Simulation(sessions, execution, simulated_outputs(playbook), failing)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(playbook.name, total=execution.total_steps)

            def advance(current: PlaybookExecution) -> None:
                finished = current.completed_steps + current.failed_steps + current.skipped_steps
                label = f"{playbook.name}: {current.current_step or ''}".rstrip(": ")
                progress.update(task, completed=finished, description=label)

            simulation.run(advance)
            progress.update(task, description=playbook.name)
        with sessions() as session:
            finished = session.get(PlaybookExecution, execution.id)
            assert finished is not None
            _report(finished)
    finally:
        engine.dispose()


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
    if simulate:
        _simulate(settings(ctx), name, version, inputs, set(fail or ()))
        return
    with settings(ctx).session() as session:
        playbook = find_playbook(session, name, version)
        execution = playbook.new_execution(inputs, triggered_by="cli")
        start_execution(session, execution)  # refuses beyond max_concurrent_executions
        ready = ", ".join(run.step_name for run in execution.ready_steps()) or "none"
        console.print(
            Text.assemble(
                "started execution ", (execution.execution_id, "bold"), f"; ready steps: {ready}"
            )
        )
