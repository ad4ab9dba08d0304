"""Lifecycle events and query spans, captured with Logfire's ``capfire`` fixture."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logfire.testing import CaptureLogfire
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from agentical.db.enums import VariableType
from agentical.db.observability import instrument, transition_event
from agentical.db.session import create_async_engine
from agentical.db.session import create_engine as session_create_engine
from agentical.db.testing.factories import Factories


def _events(capfire: CaptureLogfire) -> list[dict[str, Any]]:
    spans = capfire.exporter.exported_spans_as_dict()
    return [span for span in spans if "agentical" in span["attributes"].get("logfire.tags", ())]


def _by_name(capfire: CaptureLogfire) -> dict[str, dict[str, Any]]:
    return {span["name"]: span["attributes"] for span in _events(capfire)}


@pytest.mark.parametrize(
    ("kind", "previous", "target", "expected"),
    [
        ("execution", "pending", "running", "execution.started"),
        ("execution", "paused", "running", "execution.resumed"),
        ("execution", "running", "failed", "execution.failed"),
        ("step", "pending", "running", "step.started"),
        ("step", "pending", "skipped", "step.skipped"),
    ],
)
def test_transition_events_are_named_for_what_happened(
    kind: str, previous: str, target: str, expected: str
) -> None:
    assert transition_event(kind, previous, target) == expected


def test_execution_lifecycle_emits_one_event_per_transition_without_secrets(
    capfire: CaptureLogfire, agentical_factories: Factories
) -> None:
    token = agentical_factories.variable(
        "api_token",
        variable_type=VariableType.STRING,
        enum_values=[],
        default_value=None,
        is_sensitive=True,
    )
    playbook = agentical_factories.playbook(name="Failover", steps=1, variables=[token])
    execution = agentical_factories.execution(playbook)
    execution.start_execution({"api_token": "s3cr3t-token-value"})
    execution.pause_execution()
    execution.resume_execution()
    execution.complete_execution(overall_success=False, error_message="replica lagging")

    events = _by_name(capfire)
    assert [span["name"] for span in _events(capfire)] == [
        "execution.started",
        "execution.paused",
        "execution.resumed",
        "execution.failed",
    ]
    failed = events["execution.failed"]
    assert failed["execution_id"] == execution.execution_id
    assert failed["playbook_id"] == playbook.id
    assert failed["playbook_name"] == "Failover"
    assert failed["status"] == "failed"
    assert failed["previous_status"] == "running"
    assert failed["duration_seconds"] >= 0
    assert "s3cr3t-token-value" not in json.dumps(capfire.exporter.exported_spans_as_dict())


def test_cancel_emits_execution_cancelled(
    capfire: CaptureLogfire, agentical_factories: Factories
) -> None:
    execution = agentical_factories.execution()
    execution.cancel_execution("not needed")
    assert _by_name(capfire)["execution.cancelled"]["previous_status"] == "pending"


def test_step_transitions_emit_step_events_with_their_execution(
    capfire: CaptureLogfire, agentical_factories: Factories, agentical_session: Session
) -> None:
    from agentical.db.models.playbook import PlaybookStepExecution

    playbook = agentical_factories.playbook(name="Deploy", steps=["build", "ship", "notify"])
    execution = agentical_factories.execution(playbook)
    execution.start_execution()
    runs = [
        PlaybookStepExecution(execution=execution, step=step, step_order=step.step_order)
        for step in playbook.steps
    ]
    agentical_session.add_all(runs)
    agentical_session.flush()
    runs[0].start_step()
    runs[0].complete_step({"artifact": "v1"})
    runs[1].start_step()
    runs[1].fail_step("registry down")
    runs[2].skip_step("ship failed")

    names = [span["name"] for span in _events(capfire) if span["name"].startswith("step.")]
    assert names == [
        "step.started",
        "step.completed",
        "step.started",
        "step.failed",
        "step.skipped",
    ]
    failed = _by_name(capfire)["step.failed"]
    assert failed["step_name"] == "ship"
    assert failed["step_order"] == 2
    assert failed["execution_id"] == execution.execution_id
    assert failed["playbook_name"] == "Deploy"
    assert failed["step_execution_id"] == runs[1].id
    assert failed["duration_seconds"] >= 0


def test_template_instantiation_is_recorded(
    capfire: CaptureLogfire, agentical_factories: Factories
) -> None:
    template = agentical_factories.template(name="Rollout")
    template.create_playbook("Deploy api", created_by="ops")
    attributes = _by_name(capfire)["template.instantiated"]
    assert attributes["template_name"] == "Rollout"
    assert attributes["template_id"] == template.id
    assert attributes["playbook_name"] == "Deploy api"


@pytest.fixture
def instrumentation_off() -> Iterator[None]:
    """OpenTelemetry instruments SQLAlchemy once per process: start and end with it off."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:  # left on by an earlier test
        instrumentor.uninstrument()
    yield
    instrumentor.uninstrument()


def _statements(capfire: CaptureLogfire) -> list[Any]:
    spans = capfire.exporter.exported_spans_as_dict()
    return [span["attributes"].get("db.statement") for span in spans]


@pytest.mark.usefixtures("instrumentation_off")
def test_instrument_traces_the_queries_of_an_engine_and_of_later_ones(
    capfire: CaptureLogfire,
) -> None:
    first = create_engine("sqlite://")
    try:
        assert instrument(first) is True
        assert instrument(first) is False  # already on: nothing more to do
        later = session_create_engine("sqlite://")  # made afterwards: traced as well
        with first.connect() as connection, later.connect() as other:
            connection.execute(text("SELECT 42"))
            other.execute(text("SELECT 43"))
        later.dispose()
    finally:
        first.dispose()
    assert {"SELECT 42", "SELECT 43"} <= set(_statements(capfire))


@pytest.mark.usefixtures("instrumentation_off")
def test_instrument_accepts_an_async_engine(capfire: CaptureLogfire, tmp_path: Path) -> None:
    async def main() -> None:
        engine = create_async_engine(f"sqlite:///{tmp_path / 'traced.db'}")
        try:
            assert instrument(engine) is True
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 7"))
        finally:
            await engine.dispose()

    asyncio.run(main())
    assert "SELECT 7" in _statements(capfire)


def test_instrument_is_a_no_op_without_the_logfire_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "logfire", None)  # import logfire now fails
    engine = create_engine("sqlite://")
    try:
        assert instrument(engine) is False
    finally:
        engine.dispose()


def test_importing_a_definition_is_recorded_without_secret_defaults(
    capfire: CaptureLogfire, agentical_session: Session
) -> None:
    from agentical.db.models.playbook import Playbook

    definition = {
        "name": "Rotate keys",
        "category": "security",
        "steps": [{"name": "rotate"}],
        "variables": [{"name": "old_key", "sensitive": True, "default": "k3y-d3fault-value"}],
    }
    playbook = Playbook.import_definition(agentical_session, definition, created_by="ops")
    attributes = _by_name(capfire)["playbook.imported"]
    assert attributes["playbook_id"] == playbook.id
    assert attributes["playbook_name"] == "Rotate keys"
    assert attributes["version"] == 1
    assert "k3y-d3fault-value" not in json.dumps(capfire.exporter.exported_spans_as_dict())
