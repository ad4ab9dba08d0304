"""Planning an execution: inputs, the pending step runs, what may run now, rendering.

The model methods (``Playbook.new_execution``, ``PlaybookExecution.ready_steps``...) call
these functions: they gather rows and hand plain data to the pure modules
(``agentical.db.variables``, ``scheduling``, ``rendering``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import object_session
from sqlalchemy.orm.attributes import set_committed_value

from agentical.db.enums import PlaybookStatus, StepStatus, VariableScope
from agentical.db.errors import ConflictError, VariableValidationError
from agentical.db.models.playbook.current_snapshot import current_snapshot
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.idempotency import execution_for_key, same_request
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.step import PlaybookStep
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.models.playbook.step_plan import follow, plan_of
from agentical.db.models.playbook.variable import PlaybookVariable
from agentical.db.observability import lifecycle_event
from agentical.db.plan import Plan, StepPlan, plan_for
from agentical.db.rendering import render_context, render_parameters
from agentical.db.types import utc_now
from agentical.db.variables import coerce_text, normalise, validation_errors


class PlaybookNotExecutableError(ConflictError, ValueError):
    """The playbook cannot be run (deleted, retired, or without steps); says why."""

    def __init__(self, playbook: Playbook, reason: str) -> None:
        self.playbook_id = playbook.id
        self.reason = reason
        super().__init__(
            f"Playbook '{playbook.name}' (id={playbook.id}, version {playbook.version}) "
            f"cannot be executed: {reason}"
        )


def not_executable_reason(playbook: Playbook) -> str | None:
    """Why ``playbook`` cannot run, or ``None`` when it can (mirrors ``is_executable``)."""
    if not playbook.is_active:
        return "it is deleted (inactive)"
    if playbook.status in (PlaybookStatus.ARCHIVED, PlaybookStatus.DEPRECATED):
        return f"it is {playbook.status}"
    if not playbook.steps:
        return "it has no steps"
    return None


def resolve_inputs(
    variables: Iterable[PlaybookVariable], given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Typed, normalised input values: raw text coerced, defaults filled in.

    Every unknown name, missing required input and invalid value is reported in one
    ``VariableValidationError``; messages name variables and reasons, and quote a value
    only when its variable is not sensitive.
    """
    if given is not None and not isinstance(given, Mapping):
        raise TypeError("input_variables must be a mapping of variable name to value")
    supplied = dict(given or {})
    errors: dict[str, list[str]] = {}
    shown: dict[str, str] = {}
    values: dict[str, Any] = {}
    declared = list(variables)
    for variable in declared:
        name, spec = variable.variable_name, variable.spec()
        raw = supplied.get(name)
        if raw is None:
            value = variable.default_value
            if value is None:
                if variable.is_required and variable.scope == VariableScope.INPUT:
                    errors[name] = ["a value is required"]
                continue
        else:
            try:
                value = coerce_text(spec.variable_type, raw, spec.enum_values)
            except ValueError as error:
                errors[name] = [str(error)]
                shown.update(variable.shown(raw))
                continue
        reasons = validation_errors(spec, value)
        if reasons:
            errors[name] = reasons
            shown.update(variable.shown(value))
        else:
            values[name] = normalise(spec, value)
    known = {variable.variable_name for variable in declared}
    for name in supplied:
        if name not in known:
            errors[str(name)] = ["not a variable of this playbook"]
    if errors:
        raise VariableValidationError(errors, shown)
    return values


def bare_execution(
    playbook: Playbook,
    input_variables: Mapping[str, Any] | None,
    *,
    executed_by_user_id: int | None,
    triggered_by: str,
    idempotency_key: str | None,
) -> tuple[PlaybookExecution, bool]:
    """``(execution, True)``: a new execution of ``playbook``, checked and snapshotted,
    without step executions; or ``(the execution made with idempotency_key, False)``.

    Raises ``PlaybookNotExecutableError`` or ``VariableValidationError`` before any object
    is made. Shared by ``new_execution`` and ``creation.create_execution``.
    """
    if idempotency_key is not None:
        existing = execution_for_key(playbook, idempotency_key)
        if existing is not None:
            same_request(
                existing, idempotency_key, resolve_inputs(playbook.variables, input_variables)
            )
            return existing, False
    reason = not_executable_reason(playbook)
    if reason is not None:
        raise PlaybookNotExecutableError(playbook, reason)
    values = resolve_inputs(playbook.variables, input_variables)
    document, digest = current_snapshot(playbook)
    execution = PlaybookExecution(
        playbook=playbook,
        executed_by_user_id=executed_by_user_id,
        triggered_by=triggered_by,
        input_variables=values,
        idempotency_key=idempotency_key,
        total_steps=len(plan_for(document, digest)),
    )
    follow(execution, document, digest)
    return execution, True


