"""Retention at volume (PostgreSQL): purge rows per second, and what a purge costs the
claims of 4 workers running beside it."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from agentical.db.enums import StepType
from agentical.db.history import purge_executions
from agentical.db.models.playbook import Playbook, PlaybookExecution, create_execution
from agentical.db.runs import claim_ready_steps, complete_step
from agentical.db.testing.databases import SERVER_URLS
from agentical.db.types import utc_now
from tests.perf.history_db import HISTORY_EXECUTIONS, copy_of
from tests.perf.report import Result, Results
from tests.perf.seed import insert_independent_steps_postgresql, insert_playbooks

EXECUTION_COUNT = HISTORY_EXECUTIONS  # and 1,000,000 step executions
WORKERS = 4
WORKLOAD_STEPS = 40_000  # independent steps: more than 4 workers claim during the bench
BASELINE_SECONDS = 6.0  # before the purge, and again after it: load on the host drifts
# How to purge beside live workers on 2 cores (`db clean --batch-size 250 --pause 0.1`):
# batches of 1,000 with 50 ms pauses, or even 0.2 s, doubled their claim p99 on a quiet host.
BATCH_SIZE = 250
# What `agentical db clean --pause` does: a breath between batches for the workers.
PAUSE_SECONDS = 0.1


def workers_engine(url: str) -> Engine:
    return create_engine(url, pool_size=WORKERS + 2, max_overflow=0)


@pytest.fixture(scope="module")
def retention_url(bench_database: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A copy of the seeded history, with the workers' running execution added."""
    if bench_database != "postgresql":
        pytest.skip("the retention bench runs on PostgreSQL")
    template: str = request.getfixturevalue("history_template")
    with copy_of(SERVER_URLS[bench_database], template) as url:
        engine = create_engine(url)
        try:
            add_workload(engine)
        finally:
            engine.dispose()
        yield url


def add_workload(engine: Engine) -> None:
    """A started execution of ``WORKLOAD_STEPS`` independent automated steps, then
    ``VACUUM ANALYZE``."""
    with engine.begin() as connection:
        (playbook_id,) = insert_playbooks(connection, 1, steps=0, variables=0)
        # Steps a worker takes (people finish the default, manual ones).
        insert_independent_steps_postgresql(
            connection, playbook_id, steps=WORKLOAD_STEPS, step_type=StepType.AUTOMATED
        )
    with Session(engine) as session:
        playbook = session.scalars(Playbook.select_full().where(Playbook.id == playbook_id)).one()
        execution = create_execution(session, playbook)
        execution.start_execution()
        session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")


class Workers:
    """4 threads claiming one step at a time and completing it, each claim timed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.stop = threading.Event()
        self.claim_seconds: list[float] = []
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._work, args=(f"bench-{number}",))
            for number in range(WORKERS)
        ]

    def _work(self, worker_id: str) -> None:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                while not self.stop.is_set():
                    start = time.perf_counter()
                    claimed = claim_ready_steps(session, worker_id=worker_id)
                    session.commit()
                    self.claim_seconds.append(time.perf_counter() - start)
                    if not claimed:
                        raise RuntimeError("the workload ran out of steps: add more")
                    complete_step(session, claimed[0], {"ok": True})
                    session.commit()
        except BaseException as error:  # reported by the test
            self.errors.append(error)

    def __enter__(self) -> Workers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def p99_ms(*runs: Workers) -> float:
    """The 99th percentile of the claims of ``runs`` taken together, in milliseconds."""
    for workers in runs:
        assert not workers.errors, workers.errors
    seconds = [claim for workers in runs for claim in workers.claim_seconds]
    return statistics.quantiles(seconds, n=100)[98] * 1000


def test_purge_of_100000_executions_and_the_claims_beside_it(
    retention_url: str, bench_database: str, results: Results
) -> None:
    engine = workers_engine(retention_url)
    try:
        with Workers(engine) as before:
            time.sleep(BASELINE_SECONDS)
        with Session(engine) as session:
            finished_before = utc_now() + timedelta(days=1)
            with Workers(engine) as beside:
                start = time.perf_counter()
                purged = purge_executions(
                    session,
                    finished_before=finished_before,
                    batch_size=BATCH_SIZE,
                    on_batch=lambda _so_far: time.sleep(PAUSE_SECONDS),
                )
                seconds = time.perf_counter() - start
            left = session.scalar(select(func.count(PlaybookExecution.id)))
        with Workers(engine) as after:
            time.sleep(BASELINE_SECONDS)
    finally:
        engine.dispose()
    rows = purged.executions + purged.step_executions
    assert purged.executions >= 0.97 * EXECUTION_COUNT
    assert left == EXECUTION_COUNT + 1 - purged.executions
    results.add(
        Result(
            benchmark="purge 100,000 finished executions / 1,000,000 step executions",
            database=bench_database,
            figure=rows / seconds,
            unit="rows/s",
            target="report",
            met=True,
            note=(
                f"{purged.executions} executions + {purged.step_executions} step executions "
                f"in {seconds:.1f} s: {purged.batches} batches of {BATCH_SIZE}, a pause of "
                f"{PAUSE_SECONDS} s after each, 4 workers claiming"
            ),
        )
    )
    base = p99_ms(before, after)
    during = p99_ms(beside)
    ratio = during / base
    results.add(
        Result(
            benchmark="claim p99 of 4 workers during the purge",
            database=bench_database,
            figure=during,
            unit="ms",
            target="<= 1.5x without the purge",
            met=ratio <= 1.5,
            baseline=base,
            baseline_name="no purge",
            ratio=ratio,
            note=(
                f"{len(beside.claim_seconds)} claims during; without: "
                f"{len(before.claim_seconds) + len(after.claim_seconds)} claims before and after"
            ),
        )
    )
