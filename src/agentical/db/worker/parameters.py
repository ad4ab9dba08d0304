"""A claimed step's parameters, rendered from its execution's plan.

``execution.render_parameters(run)`` needs the execution and all its step runs loaded;
a worker needs only the variables and the outputs the parameters name. So this reads the
step's parameters from the plan (cached per definition), the execution's variables and
the referenced steps' outputs: two small queries, whatever the size of the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agentical.db.enums import StepStatus
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.rendering import (
    PlaceholderSyntaxError,
    iter_strings,
    render_context,
    render_parameters,
    step_output_reference,
    template_references,
)
from agentical.db.runs.plans import plan_by_id, stored_variables


def _referenced_steps(parameters: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    for _path, text in iter_strings(parameters):
        try:
            chains = template_references(text)
        except PlaceholderSyntaxError:
            continue  # rendering reports it, naming the parameter
        names.update(name for chain in chains if (name := step_output_reference(chain)))
    return names


def step_parameters(
    session: Session, execution_id: int, step_name: str, definition_hash: str | None = None
) -> dict[str, Any]:
    """The rendered parameters of step ``step_name`` in execution ``execution_id`` (whose
    ``definition_hash`` a lease carries: one read less); ``RenderError`` (naming the step
    and the parameter, never a value) when they cannot be."""
    plan = plan_by_id(session, execution_id, definition_hash)
    parameters = dict(plan.step(step_name).parameters)
    if not parameters:
        return {}
    connection = connection_for(session, PlaybookExecution)
    variables = stored_variables(connection, execution_id)
    sources = _referenced_steps(parameters)
    outputs: dict[str, dict[str, Any]] = {}
    if sources:
        runs = connection.execute(
            select(PlaybookStepExecution.step_name, PlaybookStepExecution.output_data).where(
                PlaybookStepExecution.playbook_execution_id == execution_id,
                PlaybookStepExecution.step_name.in_(sorted(sources)),
                PlaybookStepExecution.status == StepStatus.COMPLETED,
            )
        )
        outputs = {run.step_name: dict(run.output_data or {}) for run in runs}
    context = render_context(variables, outputs)
    return render_parameters(parameters, context, step_name=step_name)