def announce_planned(execution: PlaybookExecution, steps: int) -> None:
    lifecycle_event(
        "execution.planned",
        execution_id=execution.execution_id,
        playbook_id=execution.playbook.id,
        steps=steps,
        definition_hash=execution.definition_hash,
    )


def planned_run_values(step: StepPlan, now: datetime) -> dict[str, Any]:
    """A pending run's place in its plan: type, unfinished dependencies, due time."""
    ready = not step.depends_on and step.for_workers and not step.condition
    return {
        "step_type": step.step_type,
        "unmet_dependencies": len(step.depends_on),
        "claim_due_at": now if ready else None,
    }


def in_dependency_order(plan: Plan, steps: Iterable[PlaybookStep]) -> list[PlaybookStep]:
    """``steps`` in the order their runs are created: every run after those of its
    dependencies, so ids follow the dependencies and row locks taken by id cannot
    deadlock with a worker releasing a step (``Plan.dependency_order``)."""
    rank = plan.dependency_order
    return sorted(steps, key=lambda step: rank[step.step_name])


def _step_execution(step: PlaybookStep, planned: StepPlan, now: datetime) -> PlaybookStepExecution:
    """A pending run of ``step``.

    A stored step whose runs are not loaded is linked without the ``step_executions``
    backref, which would only mark it changed: thousands of steps that the flush then
    checks and skips cost about as much as the runs themselves.
    """
    values = planned_run_values(planned, now)
    if "step_executions" in step.__dict__ or not inspect(step).persistent:
        return PlaybookStepExecution(step=step, step_order=step.step_order, **values)
    run = PlaybookStepExecution(
        playbook_step_id=step.id, step_name=step.step_name, step_order=step.step_order, **values
    )
    set_committed_value(run, "step", step)
    return run


def new_execution(
    playbook: Playbook,
    input_variables: Mapping[str, Any] | None = None,
    *,
    executed_by_user_id: int | None = None,
    triggered_by: str = "manual",
    idempotency_key: str | None = None,
) -> PlaybookExecution:
    """A pending execution of ``playbook`` with one pending step run per step.

    It follows a snapshot of the definition (stored at the flush, once per content
    hash) and keeps its hash. It is added to the
    playbook's session when the playbook has one (not flushed). With an
    ``idempotency_key`` already used for this playbook, that execution is returned instead
    (see ``idempotency.execution_for_key``). For thousands of steps,
    ``creation.create_execution`` writes the same rows in one bulk INSERT.
    """
    execution, is_new = bare_execution(
        playbook,
        input_variables,
        executed_by_user_id=executed_by_user_id,
        triggered_by=triggered_by,
        idempotency_key=idempotency_key,
    )
    if not is_new:
        return execution
    plan, now = plan_of(execution), utc_now()
    execution.step_executions = [
        _step_execution(step, plan.step(step.step_name), now)
        for step in in_dependency_order(plan, playbook.steps)
    ]
    session = object_session(playbook)
    if session is not None:
        session.add(execution)
    announce_planned(execution, len(execution.step_executions))
    return execution


def step_outputs(execution: PlaybookExecution) -> dict[str, dict[str, Any]]:
    return {
        run.step_name: dict(run.output_data or {})
        for run in execution.step_executions
        if run.status == StepStatus.COMPLETED
    }


def render_step_parameters(
    execution: PlaybookExecution, run: PlaybookStepExecution
) -> dict[str, Any]:
    """The parameters of ``run``'s step, rendered from the run's variables and outputs."""
    if run.execution is not execution:
        raise ValueError(
            f"step execution '{run.step_name}' belongs to another execution than "
            f"{execution.execution_id}"
        )
    step = plan_of(execution).steps.get(run.step_name)
    parameters = dict(step.parameters) if step is not None else {}
    variables = {**(execution.input_variables or {}), **(execution.output_variables or {})}
    context = render_context(variables, step_outputs(execution))
    rendered = render_parameters(parameters, context, step_name=run.step_name)
    lifecycle_event(
        "step.parameters_rendered",
        execution_id=execution.execution_id,
        step_name=run.step_name,
        parameters=sorted(rendered),
    )
    return rendered
