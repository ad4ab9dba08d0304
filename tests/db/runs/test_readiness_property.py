"""Property: ``ready_steps()`` and a claim agree on every state of every run.

Random dependency graphs (optional steps, a retry, a manual step), random sequences of
step transitions by the model methods and by the run functions (an operator's retry of
a failed step among them), and live edits of the
playbook's edges in between: after each commit, the steps a worker could claim are exactly
the worker steps ``ready_steps()`` lists.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from agentical.db import runs
from agentical.db.models.playbook import (
    ExecutionStatus,
    PlaybookExecution,
    StepStatus,
    claim_ready_steps,
)
from agentical.db.plan import PERSON_STEP_TYPES
from tests.db.runs.builders import by_name, started_run


@st.composite
def graphs(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(2, 6))
    steps = []
    for index in range(count):
        parents = draw(st.sets(st.integers(0, index - 1), max_size=2)) if index else set()
        steps.append(
            {
                "name": f"s{index}",
                "type": draw(st.sampled_from(["script", "script", "webhook", "manual"])),
                "depends_on": [f"s{parent}" for parent in sorted(parents)],
                "optional": draw(st.booleans()),
                "retry_attempts": draw(st.integers(0, 1)),
                "retry_delay_seconds": 0,
            }
        )
    return steps


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("by_hand"), st.integers(0, 5), st.sampled_from(["done", "fail", "skip"])),
        st.tuples(st.just("worker"), st.integers(0, 5), st.sampled_from(["done", "fail"])),
        st.tuples(st.just("edit"), st.integers(0, 5), st.integers(0, 5)),
        st.tuples(st.just("retry"), st.integers(0, 5), st.none()),
    ),
    max_size=10,
)


def claimable(session: Session, execution: PlaybookExecution) -> set[str]:
    """What a worker could claim of ``execution`` now (claimed in a savepoint that is
    rolled back)."""
    session.flush()
    nested = session.begin_nested()
    names = {
        run.step_name
        for run in claim_ready_steps(session, worker_id="probe", limit=500)
        if run.playbook_execution_id == execution.id
    }
    nested.rollback()
    session.expire_all()  # rows the claim loaded in the savepoint keep their claimed state
    return names


def ready_for_workers(execution: PlaybookExecution) -> set[str]:
    return {
        run.step_name for run in execution.ready_steps() if run.step_type not in PERSON_STEP_TYPES
    }


def act(session: Session, execution: PlaybookExecution, action: tuple[Any, ...]) -> None:
    kind, index, choice = action
    run = by_name(execution).get(f"s{index}")
    if kind == "edit":  # the live playbook changes; the run must not notice
        steps = {step.step_name: step for step in execution.playbook.steps}
        step, other = steps.get(f"s{index}"), steps.get(f"s{choice}")
        if step is not None and other is not None and other in step.depends_on:
            step.remove_dependency(other)
        return
    if kind == "retry":  # an operator's retry; a refusal (not failed, run ended) is fine
        if run is not None:
            with contextlib.suppress(runs.RetryError):
                runs.retry_step(session, execution, run.step_name)
        return
    if run is None or run not in execution.ready_steps():
        return
    if kind == "worker":
        if run.step_type in PERSON_STEP_TYPES:
            return
        for claimed in claim_ready_steps(session, worker_id="w", limit=50):
            if claimed is run:
                if choice == "done":
                    runs.complete_step(session, claimed, {})
                else:
                    runs.fail_step(session, claimed, "boom")
            else:
                runs.release_step(session, claimed)
        return
    if choice == "skip":
        run.skip_step("by hand")
    elif run.step_type in PERSON_STEP_TYPES and choice == "done":
        run.complete_step({}, completed_by="person")
    else:
        run.start_step()
        if choice == "done":
            run.complete_step({})
        else:
            run.fail_step("boom")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=graphs(), actions=ACTIONS)
def test_ready_steps_and_claims_agree_on_every_state(
    session: Session, steps: list[dict[str, Any]], actions: list[tuple[Any, ...]]
) -> None:
    execution = started_run(session, steps)
    try:
        assert claimable(session, execution) == ready_for_workers(execution)
        for action in actions:
            act(session, execution, action)
            session.commit()  # the run functions' consequences are written at the latest here
            assert claimable(session, execution) == ready_for_workers(execution), action
        finished = {StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED}
        counted = execution.completed_steps + execution.failed_steps + execution.skipped_steps
        assert counted == sum(run.status in finished for run in execution.step_executions)
    finally:  # the examples share the test's transaction: this run leaves the next alone
        if execution.status in (ExecutionStatus.RUNNING, ExecutionStatus.PAUSED):
            runs.cancel_execution(session, execution)
