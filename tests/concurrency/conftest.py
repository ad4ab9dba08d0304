"""Fixtures for tests that need real commits seen by several connections at once.

The shared ``session`` fixture runs in one rolled-back transaction, where no second
connection can see anything. Here each database gets its own throw-away migrated database
for this package; every test starts from empty tables and leaves them empty.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from sqlalchemy import Engine, create_engine, delete
from sqlalchemy.orm import Session, sessionmaker

from agentical.db.models.playbook import Playbook, PlaybookTemplate
from agentical.db.models.playbook.snapshot import DefinitionSnapshot
from agentical.db.models.user import User
from agentical.db.session import create_engine as create_library_engine
from agentical.db.testing.databases import migrated_engine, temporary_database
from tests.conftest import require_server

T = TypeVar("T")

THREAD_TIMEOUT_SECONDS = 60


def plain_engine(url: str) -> Engine:
    """An engine as an application would make it (no test-only transaction recipe)."""
    if url.startswith("sqlite"):
        # Writers queue on SQLite's single write lock instead of failing at once.
        return create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    # A lock wait ends with an error instead of hanging the run (MariaDB's is 50 s already).
    arguments = {"options": "-c lock_timeout=30s"} if url.startswith("postgresql") else {}
    return create_engine(url, pool_size=10, max_overflow=10, connect_args=arguments)


def library_engine(engine: Engine) -> Engine:
    """An engine on ``engine``'s database as the library's ``create_engine`` makes it (on
    MariaDB: READ COMMITTED)."""
    url = engine.url.render_as_string(hide_password=False)
    if url.startswith("sqlite"):
        return create_library_engine(url, connect_args={"check_same_thread": False})
    return create_library_engine(url)


@pytest.fixture(scope="package")
def committed_engine(database: str) -> Iterator[Engine]:
    with (
        temporary_database(require_server(database)) as url,
        migrated_engine(url, plain_engine) as engine,
    ):
        yield engine


@pytest.fixture
def engine(committed_engine: Engine) -> Iterator[Engine]:
    yield committed_engine
    with Session(committed_engine) as session:
        # Everything else hangs off these by ON DELETE CASCADE; snapshots once no
        # execution points at them.
        for model in (Playbook, PlaybookTemplate, User, DefinitionSnapshot):
            session.execute(delete(model))
        session.commit()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def run_in_threads(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``work(0..count-1)`` in ``count`` threads released together; each result or the
    exception it raised, in order. Bounded: a thread still running after the timeout fails
    the test."""
    barrier = threading.Barrier(count, timeout=THREAD_TIMEOUT_SECONDS)

    def guarded(index: int) -> T | BaseException:
        barrier.wait()
        try:
            return work(index)
        except Exception as error:
            return error

    pool = ThreadPoolExecutor(max_workers=count)
    try:
        futures = [pool.submit(guarded, index) for index in range(count)]
        return [future.result(timeout=THREAD_TIMEOUT_SECONDS) for future in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # never wait on a stuck thread


def while_a_worker_holds(
    sessions: sessionmaker[Session],
    hold: Callable[[Session], object],
    act: Callable[[Session], T],
) -> T | BaseException:
    """``act`` in a session of its own, started while another session has done ``hold``
    (a worker's step-row write) and not committed; that one commits a second later.
    ``act``'s result (committed) or the exception it raised."""
    outcome: list[T | BaseException] = []

    def acting() -> None:
        with sessions() as session:
            try:
                outcome.append(act(session))
                session.commit()
            except Exception as error:
                outcome.append(error)

    with sessions() as worker:
        hold(worker)
        thread = threading.Thread(target=acting)
        thread.start()
        thread.join(timeout=1.0)  # ``act`` waits for what the worker holds, or not
        worker.commit()
    thread.join(timeout=THREAD_TIMEOUT_SECONDS)
    assert len(outcome) == 1, "act did not end"
    return outcome[0]
