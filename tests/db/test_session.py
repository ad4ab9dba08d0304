"""Sync and asyncio engines and sessions from ``agentical.db.session``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from agentical.db.models.playbook import (
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    PlaybookStep,
    PlaybookStepExecution,
)
from agentical.db.session import (
    DEFAULT_DATABASE_URL,
    async_session_factory,
    async_url,
    create_async_engine,
    create_engine,
    database_url,
    session_factory,
    sync_url,
)
from agentical.db.testing.factories import make_playbook, make_variable
from tests.conftest import require_server
from tests.db.conftest import ASYNC_DATABASES


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///a.db", "sqlite+aiosqlite:///a.db"),
        ("postgresql://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("mariadb+pymysql://u@h/d", "mariadb+pymysql://u@h/d"),
    ],
)
def test_async_url_picks_the_asyncio_driver(given: str, expected: str) -> None:
    assert async_url(given).render_as_string() == expected


def test_sync_url_is_the_inverse() -> None:
    assert sync_url("sqlite+aiosqlite:///a.db").render_as_string() == "sqlite+pysqlite:///a.db"
    assert sync_url("postgresql+asyncpg://u@h/d").drivername == "postgresql+psycopg"


def test_database_url_falls_back_to_the_environment_then_a_local_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AGENTICAL_DATABASE_URL", raising=False)
    assert database_url() == DEFAULT_DATABASE_URL
    monkeypatch.setenv("AGENTICAL_DATABASE_URL", "sqlite:///env.db")
    assert database_url() == "sqlite:///env.db"
    assert database_url("sqlite:///given.db") == "sqlite:///given.db"


@pytest.mark.parametrize(
    ("options", "expected"),
    [({}, "READ COMMITTED"), ({"isolation_level": "REPEATABLE READ"}, "REPEATABLE READ")],
)
def test_mariadb_transactions_begin_at_read_committed_unless_told_otherwise(
    options: dict[str, Any], expected: str
) -> None:
    """As on PostgreSQL: an operator's transaction sees the steps finished since it began
    (``tests/concurrency/test_run_end.py`` shows the deadlock that REPEATABLE READ allows)."""
    server = require_server("mariadb")
    assert server is not None
    engine = create_engine(server, **options)
    try:
        with engine.connect() as connection:
            assert connection.get_isolation_level() == expected
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", ASYNC_DATABASES, indirect=True)
def test_sync_factory_opens_sessions_on_the_migrated_schema(migrated_url: str) -> None:
    engine = create_engine(migrated_url)
    try:
        with session_factory(engine)() as session:
            playbook = make_playbook(session, steps=2)
            session.commit()
            assert session.scalar(select(func.count()).select_from(PlaybookStep)) == 2
            session.delete(playbook)
            session.commit()
    finally:
        engine.dispose()


def test_aiosqlite_connections_enforce_foreign_keys(tmp_path: Path) -> None:
    async def main() -> int:
        engine = create_async_engine(f"sqlite:///{tmp_path / 'fk.db'}")
        try:
            async with engine.connect() as connection:
                return int(await connection.scalar(text("PRAGMA foreign_keys")))
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == 1


@pytest.mark.parametrize("database", ASYNC_DATABASES, indirect=True)
def test_models_work_in_an_async_session_without_implicit_loads(migrated_url: str) -> None:
    async def main() -> None:
        engine = create_async_engine(migrated_url)
        sessions = async_session_factory(engine)
        try:
            async with sessions() as session:
                playbook = await session.run_sync(
                    lambda sync: make_playbook(sync, steps=3, variables=[make_variable()])
                )
                execution = PlaybookExecution(playbook=playbook, triggered_by="async")
                session.add(execution)
                execution.start_execution({"severity": "high"})
                execution.complete_execution(overall_success=True)
                await session.commit()
                playbook_id = playbook.id
                # expire_on_commit=False: attributes stay readable after commit.
                assert execution.status is ExecutionStatus.COMPLETED

            async with sessions() as session:
                loaded = await session.get_one(Playbook, playbook_id)
                # steps, variables and dependencies load eagerly (selectin) under asyncio too
                assert [step.step_name for step in loaded.steps] == ["step_1", "step_2", "step_3"]
                assert loaded.steps[2].depends_on == [loaded.steps[1]]
                assert loaded.variables[0].variable_name == "severity"
                # executions are lazy: under asyncio they are awaited explicitly
                assert "executions" not in sa_inspect(loaded).dict
                executions = await loaded.awaitable_attrs.executions
                assert [run.status for run in executions] == [ExecutionStatus.COMPLETED]
                assert executions[0].to_dict()["input_variables"] == {"severity": "high"}

            async with sessions() as session:
                await session.execute(delete(Playbook).where(Playbook.id == playbook_id))
                await session.commit()
                remaining = await session.scalar(select(func.count()).select_from(PlaybookStep))
                assert remaining == 0  # ON DELETE CASCADE: the pragma is on for aiosqlite
        finally:
            await engine.dispose()

    asyncio.run(main())


@pytest.mark.parametrize("database", ASYNC_DATABASES, indirect=True)
def test_a_step_finished_in_an_async_session_is_counted_on_commit(migrated_url: str) -> None:
    async def main() -> None:
        engine = create_async_engine(migrated_url)
        sessions = async_session_factory(engine)

        def started(sync: Session) -> int:
            execution = make_playbook(sync, steps=3).new_execution()
            execution.start_execution()
            sync.flush()
            return execution.id

        try:
            async with sessions() as session:
                execution_id = await session.run_sync(started)
                await session.commit()
            async with sessions() as session:
                execution = await session.get_one(
                    PlaybookExecution,
                    execution_id,
                    options=[
                        selectinload(PlaybookExecution.step_executions).selectinload(
                            PlaybookStepExecution.step
                        )
                    ],
                )
                first = execution.step_executions[0]
                first.start_step()
                first.complete_step({"ok": True})
                await session.commit()
            async with sessions() as session:
                stored = await session.get_one(PlaybookExecution, execution_id)
                assert (stored.completed_steps, stored.progress_percentage) == (1, 33.33)
                assert stored.current_step == first.step_name
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_async_session_factory_keeps_objects_after_commit(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite:///{tmp_path / 'x.db'}")
    factory = async_session_factory(engine)
    assert factory.kw["expire_on_commit"] is False
    assert factory.class_ is AsyncSession
    asyncio.run(engine.dispose())


@pytest.mark.parametrize("options", [{}, {"echo": "debug", "logging_name": "svc"}])
def test_result_rows_never_reach_the_logs_whatever_the_logging_name(
    options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine("sqlite://", **options)
    async_engine = create_async_engine("sqlite://", **options)
    try:
        with caplog.at_level(logging.DEBUG, logger="sqlalchemy"), engine.connect() as connection:
            assert connection.execute(text("SELECT 'row-value-4f1' AS v")).scalar_one()

        async def query() -> None:
            async with async_engine.connect() as connection:
                await connection.execute(text("SELECT 'row-value-4f1' AS v"))

        with caplog.at_level(logging.DEBUG, logger="sqlalchemy"):
            asyncio.run(query())
    finally:
        engine.dispose()
        asyncio.run(async_engine.dispose())
    assert any("SELECT 'row-value-4f1' AS v" in record.getMessage() for record in caplog.records)
    assert not [r for r in caplog.records if "row-value-4f1" in repr(r.args)]
