"""The golden example definitions: load, validate, export, import into the database, read
back, and run to completion through ``ready_steps`` and ``render_parameters``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.models.playbook import (
    Playbook,
    PlaybookDefinition,
    PlaybookExecution,
    PlaybookTemplate,
    load_definition,
)
from agentical.db.schemas.definition_io import SCHEMA_FILE

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class Example:
    file: str
    inputs: dict[str, str]
    secret: str
    outputs: dict[str, dict[str, Any]]
    expected: dict[tuple[str, str], Any] = field(default_factory=dict)


INCIDENT = Example(
    file="incident_response.yaml",
    inputs={"service": "orders", "cluster": "pg-main", "admin_api_token": "tok-incident-9f3"},
    secret="tok-incident-9f3",
    outputs={
        "assess": {"primary_host": "pg-main-0", "best_replica": "pg-main-2"},
        "promote_replica": {"new_primary": "pg-main-2.internal"},
    },
    expected={
        ("acknowledge", "message"): "Investigating orders database outage (severity high)",
        ("promote_replica", "replica"): "pg-main-2",
        ("promote_replica", "api_token"): "tok-incident-9f3",
        ("update_status_page", "note"): "Failed over to pg-main-2.internal",
    },
)
DEPLOYMENT = Example(
    file="zero_downtime_deployment.yaml",
    inputs={
        "service": "checkout",
        "version": "v2.14.1",
        "canary_replicas": "3",
        "run_migrations": "yes",
        "registry_password": "reg-pass-41c",
    },
    secret="reg-pass-41c",
    outputs={
        "preflight": {"image_digest": "sha256:abc123"},
        "deploy_canary": {"pods": ["checkout-canary-1", "checkout-canary-2"]},
    },
    expected={
        ("deploy_canary", "replicas"): 3,
        ("watch_canary", "pods"): ["checkout-canary-1", "checkout-canary-2"],
        ("watch_canary", "max_error_rate"): 0.01,
        ("roll_out", "run_migrations"): True,
        ("verify", "expected_version"): "v2.14.1",
    },
)
DRILL = Example(
    file="backup_restore_drill.yaml",
    inputs={"backup_date": "2026-11-26", "encryption_key": "kms-key-0123456789abcdef"},
    secret="kms-key-0123456789abcdef",
    outputs={
        "select_backup": {"uri": "s3://backups-prod/nightly/2026-11-26", "started_at": "01:00"},
        "provision_sandbox": {"host": "sandbox-7"},
        "restore": {"finished_at": "01:42"},
        "measure_rto": {"minutes": 42},
    },
    expected={
        ("restore", "target"): "sandbox-7",
        ("verify_integrity", "tables"): ["users", "orders"],
        ("report", "summary"): "Restore of 2026-11-26 took 42 minutes",
        ("report", "recipients"): {"email": ["dba@example.com"], "slack": "#backups"},
    },
)
EXAMPLES_RUN = (INCIDENT, DEPLOYMENT, DRILL)
EXAMPLE_CASES = [pytest.param(example, id=example.file) for example in EXAMPLES_RUN]


def load(example: Example) -> PlaybookDefinition:
    return load_definition(EXAMPLES / example.file)


def test_every_example_file_has_a_case() -> None:
    assert sorted(path.name for path in EXAMPLES.glob("*.yaml")) == sorted(
        example.file for example in EXAMPLES_RUN
    )


@pytest.mark.parametrize("example", EXAMPLE_CASES)
def test_examples_are_valid_realistic_and_survive_export(example: Example) -> None:
    definition = load(example)
    assert definition.name
    assert definition.category
    assert len(definition.steps) >= 6
    assert any(step.depends_on for step in definition.steps)
    assert any(variable.is_sensitive for variable in definition.variables)
    exported = definition.to_yaml()
    assert load_definition(exported) == definition
    assert load_definition(exported).to_yaml() == exported
    assert load_definition(definition.to_json()) == definition


@pytest.mark.parametrize("example", EXAMPLE_CASES)
def test_examples_round_trip_through_the_database(
    session: Session, fresh_session: Callable[[], Session], example: Example
) -> None:
    definition = load(example)
    playbook = Playbook.from_definition(definition, created_by="ci")
    assert playbook.to_definition() == definition
    session.add(playbook)
    session.flush()
    other = fresh_session()
    stored = other.get(Playbook, playbook.id)
    assert stored is not None
    assert stored.created_by == "ci"
    assert stored.to_definition() == definition
    assert stored.to_definition().to_yaml() == definition.to_yaml()
    reimported = Playbook.import_definition(
        other, load_definition(stored.to_definition().to_yaml())
    )
    assert reimported.version == 2
    assert reimported.to_definition() == definition


def run_to_completion(
    session: Session, execution: PlaybookExecution, outputs: dict[str, dict[str, Any]]
) -> tuple[list[list[str]], dict[tuple[str, str], Any]]:
    """Drive the execution like a runner would; return the waves and every rendered value."""
    execution.start_execution()
    waves: list[list[str]] = []
    rendered: dict[tuple[str, str], Any] = {}
    while ready := execution.ready_steps():
        waves.append([run.step_name for run in ready])
        for run in ready:
            for key, value in execution.render_parameters(run).items():
                rendered[(run.step_name, key)] = value
            run.start_step()
            assert execution.current_step == run.step_name
            run.complete_step(outputs.get(run.step_name, {}))
        session.flush()
    assert execution.status is ExecutionStatus.COMPLETED  # the last step ended the run
    return waves, rendered


@pytest.mark.parametrize("example", EXAMPLE_CASES)
def test_a_simulated_run_of_each_example_completes(
    session: Session, fresh_session: Callable[[], Session], example: Example
) -> None:
    playbook = Playbook.import_definition(session, load(example), created_by="ci")
    execution = playbook.new_execution(example.inputs, triggered_by="test")
    session.flush()

    waves, rendered = run_to_completion(session, execution, example.outputs)

    names = [step.step_name for step in playbook.steps]
    assert sorted(name for wave in waves for name in wave) == sorted(names)
    position = {name: index for index, wave in enumerate(waves) for name in wave}
    for step in playbook.steps:
        for dependency in step.depends_on:
            assert position[dependency.step_name] < position[step.step_name]
    for key, value in example.expected.items():
        assert rendered[key] == value

    other = fresh_session()
    stored = other.get(PlaybookExecution, execution.id)
    assert stored is not None
    assert stored.status is ExecutionStatus.COMPLETED
    assert (stored.completed_steps, stored.failed_steps, stored.skipped_steps) == (len(names), 0, 0)
    assert stored.progress_percentage == 100.0
    assert stored.current_step == waves[-1][-1]
    assert {run.status for run in stored.step_executions} == {StepStatus.COMPLETED}
    assert stored.definition_hash == load(example).content_hash()
    assert stored.snapshot is not None
    assert example.secret not in json.dumps(stored.snapshot.document)
    assert example.secret not in json.dumps(stored.to_dict())
    played = other.get(Playbook, playbook.id)
    assert played is not None
    assert (played.total_executions, played.successful_executions) == (1, 1)
    assert played.last_execution_at is not None


def test_a_run_of_a_playbook_made_from_a_template_counts_for_the_template(
    session: Session,
) -> None:
    source = Playbook.from_definition(load(DRILL))
    template = PlaybookTemplate.from_playbook(source, "Restore drill", "2.0.0")
    session.add(template)
    playbook = template.create_playbook("Quarterly drill", created_by="scheduler")
    session.add(playbook)
    session.flush()
    assert playbook.template_id == template.id
    assert playbook.to_definition().steps == source.to_definition().steps

    run_to_completion(session, playbook.new_execution(DRILL.inputs), DRILL.outputs)

    assert (template.total_executions, template.successful_executions) == (1, 1)
    assert (playbook.total_executions, playbook.successful_executions) == (1, 1)
    assert template.usage_count == 1


def test_importing_a_known_name_creates_the_next_version_and_keeps_the_previous(
    session: Session,
) -> None:
    first = Playbook.import_definition(session, load(INCIDENT))
    edited = load(INCIDENT).model_copy(update={"description": "Second revision"})
    second = Playbook.import_definition(session, edited, created_by_user_id=None)
    other = Playbook.import_definition(session, load(DEPLOYMENT))
    assert (first.version, second.version, other.version) == (1, 2, 1)
    versions = session.scalars(select(Playbook.version).where(Playbook.name == first.name))
    assert sorted(versions) == [1, 2]
    assert first.description != "Second revision"
    assert second.description == "Second revision"


def test_an_execution_keeps_the_definition_it_ran_after_the_playbook_changes(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook = Playbook.import_definition(session, load(DEPLOYMENT))
    execution = playbook.new_execution(DEPLOYMENT.inputs)
    session.flush()
    assert execution.snapshot is not None
    snapshot = execution.snapshot.document
    playbook.steps[0].parameters = {"image": "changed"}
    playbook.description = "Edited after the run"
    session.flush()
    stored = fresh_session().get(PlaybookExecution, execution.id)
    assert stored is not None
    assert stored.snapshot is not None
    assert stored.snapshot.document == snapshot
    assert PlaybookDefinition.model_validate(stored.snapshot.document) == load(DEPLOYMENT)
    assert stored.definition_hash == load(DEPLOYMENT).content_hash()
    assert stored.definition_hash != playbook.to_definition().content_hash()


def test_the_database_refuses_a_second_playbook_with_the_same_name_and_version(
    session: Session,
) -> None:
    Playbook.import_definition(session, load(INCIDENT))
    session.add(Playbook.from_definition(load(INCIDENT)))  # version 1 again
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    assert Playbook.import_definition(session, load(INCIDENT)).version == 1


@pytest.mark.parametrize("example", EXAMPLE_CASES)
def test_examples_are_valid_under_the_published_schema(example: Example) -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    raw = yaml.safe_load((EXAMPLES / example.file).read_text(encoding="utf-8"))
    Draft202012Validator(schema).validate(raw)
