"""Planning an execution: inputs, the pending step runs, what may run now, rendering.

The model methods (``Playbook.new_execution``, ``PlaybookExecution.ready_steps``...) call
these functions: they gather rows and hand plain data to the pure modules
(``agentical.db.variables``, ``scheduling``, ``rendering``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import object_session
from sqlalchemy.orm.attributes import set_committed_value

from agentical.db.enums import ExecutionStatus, PlaybookStatus, StepStatus, VariableScope
from agentical.db.errors import ConflictError, VariableValidationError
from agentical.db.models.playbook.builder import snapshot_of
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.idempotency import execution_for_key, same_request
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.step import PlaybookStep
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.models.playbook.step_plan import plan_of
from agentical.db.models.playbook.variable import PlaybookVariable
from agentical.db.observability import lifecycle_event
from agentical.db.rendering import render_context, render_parameters
from agentical.db.scheduling import blocked_steps, ready_steps
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
    ``VariableValidationError``; messages name variables and reasons, never values.
    """
    if given is not None and not isinstance(given, Mapping):
        raise TypeError("input_variables must be a mapping of variable name to value")
    supplied = dict(given or {})
    errors: dict[str, list[str]] = {}
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
                value = coerce_text(spec.variable_type, raw)
            except ValueError as error:
                errors[name] = [str(error)]
                continue
        reasons = validation_errors(spec, value)
        if reasons:
            errors[name] = reasons
        else:
            values[name] = normalise(spec, value)
    known = {variable.variable_name for variable in declared}
    for name in supplied:
        if name not in known:
            errors[str(name)] = ["not a variable of this playbook"]
    if errors:
        raise VariableValidationError(errors)
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
    snapshot, digest = snapshot_of(playbook)
    execution = PlaybookExecution(
        playbook=playbook,
        executed_by_user_id=executed_by_user_id,
        triggered_by=triggered_by,
        input_variables=values,
        definition_snapshot=snapshot,
        definition_hash=digest,
        idempotency_key=idempotency_key,
    )
    return execution, True


def announce_planned(execution: PlaybookExecution, steps: int) -> None:
    lifecycle_event(
        "execution.planned",
        execution_id=execution.execution_id,
        playbook_id=execution.playbook.id,
        steps=steps,
        definition_hash=execution.definition_hash,
    )


def _step_execution(step: PlaybookStep) -> PlaybookStepExecution:
    """A pending run of ``step``.

    A stored step whose runs are not loaded is linked without the ``step_executions``
    backref, which would only mark it changed: thousands of steps that the flush then
    checks and skips cost about as much as the runs themselves.
    """
    if "step_executions" in step.__dict__ or not inspect(step).persistent:
        return PlaybookStepExecution(step=step, step_order=step.step_order)
    run = PlaybookStepExecution(
        playbook_step_id=step.id, step_name=step.step_name, step_order=step.step_order
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

    It keeps a snapshot of the definition it runs and its hash. It is added to the
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
    execution.step_executions = [_step_execution(step) for step in playbook.steps]
    session = object_session(playbook)
    if session is not None:
        session.add(execution)
    announce_planned(execution, len(execution.step_executions))
    return execution


def _runs_and_states(
    execution: PlaybookExecution,
) -> tuple[dict[str, PlaybookStepExecution], dict[str, StepStatus]]:
    """The runs by step name (in run order) and their states, in one pass over the runs.

    A failed run with a retry scheduled (``next_attempt_at``, set when it is flushed with
    attempts left) counts as running: like ``claim_ready_steps``, its dependants neither
    start nor get blocked until its last attempt fails.
    """
    by_name: dict[str, PlaybookStepExecution] = {}
    states: dict[str, StepStatus] = {}
    for run in execution.step_executions:
        name, state = run.step_name, run.status
        if state is StepStatus.FAILED and run.next_attempt_at is not None:
            state = StepStatus.RUNNING
        by_name[name] = run
        states[name] = state
    return by_name, states


def ready_step_executions(execution: PlaybookExecution) -> list[PlaybookStepExecution]:
    """The pending step runs whose dependencies are all finished; none unless running."""
    if execution.status != ExecutionStatus.RUNNING:
        return []
    plan = plan_of(execution)
    by_name, states = _runs_and_states(execution)
    names = ready_steps(plan.dependencies, states, plan.optional, list(by_name))
    return [by_name[name] for name in names]


def blocked_step_executions(
    execution: PlaybookExecution,
) -> list[tuple[PlaybookStepExecution, str]]:
    """Pending step runs that can never run, each with the reason (the failed step)."""
    plan = plan_of(execution)
    by_name, states = _runs_and_states(execution)
    blocked = blocked_steps(plan.dependencies, states, plan.optional)
    return [
        (run, f"dependency '{blocked[name]}' failed")
        for name, run in by_name.items()
        if name in blocked
    ]


def step_outputs(execution: PlaybookExecution) -> dict[str, dict[str, Any]]:
    return {
        run.step_name: dict(run.output_data or {})
        for run in execution.step_executions
        if run.status == StepStatus.COMPLETED
    }


def _parameters(execution: PlaybookExecution, run: PlaybookStepExecution) -> dict[str, Any]:
    snapshot = execution.definition_snapshot
    if isinstance(snapshot, dict) and isinstance(snapshot.get("steps"), list):
        for step in snapshot["steps"]:
            if step.get("name", step.get("step_name")) == run.step_name:
                return dict(step.get("parameters", {}))
    return dict(run.step.parameters or {}) if run.step is not None else {}


def render_step_parameters(
    execution: PlaybookExecution, run: PlaybookStepExecution
) -> dict[str, Any]:
    """The parameters of ``run``'s step, rendered from the run's variables and outputs."""
    if run.execution is not execution:
        raise ValueError(
            f"step execution '{run.step_name}' belongs to another execution than "
            f"{execution.execution_id}"
        )
    parameters = _parameters(execution, run)
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
