"""The claim -> finish loop, run by worker processes: the library's and a hand-written one.

Each worker is a separate process (``spawn``), started once per database and kept for
every round, so a round times only the loop: the processes wait on a barrier with their
engines connected, then claim and finish until nothing is left. A round's figure is its
steps over the time from the first worker's start to the last one's end
(``time.monotonic`` is one clock for every process on Linux).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from agentical.db import runs
from agentical.db.enums import ExecutionStatus, StepType
from agentical.db.models.playbook import (
    Playbook,
    PlaybookExecution,
    PlaybookStep,
    PlaybookStepExecution,
    create_execution,
)
from agentical.db.runs import trail
from agentical.db.session import create_engine
from tests.perf.seed import insert_playbooks

WORKERS = 4
EXECUTIONS, STEPS = 20, 100  # a round: 2,000 independent steps
START_TIMEOUT_SECONDS = 120
# Several processes on one SQLite file queue for its write lock instead of failing.
SQLITE_BUSY_TIMEOUT_SECONDS = 60


def worker_engine(url: str) -> Engine:
    """An engine as a worker process makes it (one connection is all it needs)."""
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
    return create_engine(url, pool_size=1)


def library_loop(engine: Engine, worker_id: str, steps: int | None = None) -> int:
    """``claim_ready_steps(limit=1)`` + ``complete_step`` + commit, until nothing is ready
    (or ``steps`` are finished), on one connection held for the whole loop as the baseline
    holds its own: the two sides time the loop, not the pool (``pooled_loop`` does)."""
    with loop_connection(engine) as connection, Session(bind=connection) as session:
        return claim_and_finish(session, worker_id, steps)


def pooled_loop(engine: Engine, worker_id: str) -> int:
    """``library_loop`` with a session that takes a connection from the engine's pool for
    each transaction (and, on a server, pings it first: ``pool_pre_ping``)."""
    with sessionmaker(bind=engine)() as session:
        return claim_and_finish(session, worker_id)


def claim_and_finish(session: Session, worker_id: str, steps: int | None = None) -> int:
    finished = 0
    while steps is None or finished < steps:
        claimed = runs.claim_ready_steps(session, worker_id=worker_id, limit=1)
        if not claimed:
            session.commit()
            return finished
        runs.complete_step(session, claimed[0])
        session.commit()
        finished += 1
    return finished


def untrailed_loop(engine: Engine, worker_id: str) -> int:
    """``library_loop`` with the audit trail's writes switched off: a run's end writes no
    row (the only row a worker's loop writes), everything else as in the library."""
    original = trail.record_end
    trail.record_end = lambda *_args, **_kwargs: None
    try:
        return library_loop(engine, worker_id)
    finally:
        trail.record_end = original


PICK = {
    "postgresql": "SELECT id, playbook_execution_id FROM playbook_step_executions "
    "WHERE status = 'pending' LIMIT 1 FOR UPDATE SKIP LOCKED",
    "sqlite": "SELECT id, playbook_execution_id FROM playbook_step_executions "
    "WHERE status = 'pending' LIMIT 1",
}
PICK["mariadb"] = PICK["mysql"] = PICK["postgresql"]
NOW = {"postgresql": "now()", "sqlite": "CURRENT_TIMESTAMP", "mariadb": "UTC_TIMESTAMP(6)"}
NOW["mysql"] = NOW["mariadb"]


def _baseline_step(connection: Connection, name: str) -> bool:
    row = connection.execute(text(PICK[name])).first()
    if row is None:
        return False
    now = NOW[name]
    connection.execute(
        text(
            f"UPDATE playbook_step_executions SET status = 'running', started_at = {now} "
            "WHERE id = :id"
        ),
        {"id": row.id},
    )
    connection.execute(
        text(
            f"UPDATE playbook_step_executions SET status = 'completed', completed_at = {now} "
            "WHERE id = :id"
        ),
        {"id": row.id},
    )
    connection.execute(
        text("UPDATE playbook_executions SET completed_steps = completed_steps + 1 WHERE id = :id"),
        {"id": row.playbook_execution_id},
    )
    return True


def loop_connection(engine: Engine, *, autocommit: bool = False) -> Connection:
    """The connection a loop keeps: at READ COMMITTED on a server, as the library's claim
    asks for it (``begin_read_committed``); in autocommit mode (transactions begun by hand)
    for the hand-written loop on SQLite."""
    if autocommit:
        return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    if engine.dialect.name == "sqlite":
        return engine.connect()
    return engine.connect().execution_options(isolation_level="READ COMMITTED")


def baseline_loop(engine: Engine, _worker_id: str) -> int:
    """The hand-written loop: pick a pending row (``FOR UPDATE SKIP LOCKED``; SQLite: under
    ``BEGIN IMMEDIATE``), mark it running, mark it completed, add 1 to its execution's
    count; one transaction per step."""
    finished = 0
    name = engine.dialect.name
    with loop_connection(engine, autocommit=name == "sqlite") as connection:
        while True:
            if name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                done = _baseline_step(connection, name)
                connection.exec_driver_sql("COMMIT")
            else:
                with connection.begin():
                    done = _baseline_step(connection, name)
            if not done:
                return finished
            finished += 1


LOOPS: dict[str, Callable[[Engine, str], int]] = {
    "library": library_loop,
    "pooled": pooled_loop,
    "untrailed": untrailed_loop,
    "baseline": baseline_loop,
}


def serve(url: str, index: int, commands: Any, barrier: Any, results: Any) -> None:
    """A worker process: run the loop each command names, after the barrier."""
    engine = worker_engine(url)
    with engine.connect():
        pass  # connected before the first round
    try:
        while (command := commands.get()) is not None:
            barrier.wait(timeout=START_TIMEOUT_SECONDS)
            start = time.monotonic()
            try:
                count = LOOPS[command](engine, f"worker-{index}")
            except Exception as error:  # reported to the parent, which fails the round
                results.put((index, start, time.monotonic(), -1, repr(error)))
                continue
            results.put((index, start, time.monotonic(), count, ""))
    finally:
        engine.dispose()


@dataclass
class Round:
    steps: int
    seconds: float
    errors: list[str]

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds


class WorkerPool:
    """``WORKERS`` processes on one database, each running the loop it is sent."""

    def __init__(self, url: str, workers: int = WORKERS) -> None:
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(workers)
        self.results = context.Queue()
        self.queues = [context.Queue() for _ in range(workers)]
        self.processes = [
            context.Process(
                target=serve, args=(url, index, queue, self.barrier, self.results), daemon=True
            )
            for index, queue in enumerate(self.queues)
        ]
        for process in self.processes:
            process.start()

    def run(self, loop: str) -> Round:
        for queue in self.queues:
            queue.put(loop)
        outcomes = [self.results.get(timeout=START_TIMEOUT_SECONDS * 5) for _ in self.processes]
        start = min(outcome[1] for outcome in outcomes)
        end = max(outcome[2] for outcome in outcomes)
        errors = [outcome[4] for outcome in outcomes if outcome[3] < 0]
        steps = sum(max(outcome[3], 0) for outcome in outcomes)
        return Round(steps, end - start, errors)

    def close(self) -> None:
        for queue in self.queues:
            queue.put(None)
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


@contextmanager
def worker_pool(url: str, workers: int = WORKERS) -> Iterator[WorkerPool]:
    pool = WorkerPool(url, workers)
    try:
        yield pool
    finally:
        pool.close()


def no_dependencies(_order: int) -> list[int]:
    return []


def seed_playbook(
    engine: Engine, *, steps: int, depends_on: Callable[[int], Iterable[int]] = no_dependencies
) -> int:
    """A playbook of ``steps`` automated steps (step n depends on the orders
    ``depends_on(n)``), written in bulk; returns its id."""
    with engine.begin() as connection:
        (playbook_id,) = insert_playbooks(
            connection, 1, steps=steps, variables=1, depends_on=depends_on
        )
        connection.execute(
            update(PlaybookStep)
            .where(PlaybookStep.playbook_id == playbook_id)
            .values(step_type=StepType.AUTOMATED)
        )
    return playbook_id


def start_executions(engine: Engine, playbook_id: int, executions: int) -> list[int]:
    """``executions`` running executions of the playbook, created and started by the
    library; returns their ids."""
    with Session(engine) as session:
        playbook = session.scalars(Playbook.select_full().where(Playbook.id == playbook_id)).one()
        playbook.max_concurrent_executions = executions
        ids = []
        for _ in range(executions):
            execution = create_execution(session, playbook)
            runs.start_execution(session, execution)
            ids.append(execution.id)
        session.commit()
    return ids


def seed_executions(
    engine: Engine,
    *,
    executions: int,
    steps: int,
    depends_on: Callable[[int], Iterable[int]] = no_dependencies,
) -> list[int]:
    """``executions`` running executions of a new playbook (``seed_playbook``)."""
    playbook_id = seed_playbook(engine, steps=steps, depends_on=depends_on)
    return start_executions(engine, playbook_id, executions)


def end_executions(engine: Engine, execution_ids: list[int]) -> None:
    """Take a round's executions out of the way of the next (the baseline leaves them
    running, with due times only the library clears)."""
    executions: Table = PlaybookExecution.__table__  # type: ignore[assignment]
    step_runs: Table = PlaybookStepExecution.__table__  # type: ignore[assignment]
    with engine.begin() as connection:
        connection.execute(
            update(step_runs)
            .where(step_runs.c.playbook_execution_id.in_(execution_ids))
            .values(claim_due_at=None)
        )
        connection.execute(
            update(executions)
            .where(executions.c.id.in_(execution_ids), executions.c.status == "running")
            .values(status="completed")
        )


WARM_UP_EXECUTIONS = 4  # a round of 400 steps: connections, caches and plans are warm


def timed_round(
    pool: WorkerPool,
    engine: Engine,
    loop: str,
    *,
    executions: int = EXECUTIONS,
    steps: int = STEPS,
) -> float:
    """Steps per second of one round of ``loop`` over freshly started executions."""
    ids = seed_executions(engine, executions=executions, steps=steps)
    result = pool.run(loop)
    assert not result.errors, result.errors  # SQLite: the workers wait, never fail
    assert result.steps == executions * steps
    if loop != "baseline":
        with Session(engine) as session:
            statuses = session.scalars(
                select(PlaybookExecution.status).where(PlaybookExecution.id.in_(ids))
            ).all()
        assert set(statuses) == {ExecutionStatus.COMPLETED}  # every run ended itself
    end_executions(engine, ids)
    return result.steps_per_second
