"""What an operator does to a run: cancel, pause, resume, decide, complete, retry.

Each command is one transaction that calls the run engine (``agentical.db.runs``), which
decides whether the action is allowed; a refusal is one line and exit status 1. With
``--json`` each prints the execution's detail as it is after the action (secrets masked).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from agentical.cli.context import settings
from agentical.cli.execution.browse import ExecutionArgument
from agentical.cli.lookup import find_execution, find_step_run
from agentical.cli.output import JsonOption, print_json, reports_errors, success
from agentical.db import runs
from agentical.db.audit import resolve_actor
from agentical.db.details import execution_detail
from agentical.db.limits import NESTED_TOO_DEEP
from agentical.db.models.playbook import PlaybookExecution, PlaybookStepExecution

StepArgument = Annotated[str, typer.Argument(help="The step's name.")]
Action = Callable[[Session, PlaybookExecution], str]


def _act(ctx: typer.Context, reference: str, action: Action, as_json: bool) -> None:
    """Run ``action`` on the execution in one transaction; report what it says it did."""
    with settings(ctx).session() as session:
        execution = find_execution(session, reference)
        message = action(session, execution)
        document: dict[str, Any] | None = None
        if as_json:
            session.flush()
            session.expire_all()
            document = execution_detail(find_execution(session, execution.execution_id))
    if document is not None:
        print_json(document)
    else:
        success(message)


def _output(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        output = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"--output is not JSON: {error.msg} at character {error.pos}") from None
    except RecursionError:
        raise ValueError(f"--output is {NESTED_TOO_DEEP}") from None
    if not isinstance(output, dict):
        raise ValueError('--output must be a JSON object, e.g. \'{"ticket": "INC-1"}\'')
    return output


def _move(
    ctx: typer.Context,
    reference: str,
    as_json: bool,
    move: Callable[[Session, PlaybookExecution], None],
    done: str,
) -> None:
    """An action on the whole execution (``move``), reported as ``done``."""

    def action(session: Session, target: PlaybookExecution) -> str:
        move(session, target)
        return f"{done} execution {target.execution_id}"

    _act(ctx, reference, action, as_json)


def _decide(
    ctx: typer.Context,
    reference: str,
    step: str,
    as_json: bool,
    decide: Callable[[Session, PlaybookStepExecution, str], None],
    done: str,
) -> None:
    """A person's decision on one step (``decide``), recorded as the person the command
    acts as (``--as``, else the operating system's user): the same name in the trail."""

    def action(session: Session, target: PlaybookExecution) -> str:
        person = resolve_actor()
        decide(session, find_step_run(target, step), person)
        return f"{person} {done} '{step}' of execution {target.execution_id}"

    _act(ctx, reference, action, as_json)


@reports_errors
def cancel(
    ctx: typer.Context,
    execution: ExecutionArgument,
    reason: Annotated[str, typer.Option(help="Why: kept with the execution.")],
    as_json: JsonOption = False,
) -> None:
    """Cancel an execution: its pending and running steps are skipped."""
    if not reason.strip():
        raise ValueError("--reason must say why")

    def move(session: Session, target: PlaybookExecution) -> None:
        runs.cancel_execution(session, target, reason)

    _move(ctx, execution, as_json, move, "cancelled")


@reports_errors
def pause(ctx: typer.Context, execution: ExecutionArgument, as_json: JsonOption = False) -> None:
    """Pause a running execution: workers claim none of its steps until it resumes."""
    _move(ctx, execution, as_json, runs.pause_execution, "paused")


@reports_errors
def resume(ctx: typer.Context, execution: ExecutionArgument, as_json: JsonOption = False) -> None:
    """Resume a paused execution."""
    _move(ctx, execution, as_json, runs.resume_execution, "resumed")


@reports_errors
def approve(
    ctx: typer.Context,
    execution: ExecutionArgument,
    step: StepArgument,
    comment: Annotated[str | None, typer.Option(help="Kept with the approval.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a waiting approval step, as the person acting (``--as``)."""

    def decide(session: Session, run: PlaybookStepExecution, person: str) -> None:
        runs.approve_step(session, run, person, comment)

    _decide(ctx, execution, step, as_json, decide, "approved")


@reports_errors
def reject(
    ctx: typer.Context,
    execution: ExecutionArgument,
    step: StepArgument,
    reason: Annotated[str, typer.Option(help="Why: the step fails with it.")],
    as_json: JsonOption = False,
) -> None:
    """Reject a waiting approval step: it fails for good, and the run follows."""

    def decide(session: Session, run: PlaybookStepExecution, person: str) -> None:
        runs.reject_step(session, run, person, reason)

    _decide(ctx, execution, step, as_json, decide, "rejected")


@reports_errors
def complete(
    ctx: typer.Context,
    execution: ExecutionArgument,
    step: StepArgument,
    output: Annotated[
        str | None, typer.Option(help="The step's output, a JSON object.", show_default=False)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Complete a ready manual step, as the person acting (``--as``)."""
    data = _output(output)

    def decide(session: Session, run: PlaybookStepExecution, person: str) -> None:
        run.complete_step(data, completed_by=person)
        session.flush()

    _decide(ctx, execution, step, as_json, decide, "completed")


@reports_errors
def retry(
    ctx: typer.Context,
    execution: ExecutionArgument,
    step: StepArgument,
    as_json: JsonOption = False,
) -> None:
    """Run a failed step again (the steps its failure skipped wait for it again)."""

    def action(session: Session, target: PlaybookExecution) -> str:
        reopened = runs.retry_step(session, target, step)
        return f"retrying in execution {target.execution_id}; pending again: {', '.join(reopened)}"

    _act(ctx, execution, action, as_json)
