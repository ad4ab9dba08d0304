"""Secret scan: a sentinel stored in a sensitive variable and passed as a sensitive input
never shows in ``to_dict``, any schema's ``model_dump``/``model_dump_json``, ``repr``,
exception text, DEBUG log records (under any engine logging name), Logfire spans, CLI
output, a YAML/JSON export or the JSON-lines history export, on every database; and with
``AGENTICAL_SECRET_KEY`` set, not in the database rows either.

The engine comes from ``agentical.db.session.create_engine``, as an application's would:
SQL parameters are part of what could leak. It is also made with
``echo="debug", logging_name="svc"``, as a service debugging its queries would.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from logfire.testing import CaptureLogfire
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from agentical.cli.main import app
from agentical.db.encryption import SECRET_KEY_VARIABLE
from agentical.db.enums import StepStatus, VariableType
from agentical.db.history import export_executions_jsonl
from agentical.db.migrate import upgrade
from agentical.db.models import Base
from agentical.db.models.playbook import (
    Playbook,
    PlaybookTemplate,
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


ENGINE_OPTIONS = {"default": {}, "echo as svc": {"echo": "debug", "logging_name": "svc"}}


@pytest.fixture
def empty_url(url: str) -> str:
    """The module's database with no rows left by the previous test (and its key)."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=list(ENGINE_OPTIONS))
def engine(empty_url: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    engine = create_engine(empty_url, **ENGINE_OPTIONS[request.param])
    yield engine
    engine.dispose()


@pytest.fixture(params=["no key", "with a key"])
def secret_key(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run with and without encryption at rest; ``True`` when a key is set."""
    if request.param == "no key":
        monkeypatch.delenv(SECRET_KEY_VARIABLE, raising=False)
        return False
    monkeypatch.setenv(SECRET_KEY_VARIABLE, Fernet.generate_key().decode())
    return True


def _database_rows(engine: Engine) -> str:
    """Every row of every table, as the database holds it."""
    with engine.connect() as connection:
        return "\n".join(
            repr(connection.execute(text(f"SELECT * FROM {table.name}")).all())
            for table in Base.metadata.sorted_tables
        )


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


def _exercise(session: Session, seen: Seen) -> int:
    """Use every path a value takes; return the playbook's id."""
    playbook = make_playbook(session, steps=2, chain=False, variables=_sensitive_variables())
    api_key, token = playbook.variables
    token.set_value(SENTINEL)
    session.commit()
    _capture(seen, "set_value", lambda: api_key.set_value(SENTINEL + "-not-matching"))
    _capture(seen, "new_execution", lambda: playbook.new_execution({"api_key": [SENTINEL]}))
    _capture(seen, "new_execution NUL", lambda: playbook.new_execution({"token": SENTINEL + "\0"}))
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
    seen.add("definition model_dump", definition.model_dump())
    seen.add("definition model_dump_json", definition.model_dump_json())
    seen.add("definition repr", repr(definition))
    template = PlaybookTemplate.from_playbook(playbook, f"t-{secrets.token_hex(3)}", "1.0.0")
    history = io.StringIO()
    export_executions_jsonl(session, history)
    seen.add("history export", history.getvalue())
    bad = definition.model_dump(mode="json", by_alias=True)
    bad["variables"][0]["default"] = SENTINEL + "-not-matching"
    _capture(seen, "validate_definition", lambda: validate_definition(bad))
    for row in (playbook, *playbook.variables, execution, *execution.step_executions, template):
        seen.add(f"to_dict {row!r}", json.dumps(row.to_dict()))
        seen.add(f"repr {row!r}", repr(row))
        seen.add(f"str {row!r}", str(row))
        schema = type(row).__read_schema__.model_validate(row)
        seen.add(f"model_dump {row!r}", schema.model_dump())
        seen.add(f"model_dump_json {row!r}", schema.model_dump_json())
        seen.add(f"repr of the schema of {row!r}", repr(schema))
    assert {run.status for run in execution.step_executions} <= {
        StepStatus.RUNNING,
        StepStatus.COMPLETED,
    }
    return playbook.id


def test_the_sentinel_reaches_the_database_but_nothing_else(
    engine: Engine,
    secret_key: bool,
    caplog: pytest.LogCaptureFixture,
    capfire: CaptureLogfire,
) -> None:
    instrument(engine)
    seen = Seen()
    # SQLAlchemy sets its own loggers to WARNING: turn them up too, as a debugging user would.
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="sqlalchemy"),
        Session(engine) as session,
    ):
        stored = session.get(Playbook, _exercise(session, seen))
        assert stored is not None
        assert stored.variables[0].default_value == SENTINEL  # it is really there
    for record in caplog.records:
        seen.add(f"log {record.name}", record.getMessage())
        seen.add(f"log args {record.name}", repr(record.args))
    assert any(record.name.startswith("sqlalchemy") for record in caplog.records)
    spans = capfire.exporter.exported_spans_as_dict()
    assert spans
    seen.add("logfire spans", json.dumps(spans, default=str))
    rows = _database_rows(engine)
    assert (SENTINEL in rows) is not secret_key  # stored in plaintext only without a key
    leaks = seen.leaks()
    assert leaks == [], "\n".join(leaks)


def test_the_cli_never_prints_or_exports_the_sentinel(
    empty_url: str, tmp_path: Path, secret_key: bool
) -> None:
    url = empty_url
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
        ["playbook", "run", name, "--var", f"api_key:{SENTINEL}", "--simulate"],
        ["playbook", "run", name, "--var", f"api_key={SENTINEL}\0", "--simulate"],
        ["playbook", "run", name, "--var", f"api_key={SENTINEL}", "--simulate", "--fail", "rotate"],
        ["playbook", "stats", name],
        ["playbook", "export", name, "--format", "yaml"],
        ["playbook", "export", name, "--format", "json"],
        ["playbook", "export", name, "--output", str(tmp_path / "out.yaml")],
    ):
        environment = {"COLUMNS": "200", "LOGFIRE_TOKEN": None}
        result = runner.invoke(app, ["--database-url", url, *args], env=environment)
        outputs.append((args, result.output + repr(result.exception)))
    outputs.append((["exported file"], (tmp_path / "out.yaml").read_text(encoding="utf-8")))
    if secret_key:
        outputs.append(
            (
                ["rotate-secrets"],
                runner.invoke(app, ["--database-url", url, "db", "rotate-secrets"]).output,
            )
        )
        engine = create_engine(url)
        try:
            outputs.append((["database rows"], _database_rows(engine)))
        finally:
            engine.dispose()
    leaks = [args for args, output in outputs if SENTINEL in output]
    assert leaks == []
    assert "import" in outputs[2][0]
