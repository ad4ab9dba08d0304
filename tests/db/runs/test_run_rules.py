"""The rules of a run on real rows: its own plan, its end, conditions, failures."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from agentical.db import runs
from agentical.db.models.playbook import (
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
    StepStatus,
    StepType,
    claim_ready_steps,
    create_execution,
)
from agentical.db.testing.factories import make_execution, make_playbook
from tests.db.runs.builders import by_name, drain, started_run, step


def test_a_run_follows_the_plan_it_was_created_with_when_the_playbook_is_edited(
    session: Session,
) -> None:
    execution = started_run(session, [step("a"), step("b", "a")])
    playbook = execution.playbook
    first, second = playbook.steps
    second.remove_dependency(first)  # the live playbook no longer waits for a
    session.commit()
    claimed = claim_ready_steps(session, worker_id="w", limit=5)
    assert [run.step_name for run in claimed] == ["a"]
    assert [run.step_name for run in execution.ready_steps()] == []  # a runs, b waits
    Playbook.import_definition(session, {**playbook.to_definition().to_document(), "steps": []})
    runs.complete_step(session, claimed[0])
    session.commit()
    assert [run.step_name for run in execution.ready_steps()] == ["b"]
    assert drain(session) == [["b"]]


def test_a_run_ends_itself_completed_with_its_times_and_metrics(session: Session) -> None:
    execution = started_run(session, [step("a"), step("b", "a"), step("c", "a")])
    assert drain(session) == [["a"], ["b", "c"]]
    session.refresh(execution)
    assert (execution.status, execution.overall_success) == (ExecutionStatus.COMPLETED, True)
    assert (execution.completed_steps, execution.progress_percentage) == (3, 100.0)
    assert execution.completed_at is not None
    assert execution.execution_time_seconds is not None
    assert execution.status_history[-1]["to"] == "completed"
    playbook = session.get_one(Playbook, execution.playbook_id)
    session.refresh(playbook)
    assert (playbook.total_executions, playbook.successful_executions) == (1, 1)
    assert [step.total_executions for step in playbook.steps] == [1, 1, 1]


def test_a_required_failure_skips_what_follows_and_fails_the_run(session: Session) -> None:
    execution = started_run(session, [step("a"), step("b", "a"), step("c", "b"), step("side")])
    assert drain(session, failing={"a"}) == [["a", "side"]]
    session.refresh(execution)
    assert (execution.status, execution.overall_success) == (ExecutionStatus.FAILED, False)
    assert execution.error_message == "step 'a' failed"
    assert [
        (run.step_name, run.status, run.error_message) for run in execution.step_executions
    ] == [
        ("a", StepStatus.FAILED, "a failed"),
        ("b", StepStatus.SKIPPED, "Skipped: dependency 'a' failed"),
        ("c", StepStatus.SKIPPED, "Skipped: dependency 'a' failed"),
        ("side", StepStatus.COMPLETED, None),
    ]
    assert (execution.completed_steps, execution.failed_steps, execution.skipped_steps) == (1, 1, 2)


def test_an_optional_failure_lets_the_run_go_on_and_succeed(session: Session) -> None:
    execution = started_run(session, [step("a", optional=True), step("b", "a")])
    assert drain(session, failing={"a"}) == [["a"], ["b"]]
    session.refresh(execution)
    assert (execution.status, execution.overall_success) == (ExecutionStatus.COMPLETED, True)


def test_a_false_condition_skips_the_step_and_releases_its_dependants(
    session: Session,
) -> None:
    execution = started_run(
        session,
        [
            step("probe"),
            step("repair", "probe", conditions={"when": "steps.probe.output.broken"}),
            step("report", "repair"),
        ],
    )
    assert drain(session, outputs={"probe": {"broken": False}}) == [["probe"], ["report"]]
    repair = by_name(execution)["repair"]
    session.refresh(repair)
    assert (repair.status, repair.error_message) == (
        StepStatus.SKIPPED,
        "Skipped: condition not met: steps.probe.output.broken",
    )
    session.refresh(execution)
    assert execution.status is ExecutionStatus.COMPLETED


def test_a_true_condition_lets_the_step_run(session: Session) -> None:
    started_run(
        session,
        [step("probe"), step("repair", "probe", conditions={"when": "steps.probe.output.broken"})],
    )
    assert drain(session, outputs={"probe": {"broken": True}}) == [["probe"], ["repair"]]


def test_a_condition_that_cannot_be_evaluated_fails_its_step(session: Session) -> None:
    execution = started_run(
        session,
        [step("probe"), step("repair", "probe", conditions={"when": "steps.probe.output.x > 1"})],
    )
    assert drain(session, outputs={"probe": {}}) == [["probe"]]
    repair = by_name(execution)["repair"]
    session.refresh(repair)
    assert repair.status is StepStatus.FAILED
    assert repair.error_message == (
        "condition could not be evaluated: it reads a value that is not there"
    )
    session.refresh(execution)
    assert execution.status is ExecutionStatus.FAILED


def test_a_first_step_condition_on_the_inputs_is_evaluated_when_the_run_starts(
    session: Session,
) -> None:
    execution = started_run(
        session,
        [step("only_in_prod", conditions={"when": "env == 'prod'"}), step("always")],
        variables=[{"name": "env", "type": "select", "options": ["prod", "qa"]}],
        inputs={"env": "qa"},
    )
    assert drain(session) == [["always"]]
    assert by_name(execution)["only_in_prod"].status is StepStatus.SKIPPED


def test_a_claim_sets_the_current_step_without_touching_the_row_version(
    session: Session,
) -> None:
    execution = started_run(session, [step("a"), step("b", "a")])
    version = execution.row_version
    claim_ready_steps(session, worker_id="w")
    session.commit()
    stored = session.execute(
        select(PlaybookExecution.current_step, PlaybookExecution.row_version).where(
            PlaybookExecution.id == execution.id
        )
    ).one()
    assert tuple(stored) == ("a", version)


@pytest.mark.parametrize("edit", ["pause", "cancel"])
def test_claims_follow_pause_resume_and_cancel(session: Session, edit: str) -> None:
    execution = started_run(session, [step("a"), step("b")])
    if edit == "pause":
        runs.pause_execution(session, execution)
    else:
        runs.cancel_execution(session, execution, "not needed")
    session.commit()
    assert claim_ready_steps(session, worker_id="w", limit=5) == []
    if edit == "pause":
        runs.resume_execution(session, execution)
        session.commit()
        assert len(claim_ready_steps(session, worker_id="w", limit=5)) == 2


def test_a_run_whose_last_step_finished_while_paused_ends_when_resumed(
    session: Session,
) -> None:
    execution = started_run(session, [step("a")])
    (run,) = claim_ready_steps(session, worker_id="w")
    session.commit()
    runs.pause_execution(session, execution)
    session.commit()
    runs.complete_step(session, run)
    session.commit()
    session.refresh(execution)
    assert (execution.status, execution.completed_steps) == (ExecutionStatus.PAUSED, 1)
    runs.resume_execution(session, execution)
    session.commit()
    session.refresh(execution)
    assert (execution.status, execution.overall_success) == (ExecutionStatus.COMPLETED, True)


def test_a_run_whose_steps_all_finished_before_its_start_ends_when_started(
    session: Session,
) -> None:
    playbook = Playbook.import_definition(
        session, {"name": "Skipped ahead", "category": "testing", "steps": [step("a"), step("b")]}
    )
    execution = create_execution(session, playbook)
    for run in execution.step_executions:
        run.skip_step("not needed this time")
    session.commit()
    runs.start_execution(session, execution)
    session.commit()
    session.refresh(execution)
    assert (execution.status, execution.skipped_steps) == (ExecutionStatus.COMPLETED, 2)


def test_a_run_made_and_started_by_the_model_methods_in_one_flush_evaluates_its_conditions(
    session: Session,
) -> None:
    playbook = Playbook.import_definition(
        session,
        {
            "name": "Conditional start",
            "category": "testing",
            "variables": [{"name": "env", "type": "string", "default": "prod"}],
            "steps": [
                step("only_in_prod", conditions={"when": "env == 'prod'"}),
                step("only_in_qa", conditions={"when": "env == 'qa'"}),
            ],
        },
    )
    execution = playbook.new_execution({})
    execution.start_execution()
    session.commit()
    assert drain(session) == [["only_in_prod"]]
    assert by_name(execution)["only_in_qa"].status is StepStatus.SKIPPED


def test_step_runs_built_from_ids_wait_for_their_dependencies(session: Session) -> None:
    playbook = make_playbook(session, steps=["assess", "fix"], step_type=StepType.MANUAL)
    assess, fix = playbook.steps
    execution = make_execution(session, playbook)
    first, second = (
        PlaybookStepExecution(
            playbook_execution_id=execution.id, playbook_step_id=playbook_step.id, step_order=order
        )
        for order, playbook_step in enumerate((assess, fix), start=1)
    )
    session.add_all([first, second])
    execution.start_execution()
    session.commit()
    assert (first.step_name, second.step_name) == ("assess", "fix")
    assert (first.unmet_dependencies, second.unmet_dependencies) == (0, 1)
    assert [run.step_name for run in execution.ready_steps()] == ["assess"]
    first.complete_step({}, completed_by="alice")
    session.commit()
    assert [run.step_name for run in execution.ready_steps()] == ["fix"]
