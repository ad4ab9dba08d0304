"""Execution planning: ``new_execution``, ``ready_steps``, blocked steps, counters, metrics
and ``render_parameters`` on real rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from logfire.testing import CaptureLogfire
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus, PlaybookStatus, StepStatus
from agentical.db.models.playbook import (
    Playbook,
    PlaybookExecution,
    PlaybookNotExecutableError,
    PlaybookStepExecution,
    PlaybookVariable,
    RenderError,
    VariableValidationError,
)
from agentical.db.models.playbook.progress import refresh_progress
from agentical.db.schemas.definition_checks import REDACTED
from agentical.db.testing.factories import make_playbook

SECRET = "s3cret-token-value"


def diamond(session: Session, **changes: Any) -> Playbook:
    """a -> (b, c optional) -> d, with typed variables and placeholders."""
    document: dict[str, Any] = {
        "name": "Diamond",
        "category": "maintenance",
        "max_concurrent_executions": 5,
        "steps": [
            {"name": "a", "parameters": {"region": "{{ region }}"}},
            {"name": "b", "depends_on": ["a"], "parameters": {"n": "{{ replicas }}"}},
            {"name": "c", "depends_on": ["a"], "optional": True},
            {
                "name": "d",
                "depends_on": ["b", "c"],
                "parameters": {
                    "auth": "Bearer {{ token }}",
                    "host": "{{ steps.a.output.host }}",
                },
            },
        ],
        "variables": [
            {"name": "region", "type": "select", "options": ["eu", "us"], "default": "eu"},
            {"name": "replicas", "type": "integer", "min_value": 1, "default": 2},
            {"name": "dry_run", "type": "boolean", "default": False},
            {"name": "hosts", "type": "multi_select", "options": ["h1", "h2", "h3"]},
            {"name": "window", "type": "date"},
            {"name": "token", "sensitive": True, "required": True},
        ],
    }
    document.update(changes)
    return Playbook.import_definition(session, document)


def runs(execution: PlaybookExecution) -> dict[str, PlaybookStepExecution]:
    return {run.step_name: run for run in execution.step_executions}


def names(step_runs: list[PlaybookStepExecution]) -> list[str]:
    return [run.step_name for run in step_runs]


def started(session: Session, **inputs: Any) -> PlaybookExecution:
    execution = diamond(session).new_execution({"token": SECRET, **inputs})
    session.flush()
    execution.start_execution()
    return execution


def finish(run: PlaybookStepExecution, output: dict[str, Any] | None = None) -> None:
    run.start_step()
    run.complete_step(output or {})


def test_new_execution_is_pending_with_one_pending_run_per_step(session: Session) -> None:
    playbook = diamond(session)
    execution = playbook.new_execution(
        {"token": SECRET}, executed_by_user_id=None, triggered_by="scheduler"
    )
    assert execution in session
    session.flush()
    assert execution.status is ExecutionStatus.PENDING
    assert execution.triggered_by == "scheduler"
    assert [(run.step_name, run.step_order, run.status) for run in execution.step_executions] == [
        ("a", 1, StepStatus.PENDING),
        ("b", 2, StepStatus.PENDING),
        ("c", 3, StepStatus.PENDING),
        ("d", 4, StepStatus.PENDING),
    ]
    assert [run.playbook_step_id for run in execution.step_executions] == [
        step.id for step in playbook.steps
    ]
    assert execution.definition_hash == playbook.to_definition().content_hash()


def test_raw_text_inputs_are_coerced_and_defaults_filled_in(session: Session) -> None:
    execution = diamond(session).new_execution(
        {
            "token": SECRET,
            "replicas": "5",
            "dry_run": "yes",
            "hosts": "h1, h3",
            "window": "2026-12-01",
        }
    )
    assert execution.input_variables == {
        "region": "eu",
        "replicas": 5,
        "dry_run": True,
        "hosts": ["h1", "h3"],
        "window": "2026-12-01",
        "token": SECRET,
    }


def test_every_input_problem_is_reported_in_one_error(session: Session) -> None:
    playbook = diamond(session)
    with pytest.raises(VariableValidationError) as caught:
        playbook.new_execution(
            {"replicas": "0", "dry_run": "maybe", "region": "mars", "colour": "blue"}
        )
    assert caught.value.errors == {
        "region": ["must be one of: eu, us"],
        "replicas": ["must be >= 1.0"],
        "dry_run": ["expected a boolean (true/false, yes/no, on/off, 1/0)"],
        "token": ["a value is required"],
        "colour": ["not a variable of this playbook"],
    }
    assert playbook.executions == []


def test_an_invalid_sensitive_input_is_named_but_never_shown(session: Session) -> None:
    playbook = diamond(
        session,
        variables=[{"name": "token", "sensitive": True, "pattern": "^tok_", "required": True}],
        steps=[{"name": "a", "parameters": {"auth": "{{ token }}"}}],
    )
    with pytest.raises(VariableValidationError) as caught:
        playbook.new_execution({"token": SECRET})
    assert str(caught.value) == "variable 'token': must match the pattern '^tok_'"


@pytest.mark.parametrize("sensitive", [False, True])
def test_json_input_text_nested_past_the_recursion_limit_is_refused_for_its_depth(
    session: Session, sensitive: bool
) -> None:
    playbook = diamond(
        session,
        variables=[{"name": "cfg", "type": "json", "sensitive": sensitive}],
        steps=[{"name": "a"}],
    )
    text = "[" * 100_000
    with pytest.raises(VariableValidationError) as caught:
        playbook.new_execution({"cfg": text})
    assert caught.value.errors == {"cfg": ["nested deeper than 32 levels"]}
    assert ("[[[" in str(caught.value)) is not sensitive
    assert playbook.executions == []
    assert not session.new


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda playbook: setattr(playbook, "steps", []), "it has no steps"),
        (lambda playbook: playbook.archive(), "it is archived"),
        (lambda playbook: playbook.soft_delete(), "it is deleted (inactive)"),
    ],
)
def test_a_playbook_that_cannot_run_is_refused_with_the_reason(
    session: Session, change: Callable[[Playbook], None], reason: str
) -> None:
    playbook = make_playbook(session, name="Retired", steps=2)
    change(playbook)
    with pytest.raises(PlaybookNotExecutableError) as caught:
        playbook.new_execution()
    assert str(caught.value) == (
        f"Playbook 'Retired' (id={playbook.id}, version 1) cannot be executed: {reason}"
    )
    assert isinstance(caught.value, ValueError)


def test_a_draft_with_steps_can_be_trial_run(session: Session) -> None:
    playbook = make_playbook(session, steps=2)
    assert playbook.status is PlaybookStatus.DRAFT
    assert len(playbook.new_execution().step_executions) == 2


def test_nothing_is_ready_before_the_execution_starts(session: Session) -> None:
    execution = diamond(session).new_execution({"token": SECRET})
    assert execution.ready_steps() == []


def test_ready_steps_follow_the_dependencies(session: Session) -> None:
    execution = started(session)
    step = runs(execution)
    assert names(execution.ready_steps()) == ["a"]
    step["a"].start_step()
    assert execution.ready_steps() == []
    step["a"].complete_step({"host": "db-1"})
    assert names(execution.ready_steps()) == ["b", "c"]
    finish(step["b"])
    assert names(execution.ready_steps()) == ["c"]
    step["c"].skip_step("not needed today")
    assert names(execution.ready_steps()) == ["d"]


def test_each_execution_follows_the_definition_version_it_started_with(
    session: Session,
) -> None:
    first = started(session)
    same_definition = first.playbook.new_execution({"token": SECRET})
    assert first.snapshot is not None
    steps = [dict(step) for step in first.snapshot.document["steps"]]
    steps[3]["depends_on"] = ["a"]
    version_2 = diamond(session, steps=steps).new_execution({"token": SECRET})
    session.flush()
    for execution in (same_definition, version_2):
        execution.start_execution()
    for execution in (first, version_2):
        finish(runs(execution)["a"])
    assert names(first.ready_steps()) == ["b", "c"]
    assert names(version_2.ready_steps()) == ["b", "c", "d"]
    assert names(same_definition.ready_steps()) == ["a"]


def test_a_failed_optional_step_counts_as_done(session: Session) -> None:
    execution = started(session)
    step = runs(execution)
    finish(step["a"])
    finish(step["b"])
    step["c"].start_step()
    step["c"].fail_step("flaky")
    assert names(execution.ready_steps()) == ["d"]
    assert execution.blocked_steps() == []


def test_a_failed_required_step_skips_its_dependants_and_fails_the_run(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    execution = started(session)
    step = runs(execution)
    step["a"].start_step()
    step["a"].fail_step("disk full")
    assert execution.ready_steps() == []
    assert execution.blocked_steps() == []  # already skipped, at the flush
    assert [(run.step_name, run.status, run.error_message) for run in step.values()][1:] == [
        (name, StepStatus.SKIPPED, "Skipped: dependency 'a' failed") for name in "bcd"
    ]
    assert (execution.failed_steps, execution.skipped_steps) == (1, 3)
    assert (execution.status, execution.error_message) == (
        ExecutionStatus.FAILED,
        "step 'a' failed",
    )
    with fresh_session() as other:
        stored = other.get_one(PlaybookExecution, execution.id)
        assert (stored.status, stored.overall_success, stored.progress_percentage) == (
            ExecutionStatus.FAILED,
            False,
            100.0,
        )


def test_blocked_steps_are_found_in_a_run_changed_without_a_session(session: Session) -> None:
    execution = started(session)
    session.expunge_all()
    step = runs(execution)
    step["a"].start_step()
    step["a"].fail_step("disk full")
    assert [(run.step_name, reason) for run, reason in execution.blocked_steps()] == [
        (name, "dependency 'a' failed") for name in "bcd"
    ]
    assert names(execution.skip_blocked_steps()) == ["b", "c", "d"]


def test_counters_current_step_and_progress_move_with_each_transition(session: Session) -> None:
    execution = started(session)
    step = runs(execution)
    step["a"].start_step()
    assert (execution.current_step, execution.progress_percentage) == ("a", 0.0)
    step["a"].complete_step({"host": "db-1"})
    assert (execution.completed_steps, execution.progress_percentage) == (1, 25.0)
    step["b"].start_step()
    step["b"].fail_step("boom")
    assert (execution.failed_steps, execution.progress_percentage) == (1, 50.0)
    step["c"].skip_step()
    assert (execution.skipped_steps, execution.progress_percentage) == (1, 75.0)
    assert execution.current_step == "b"


def test_metrics_roll_up_once_when_the_last_step_ends_the_run(session: Session) -> None:
    execution = started(session)
    playbook = execution.playbook
    for run in execution.step_executions:
        finish(run, {"host": "db-1"})
    assert playbook.total_executions == 0
    session.flush()  # the last step ends the run: counted in the same flush
    assert (execution.status, execution.overall_success) == (ExecutionStatus.COMPLETED, True)
    session.refresh(playbook)
    assert (playbook.total_executions, playbook.successful_executions) == (1, 1)
    assert playbook.average_execution_time == pytest.approx(execution.execution_time_seconds)
    with pytest.raises(ValueError, match="cannot move"):
        execution.complete_execution()
    execution.status_message = "post-mortem written"
    session.flush()
    session.refresh(playbook)
    assert playbook.total_executions == 1
    step = playbook.steps[0]
    assert (step.total_executions, step.successful_executions) == (1, 1)


def test_a_caller_who_decides_the_outcome_with_the_last_step_is_counted_once(
    session: Session,
) -> None:
    execution = started(session)
    playbook = execution.playbook
    for run in execution.step_executions:
        finish(run, {"host": "db-1"})
    execution.complete_execution(overall_success=False, error_message="verification failed")
    session.flush()
    assert (execution.status, execution.error_message) == (
        ExecutionStatus.FAILED,
        "verification failed",
    )
    session.refresh(playbook)
    assert (playbook.total_executions, playbook.failed_executions) == (1, 1)


def test_a_rolled_back_run_is_not_counted(session: Session) -> None:
    execution = started(session)
    playbook = execution.playbook
    session.flush()
    session.begin_nested()
    for run in execution.step_executions:
        finish(run)
    execution.complete_execution()
    session.rollback()
    session.flush()
    assert playbook.total_executions == 0


def test_a_cancelled_execution_is_not_counted(session: Session) -> None:
    execution = started(session)
    execution.cancel_execution("maintenance window closed")
    assert execution.playbook.total_executions == 0


def test_an_execution_built_by_hand_is_planned_from_the_playbook_rows(session: Session) -> None:
    playbook = make_playbook(session, steps=["prepare", "deploy", "verify"], chain=True)
    execution = PlaybookExecution(playbook=playbook)
    execution.step_executions = [
        PlaybookStepExecution(step=step, step_order=step.step_order) for step in playbook.steps
    ]
    session.add(execution)
    session.flush()
    execution.start_execution()
    assert names(execution.ready_steps()) == ["prepare"]
    finish(execution.step_executions[0])
    assert names(execution.ready_steps()) == ["deploy"]
    assert execution.progress_percentage == pytest.approx(33.33)


def test_render_parameters_uses_variables_and_completed_outputs(session: Session) -> None:
    execution = started(session, replicas="3")
    step = runs(execution)
    assert execution.render_parameters(step["a"]) == {"region": "eu"}
    assert execution.render_parameters(step["b"]) == {"n": 3}
    finish(step["a"], {"host": "db-1"})
    assert execution.render_parameters(step["d"]) == {
        "auth": f"Bearer {SECRET}",
        "host": "db-1",
    }


def test_a_missing_output_names_the_step_parameter_and_name(session: Session) -> None:
    execution = started(session)
    with pytest.raises(RenderError) as caught:
        execution.render_parameters(runs(execution)["d"])
    assert str(caught.value) == "step 'd', parameter 'host': undefined variable 'steps.a'"


def test_a_placeholder_added_by_hand_is_caught_at_render_time(session: Session) -> None:
    playbook = make_playbook(session, steps=1)
    playbook.steps[0].parameters = {"target": "{{ undeclared }}"}
    execution = playbook.new_execution()
    session.flush()
    execution.start_execution()
    with pytest.raises(RenderError) as caught:
        execution.render_parameters(execution.step_executions[0])
    assert str(caught.value) == (
        "step 'step_1', parameter 'target': undefined variable 'undeclared'"
    )


def test_a_step_execution_of_another_execution_is_refused(session: Session) -> None:
    playbook = diamond(session)
    first = playbook.new_execution({"token": SECRET})
    second = playbook.new_execution({"token": SECRET})
    session.flush()
    with pytest.raises(ValueError, match="belongs to another execution"):
        first.render_parameters(second.step_executions[0])


def test_secrets_render_but_never_reach_logs_snapshots_or_dicts(
    session: Session, capfire: CaptureLogfire
) -> None:
    execution = started(session)
    step = runs(execution)
    finish(step["a"], {"host": "db-1"})
    assert execution.render_parameters(step["d"])["auth"] == f"Bearer {SECRET}"
    session.flush()
    logged = repr(capfire.exporter.exported_spans_as_dict())
    assert "step.parameters_rendered" in logged
    assert SECRET not in logged
    assert execution.snapshot is not None
    assert SECRET not in repr(execution.snapshot.document)
    assert SECRET not in repr(execution.to_dict())
    assert SECRET not in repr(execution)


def test_rows_that_are_no_valid_definition_are_still_snapshotted_with_secrets_redacted(
    session: Session,
) -> None:
    playbook = make_playbook(
        session,
        steps=1,
        variables=[
            PlaybookVariable(variable_name="token", is_sensitive=True, default_value=SECRET)
        ],
    )
    playbook.steps[0].parameters = {"target": "{{ undeclared }}"}
    execution = playbook.new_execution()
    assert execution.snapshot is not None
    snapshot = execution.snapshot.document
    assert [step["step_name"] for step in snapshot["steps"]] == ["step_1"]
    assert snapshot["variables"][0]["default_value"] == REDACTED
    assert execution.definition_hash is not None
    assert len(execution.definition_hash) == 64


def test_refresh_progress_recounts_after_a_change_that_bypassed_the_step_methods(
    session: Session,
) -> None:
    execution = started(session)
    step = runs(execution)
    step["a"].start_step()
    step["a"].fail_step("transient")
    assert (execution.failed_steps, execution.progress_percentage) == (1, 25.0)
    step["a"].status = StepStatus.RUNNING  # a retry taking the step back, outside the methods
    refresh_progress(execution)
    assert (execution.failed_steps, execution.progress_percentage) == (0, 0.0)
    step["a"].complete_step({"host": "db-1"})
    assert (execution.completed_steps, execution.progress_percentage) == (1, 25.0)


def test_finishing_a_run_counts_it_without_bumping_the_playbook_row_version(
    session: Session,
) -> None:
    execution = started(session)
    playbook = execution.playbook
    session.flush()
    version = playbook.row_version
    for run in execution.step_executions:
        finish(run, {"host": "db-1"})
    execution.complete_execution()
    session.flush()
    session.refresh(playbook)
    assert (playbook.total_executions, playbook.successful_executions) == (1, 1)
    assert playbook.row_version == version
