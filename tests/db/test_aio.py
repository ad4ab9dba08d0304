"""``agentical.db.aio`` on aiosqlite and asyncpg: the session-level functions awaited, and
``to_dict()`` / the detail views on objects an ``AsyncSession`` loaded, with no implicit I/O."""

from __future__ import annotations

import asyncio
import inspect
import io
import json

import pytest
from sqlalchemy import select

from agentical.db import aio, history, runs
from agentical.db.audit import acting_as
from agentical.db.details import execution_detail, select_execution_detail
from agentical.db.models.playbook import (
    SECRET_MASK,
    ConcurrencyLimitError,
    ExecutionStatus,
    IdempotencyConflictError,
    Playbook,
    PlaybookExecution,
    StepStatus,
)
from agentical.db.session import async_session_factory, create_async_engine
from tests.db.conftest import ASYNC_DATABASES

SECRET = "s3cret-token-value"
DEFINITION = {
    "name": "Primary database failover",
    "category": "disaster_recovery",
    "steps": [  # automated: steps for workers to claim
        {"name": "assess", "type": "automated"},
        {"name": "promote", "type": "automated", "depends_on": ["assess"]},
    ],
    "variables": [{"name": "token", "sensitive": True, "required": True}],
}


@pytest.mark.parametrize("database", ASYNC_DATABASES, indirect=True)
def test_a_run_driven_from_an_async_session(migrated_url: str) -> None:
    async def main() -> None:
        engine = create_async_engine(migrated_url)
        sessions = async_session_factory(engine)
        try:
            async with sessions() as session:
                await aio.import_definition(session, DEFINITION)
                playbook = await aio.import_definition(session, DEFINITION, created_by="svc")
                assert playbook.version == 2
                execution = await aio.create_execution(
                    session, playbook, {"token": SECRET}, idempotency_key="request-1"
                )
                again = await aio.create_execution(
                    session, playbook, {"token": SECRET}, idempotency_key="request-1"
                )
                assert again is execution
                with pytest.raises(IdempotencyConflictError):
                    await aio.create_execution(
                        session, playbook, {"token": "other"}, idempotency_key="request-1"
                    )
                await aio.start_execution(session, execution)
                second = await aio.create_execution(session, playbook, {"token": SECRET})
                with pytest.raises(ConcurrencyLimitError):
                    await aio.start_execution(session, second)
                await session.commit()
                execution_id = execution.id

            async with sessions() as session:
                (claimed,) = await aio.claim_ready_steps(session, worker_id="w1", limit=5)
                assert claimed.step_name == "assess"
                # Finishing a step updates its execution's counts: load what it touches.
                await claimed.awaitable_attrs.execution
                await claimed.awaitable_attrs.step
                claimed.complete_step({"ok": True})
                await aio.record_run(session, playbook.id, 1.5, True)
                await session.commit()

            async with sessions() as session:
                # The playbook is not loaded: to_dict reads the run's snapshot, no lazy load.
                stored = await session.get_one(PlaybookExecution, execution_id)
                document = stored.to_dict()
                assert document["status"] == ExecutionStatus.RUNNING
                assert document["input_variables"] == {"token": SECRET_MASK}
                assert document["completed_steps"] == 1

                loaded = (
                    await session.scalars(
                        select_execution_detail().where(PlaybookExecution.id == execution_id)
                    )
                ).one()
                detail = execution_detail(loaded)
                assert [run["status"] for run in detail["step_executions"]] == [
                    StepStatus.COMPLETED,
                    StepStatus.PENDING,
                ]
                assert [run.step_name for run in loaded.ready_steps()] == ["promote"]

                out = io.StringIO()
                assert await aio.export_executions_jsonl(session, out) == 2
                assert SECRET not in out.getvalue()
                assert json.loads(out.getvalue().splitlines()[0])["id"] == execution_id
                counted = await session.scalar(
                    select(Playbook.total_executions).where(Playbook.id == playbook.id)
                )
                assert counted == 1
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_every_counterpart_is_the_sync_function_run_through_run_sync() -> None:
    for name in aio.__all__:
        if name == "awaitable":
            continue
        counterpart = getattr(aio, name)
        assert asyncio.iscoroutinefunction(counterpart), name
        assert "AsyncSession.run_sync" in (counterpart.__doc__ or ""), name
        assert callable(counterpart.__wrapped__), name


def test_every_public_function_taking_a_session_has_a_counterpart() -> None:
    """What ``runs`` and ``history`` offer on a ``Session`` is offered on an
    ``AsyncSession`` too; only a stream has none (``run_sync`` returns once)."""
    streams = {"iter_executions_jsonl"}
    taking_a_session = {
        name
        for module in (runs, history)
        for name in module.__all__
        if inspect.isfunction(function := getattr(module, name))
        and next(iter(inspect.signature(function).parameters), None) == "session"
    }
    assert taking_a_session - streams <= set(aio.__all__)
    for name in taking_a_session - streams:
        module = runs if name in runs.__all__ else history
        assert getattr(aio, name).__wrapped__ is getattr(module, name), name


@pytest.mark.parametrize("database", ASYNC_DATABASES, indirect=True)
def test_a_worker_on_an_async_session_runs_a_playbook_to_its_end(migrated_url: str) -> None:
    async def main() -> None:
        engine = create_async_engine(migrated_url)
        sessions = async_session_factory(engine)
        try:
            async with sessions() as session:
                playbook = await aio.import_definition(session, DEFINITION)
                execution = await aio.create_execution(session, playbook, {"token": SECRET})
                await aio.start_execution(session, execution)
                await session.commit()
                execution_id = execution.id
            async with sessions() as session:
                while claimed := await aio.claim_ready_steps(session, worker_id="w", limit=5):
                    await session.commit()
                    for run in claimed:
                        await aio.heartbeat(session, run, 60)
                        await aio.complete_step(session, run, {"ok": True})
                    await session.commit()
            async with sessions() as session:
                stored = await session.get_one(PlaybookExecution, execution_id)
                assert (stored.status, stored.completed_steps, stored.overall_success) == (
                    ExecutionStatus.COMPLETED,
                    2,
                    True,
                )
        finally:
            await engine.dispose()

    asyncio.run(main())


@pytest.mark.parametrize("database", ASYNC_DATABASES, indirect=True)
def test_acting_as_around_awaited_calls_names_the_actor_in_the_trail(migrated_url: str) -> None:
    async def main() -> list[tuple[str, str]]:
        engine = create_async_engine(migrated_url)
        sessions = async_session_factory(engine)
        try:
            async with sessions() as session:
                with acting_as("alice"):
                    playbook = await aio.import_definition(session, DEFINITION)
                    execution = await aio.create_execution(session, playbook, {"token": SECRET})
                    await aio.start_execution(session, execution)
                await session.commit()
                entries = await session.scalars(history.audit_trail(playbook=playbook))
                return [(str(entry.action), entry.actor) for entry in entries]
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == [("start", "alice"), ("import", "alice")]
