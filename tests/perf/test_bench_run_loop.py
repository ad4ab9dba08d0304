"""The run loop: claim -> finish throughput, statements per step, DAG shapes, wake-up."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from agentical.db import runs
from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.models.playbook import PlaybookExecution, PlaybookStepExecution
from agentical.db.runs.wakeup import ReadyListener
from agentical.db.testing.databases import (
    SERVER_URLS,
    migrated_engine,
    temporary_database,
    unreachable_reason,
)
from tests.concurrency.builders import claim_and_finish_statements
from tests.perf.report import Result, Results, best_rates, compare, throughput, timing
from tests.perf.run_loop import (
    WARM_UP_EXECUTIONS,
    WorkerPool,
    end_executions,
    library_loop,
    loop_connection,
    seed_executions,
    seed_playbook,
    start_executions,
    timed_round,
    worker_engine,
    worker_pool,
)

DAG_STEPS = 10_000
# Each shape's rate is measured over its first 1,500 steps (every step of a chain, or of
# the first layers, costs the same all along): the set-up is the whole DAG, the run is
# cut at a fixed number of steps, and the independent baseline is cut the same way.
DAG_MEASURED_STEPS = 1_500
LAYER_WIDTH, LAYER_PARENTS = 500, 3


@pytest.fixture(scope="module", params=("sqlite", "postgresql", "mariadb"))
def loop_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Engine]]:
    """``(database, url, engine)`` of a migrated throw-away database, every database."""
    name: str = request.param
    server = SERVER_URLS.get(name)
    if server is not None and (reason := unreachable_reason(server)) is not None:
        pytest.skip(reason)
    with temporary_database(server) as url, migrated_engine(url, worker_engine) as engine:
        yield name, url, engine


@pytest.fixture(scope="module")
def loop_pool(loop_url: tuple[str, str, Engine]) -> Iterator[tuple[str, Engine, WorkerPool]]:
    """``(database, engine, pool)``: 4 worker processes on ``loop_url``'s database, started
    and warmed up once (a round of 400 steps) for every round run there."""
    database, url, engine = loop_url
    with worker_pool(url) as pool:
        timed_round(pool, engine, "library", executions=WARM_UP_EXECUTIONS)
        yield database, engine, pool


def test_claim_finish_throughput_with_4_worker_processes(
    loop_pool: tuple[str, Engine, WorkerPool], results: Results
) -> None:
    database, engine, pool = loop_pool
    rates = best_rates(
        lambda: timed_round(pool, engine, "library"),
        lambda: timed_round(pool, engine, "baseline"),
        repeat=3,  # 4 processes on 2 cores: a round's rate swings by up to 2x on this host
    )
    results.add(
        throughput(
            "claim -> finish, 4 worker processes, 2,000 steps (20 x 100), a transaction each",
            database,
            rates,
            "hand-written loop: SKIP LOCKED pick, running, completed, count + 1",
            at_least=0.5,
        )
    )
    # Each side above keeps one connection; a session that takes one from the pool for
    # each transaction pays a checkout (and on a server a ping) per step besides.
    pooled = timed_round(pool, engine, "pooled")  # informational: one round
    results.add(
        Result(
            benchmark="the same, a session per transaction from the pool (informational)",
            database=database,
            figure=pooled,
            unit="steps/s",
            baseline=rates[1],
            baseline_name="the hand-written loop above",
            ratio=pooled / rates[1],
            target="-",
            met=True,
        )
    )


# A run ends every 10 steps: the trail's row at each end weighs ten times more than in
# the 20 x 100 rounds.
TRAIL_EXECUTIONS, TRAIL_STEPS = 200, 10
TRAIL_WARM_UP_EXECUTIONS = 40


def test_claim_finish_throughput_with_the_audit_trail(
    loop_pool: tuple[str, Engine, WorkerPool], results: Results
) -> None:
    database, engine, pool = loop_pool

    def round_of(loop: str, executions: int = TRAIL_EXECUTIONS) -> float:
        return timed_round(pool, engine, loop, executions=executions, steps=TRAIL_STEPS)

    # The pool is warm; a round of 400 steps of this shape (40 runs x 10) warms its plans.
    round_of("library", executions=TRAIL_WARM_UP_EXECUTIONS)
    rates = best_rates(lambda: round_of("library"), lambda: round_of("untrailed"), repeat=3)
    results.add(
        throughput(
            "claim -> finish with the audit trail, 4 worker processes, 2,000 steps (200 runs "
            "x 10), a transaction each",
            database,
            rates,
            "the same loop with the trail's writes switched off",
            at_least=0.9,
        )
    )


def statements_per_step(engine: Engine) -> tuple[int, int]:
    """Statements of a claim and of the finish of a step that releases no other step."""
    ids = seed_executions(engine, executions=1, steps=3)
    with Session(engine) as session:
        claim, finish = claim_and_finish_statements(engine, session)
    end_executions(engine, ids)
    return claim.count, finish.count


def test_statements_per_finished_step(loop_url: tuple[str, str, Engine], results: Results) -> None:
    database, _url, engine = loop_url
    claim, finish = statements_per_step(engine)
    results.add(
        Result(
            benchmark="statements per finished step releasing none (claim + finish, "
            "each committed)",
            database=database,
            figure=claim + finish,
            unit="statements",
            target="<= 4",
            met=claim + finish <= 4,
            note=f"claim {claim}, finish {finish}",
        )
    )


CLAIM_LOOPS = 100


def claim_statements(engine: Engine, session: Session) -> list[tuple[str, Any]]:
    """The SQL and parameters one claim sends, as the driver received them; rolled back.
    On MariaDB that is the locking read: the claim's write goes with the transaction's
    next write (or its commit)."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        runs.claim_ready_steps(session, worker_id="probe")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    session.rollback()
    return sent


