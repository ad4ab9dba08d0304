"""Secret scan: a sentinel stored in a sensitive variable and passed as a sensitive input
never shows in ``to_dict``, ``repr``, exception text, DEBUG log records, Logfire spans,
CLI output or a YAML/JSON export, on every database.

The engine comes from ``agentical.db.session.create_engine``, as an application's would:
SQL parameters are part of what could leak.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logfire.testing import CaptureLogfire
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from agentical.cli.main import app
from agentical.db.enums import StepStatus, VariableType
from agentical.db.migrate import upgrade
from agentical.db.models.playbook import (
    Playbook,
    PlaybookVariable,
    claim_ready_steps,
    start_execution,
)
from agentical.db.observability import instrument
from agentical.db.schemas.definition_io import validate_definition
from agentical.db.session import create_engine
from agentical.db.testing.databases import temporary_database
from agentical.db.testing.factories import make_playbook
from tests.conftest import require_server

SENTINEL = f"sentinel-{secrets.token_hex(8)}"
PATTERN = r"sentinel-[0-9a-f]{16}"


@pytest.fixture(scope="module")
def url(database: str) -> Iterator[str]:
    with temporary_database(require_server(database)) as database_url:
        engine = create_engine(database_url)
        try:
            with engine.begin() as connection:
                upgrade(connection)
        finally:
            engine.dispose()
        yield database_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = create_engine(url)
    yield engine
    engine.dispose()


class Seen:
    """Everything the scan looks through."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, value: Any) -> None:
        self.texts.append((where, value if isinstance(value, str) else repr(value)))

    def error(self, where: str, error: BaseException) -> None:
        self.add(f"str({where})", str(error))
        self.add(f"repr({where})", repr(error))
        cause = error.__cause__ or error.__context__
        if cause is not None:
            self.error(f"{where}.__cause__", cause)

    def leaks(self) -> list[str]:
        return [where for where, text in self.texts if SENTINEL in text]


def _capture(seen: Seen, where: str, action: Any) -> None:
    try:
        action()
    except Exception as error:
        seen.error(where, error)
    else:
        pytest.fail(f"{where} was expected to fail")


def _sensitive_variables() -> list[PlaybookVariable]:
    return [
        PlaybookVariable(
            variable_name="api_key",
            variable_type=VariableType.STRING,
            is_sensitive=True,
            pattern=PATTERN,
            default_value=SENTINEL,
        ),
        PlaybookVariable(
            variable_name="token", variable_type=VariableType.STRING, is_sensitive=True
        ),
    ]


def _exercise(session: Session, seen: Seen) -> None:
    playbook = make_playbook(session, steps=2, chain=False, variables=_sensitive_variables())
    api_key, token = playbook.variables
    token.set_value(SENTINEL)
    session.commit()
    _capture(seen, "set_value", lambda: api_key.set_value(SENTINEL + "-not-matching"))
    _capture(seen, "new_execution", lambda: playbook.new_execution({"api_key": [SENTINEL]}))
    execution = playbook.new_execution({"api_key": SENTINEL, "token": SENTINEL})
    session.commit()
    start_execution(session, execution)
    for step_run in claim_ready_steps(session, worker_id="scanner", limit=5):
        step_run.complete_step({"ok": True})
    session.commit()
    session.add(
        PlaybookVariable(
            playbook_id=playbook.id,
            variable_name="api_key",
            is_sensitive=True,
            default_value=SENTINEL,
        )
    )
    _capture(seen, "duplicate sensitive variable", session.commit)
    session.rollback()
    definition = playbook.to_definition()
    seen.add("export yaml", definition.to_yaml())
    seen.add("export json", definition.to_json())
    bad = definition.model_dump(mode="json", by_alias=True)
    bad["variables"][0]["default"] = SENTINEL + "-not-matching"
    _capture(seen, "validate_definition", lambda: validate_definition(bad))
    for row in (playbook, *playbook.variables, execution, *execution.step_executions):
        seen.add(f"to_dict {row!r}", json.dumps(row.to_dict()))
        seen.add(f"repr {row!r}", repr(row))
        seen.add(f"str {row!r}", str(row))
    assert {run.status for run in execution.step_executions} <= {
        StepStatus.RUNNING,
        StepStatus.COMPLETED,
    }


def test_the_sentinel_reaches_the_database_but_nothing_else(
    engine: Engine, caplog: pytest.LogCaptureFixture, capfire: CaptureLogfire
) -> None:
    instrument(engine)
    seen = Seen()
    # SQLAlchemy sets its own loggers to WARNING: turn them up too, as a debugging user would.
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="sqlalchemy"),
        Session(engine) as session,
    ):
        _exercise(session, seen)
        stored = session.get(Playbook, session.query(Playbook.id).scalar())
        assert stored is not None
        assert stored.variables[0].default_value == SENTINEL  # it is really there
    for record in caplog.records:
        seen.add(f"log {record.name}", record.getMessage())
        seen.add(f"log args {record.name}", repr(record.args))
    assert any(record.name.startswith("sqlalchemy") for record in caplog.records)
    spans = capfire.exporter.exported_spans_as_dict()
    assert spans
    seen.add("logfire spans", json.dumps(spans, default=str))
    leaks = seen.leaks()
    assert leaks == [], "\n".join(leaks)


def test_the_cli_never_prints_or_exports_the_sentinel(url: str, tmp_path: Path) -> None:
    definition: dict[str, Any] = {
        "name": f"Rotate keys {secrets.token_hex(3)}",
        "category": "security",
        "steps": [{"name": "rotate", "parameters": {"key": "{{ api_key }}"}}],
        "variables": [
            {
                "name": "api_key",
                "type": "string",
                "sensitive": True,
                "pattern": PATTERN,
                "default": SENTINEL,
            }
        ],
    }
    source = tmp_path / "rotate.yaml"
    source.write_text(json.dumps(definition), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({**definition, "variables": [{**definition["variables"][0], "default": "x"}]})
    )
    runner = CliRunner()
    name = str(definition["name"])
    outputs: list[tuple[list[str], str]] = []
    for args in (
        ["playbook", "validate", str(source)],
        ["playbook", "validate", str(bad)],
        ["playbook", "import", str(source)],
        ["playbook", "show", name],
        ["playbook", "list"],
        ["playbook", "run", name, "--var", f"api_key={SENTINEL}", "--simulate"],
        ["playbook", "run", name, "--var", f"api_key={SENTINEL}-bad", "--simulate"],
        ["playbook", "run", name, "--var", f"api_key={SENTINEL}", "--simulate", "--fail", "rotate"],
        ["playbook", "stats", name],
        ["playbook", "export", name, "--format", "yaml"],
        ["playbook", "export", name, "--format", "json"],
        ["playbook", "export", name, "--output", str(tmp_path / "out.yaml")],
    ):
        result = runner.invoke(
            app, ["--database-url", url, *args], env={"COLUMNS": "200", "LOGFIRE_TOKEN": None}
        )
        outputs.append((args, result.output + repr(result.exception)))
    outputs.append((["exported file"], (tmp_path / "out.yaml").read_text(encoding="utf-8")))
    leaks = [args for args, output in outputs if SENTINEL in output]
    assert leaks == []
    assert "import" in outputs[2][0]