def test_where_a_claim_spends_its_time(loop_url: tuple[str, str, Engine], results: Results) -> None:
    """Informational: ``claim_ready_steps(limit=1)`` (the ORM object it returns, the lease,
    the settlement it queues) against the same statements sent to the driver, each claim
    rolled back so the same step is claimed again."""
    database, _url, engine = loop_url
    ids = seed_executions(engine, executions=1, steps=3)
    with loop_connection(engine) as connection, Session(bind=connection) as session:
        sent = claim_statements(engine, session)
        assert sent, "the seeded execution has a ready step"

        def library() -> float:
            start = time.perf_counter()
            for _ in range(CLAIM_LOOPS):
                runs.claim_ready_steps(session, worker_id="probe")
                session.rollback()
            return (time.perf_counter() - start) / CLAIM_LOOPS

        def driver() -> float:
            start = time.perf_counter()
            for _ in range(CLAIM_LOOPS):
                for statement, parameters in sent:
                    result = connection.exec_driver_sql(statement, parameters)
                    if result.returns_rows:
                        result.all()
                connection.rollback()
            return (time.perf_counter() - start) / CLAIM_LOOPS

        seconds = compare(library, driver, repeat=5)
    end_executions(engine, ids)
    results.add(
        timing(
            "one claim (limit=1) against its own SQL sent to the driver (informational)",
            database,
            seconds,
            "the same statements and parameters, exec_driver_sql",
            limit=None,
            unit="µs",
            note=f"statements sent: {len(sent)}",
        )
    )


def chain(order: int) -> list[int]:
    return [order - 1] if order > 1 else []


def fan_out(order: int) -> list[int]:
    return [1] if order > 1 else []


def fan_in(order: int) -> list[int]:
    return list(range(1, DAG_STEPS)) if order == DAG_STEPS else []


def layers(order: int) -> list[int]:
    """20 layers of 500: each step depends on 3 steps of the layer before."""
    layer, position = divmod(order - 1, LAYER_WIDTH)
    if layer == 0:
        return []
    first = (layer - 1) * LAYER_WIDTH + 1
    return [first + (position + shift) % LAYER_WIDTH for shift in range(LAYER_PARENTS)]


SHAPES: dict[str, Callable[[int], Iterable[int]]] = {
    "chain": chain,
    "fan-out 1 -> 9,999": fan_out,
    "fan-in 9,999 -> 1": fan_in,
    "20 layers of 500, 3 parents each": layers,
}


def dag_rate(engine: Engine, playbook_id: int) -> float:
    """Steps per second of one worker (this process) running the first
    ``DAG_MEASURED_STEPS`` steps of a new execution of the 10,000-step playbook."""
    (execution_id,) = start_executions(engine, playbook_id, 1)
    start = time.perf_counter()
    finished = library_loop(engine, "dag", DAG_MEASURED_STEPS)
    seconds = time.perf_counter() - start
    assert finished == DAG_MEASURED_STEPS
    with Session(engine) as session:
        execution = session.get_one(PlaybookExecution, execution_id)
        assert execution.status is ExecutionStatus.RUNNING
        assert execution.completed_steps == DAG_MEASURED_STEPS
    end_executions(engine, [execution_id])
    return finished / seconds


def test_dag_shapes_of_10000_steps(
    bench_engine: Engine, bench_database: str, results: Results
) -> None:
    if bench_database != "postgresql":
        pytest.skip("DAG shapes are measured on PostgreSQL")
    independent = seed_playbook(bench_engine, steps=DAG_STEPS)
    before = dag_rate(bench_engine, independent)
    rates = {
        name: dag_rate(bench_engine, seed_playbook(bench_engine, steps=DAG_STEPS, depends_on=shape))
        for name, shape in SHAPES.items()
    }
    # Before and after the shapes (a run each of the same playbook): a busy host's drift
    # falls on both sides of each ratio.
    independent_rate = (before + dag_rate(bench_engine, independent)) / 2
    for name, rate in rates.items():
        results.add(
            throughput(
                f"DAG of 10,000 steps: {name}, one worker process, first 1,500 steps",
                bench_database,
                (rate, independent_rate),
                "the library, first 1,500 of 10,000 independent steps, before and after",
                at_least=0.6,
            )
        )


WAKE_UPS = 100


def wait_for_ready(listener: ReadyListener, woke: list[float]) -> None:
    if listener.wait(5.0):
        woke.append(time.monotonic())


def test_wake_up_after_the_commit_that_made_a_step_ready(
    bench_engine: Engine, bench_database: str, results: Results
) -> None:
    """A listener waits in another thread; a commit finishes the step a second one depends
    on. Measured: from the start of the commit to the listener's return."""
    if bench_database != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; other databases poll")
    ids = seed_executions(bench_engine, executions=WAKE_UPS, steps=2, depends_on=chain)
    delays: list[float] = []
    with ReadyListener(bench_engine) as listener, Session(bench_engine) as session:
        roots = runs.claim_ready_steps(session, worker_id="waker", limit=WAKE_UPS)
        session.commit()
        assert len(roots) == WAKE_UPS
        for root in roots:
            listener.wait(0.0)  # nothing left over
            woke: list[float] = []
            waiter = threading.Thread(target=wait_for_ready, args=(listener, woke))
            waiter.start()
            time.sleep(0.01)  # the listener is waiting
            runs.complete_step(session, root)  # its dependant becomes ready
            committed = time.monotonic()  # from the commit's start: the commit's own time too
            session.commit()
            waiter.join(timeout=10)
            assert woke, "no notification"
            delays.append(max(woke[0] - committed, 0.0))
    assert library_loop(bench_engine, "waker") == WAKE_UPS
    p99 = statistics.quantiles(delays, n=100)[98] * 1000
    with Session(bench_engine) as session:
        left = session.scalar(
            select(func.count())
            .select_from(PlaybookStepExecution)
            .where(
                PlaybookStepExecution.playbook_execution_id.in_(ids),
                PlaybookStepExecution.status != StepStatus.COMPLETED,
            )
        )
    assert left == 0
    results.add(
        Result(
            benchmark=f"wake-up: commit -> waiting ReadyListener returns, p99 of {WAKE_UPS}",
            database=bench_database,
            figure=p99,
            unit="ms",
            target="p99 <= 50 ms",
            met=p99 <= 50,
            note=f"median {statistics.median(delays) * 1000:.2f} ms",
        )
    )
