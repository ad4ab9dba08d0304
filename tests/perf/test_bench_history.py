"""Execution history at volume: a streamed export, and the plans of the documented queries."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import PlaybookExecution
from agentical.db.testing.databases import (
    SERVER_URLS,
    create_test_engine,
    migrated_engine,
    temporary_database,
)
from tests.perf.history_db import HISTORY_EXECUTIONS, copy_of
from tests.perf.memory import export_in_a_fresh_process
from tests.perf.plans import describe, documented_queries, explain, seq_scans_on_big_tables
from tests.perf.report import Result, Results, best_rates, throughput
from tests.perf.run_loop import WARM_UP_EXECUTIONS, timed_round, worker_pool
from tests.perf.seed import EXECUTIONS, execution_rows, insert_playbooks

EXECUTION_COUNT = HISTORY_EXECUTIONS


@pytest.fixture(scope="module")
def history_engine(bench_database: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A database of its own holding 100,000 executions (and, on PostgreSQL, 1,000,000
    step executions: a copy of the seeded history), loaded in bulk; dropped afterwards."""
    if bench_database == "postgresql":
        template: str = request.getfixturevalue("history_template")
        with copy_of(SERVER_URLS[bench_database], template) as url:
            engine = create_test_engine(url)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    with temporary_database(None) as url, migrated_engine(url) as engine:
        start = time.perf_counter()
        with engine.begin() as connection:
            (playbook_id,) = insert_playbooks(connection, 1, steps=3, variables=2)
            for first in range(0, EXECUTION_COUNT, 10_000):
                rows = execution_rows(playbook_id, 10_000)
                for number, row in enumerate(rows, start=first):
                    row["execution_id"] = f"export-{number}"
                connection.execute(insert(EXECUTIONS), rows)
        print(f"\n[{bench_database}] history loaded in {time.perf_counter() - start:.1f} s")
        yield engine


def test_export_100000_executions_streams_in_flat_memory(
    history_engine: Engine, bench_database: str, results: Results
) -> None:
    with Session(history_engine) as session:
        assert session.scalar(select(func.count(PlaybookExecution.id))) == EXECUTION_COUNT
    export = export_in_a_fresh_process(history_engine.url.render_as_string(hide_password=False))
    assert export.written == EXECUTION_COUNT
    results.add(
        Result(
            benchmark="export 100,000 executions as JSON lines (yield_per)",
            database=bench_database,
            figure=export.peak_growth_mb,
            unit="MB peak resident growth",
            target="< 100 MB",
            met=export.peak_growth_mb < 100,
            note=f"{export.seconds:.0f} s, in a process of its own",
        )
    )


def test_documented_history_queries_use_indexes(
    history_engine: Engine, bench_database: str, results: Results
) -> None:
    if bench_database != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL")
    with history_engine.connect() as connection:
        playbook_id = connection.scalar(select(func.min(PlaybookExecution.playbook_id)))
        execution_id = connection.scalar(
            select(func.min(PlaybookExecution.id)).where(PlaybookExecution.status == "failed")
        )
        assert playbook_id is not None
        assert execution_id is not None
        for name, statement in documented_queries(playbook_id, execution_id).items():
            plan = explain(connection, statement, analyze=True)
            seq_scans = seq_scans_on_big_tables(plan)
            results.add(
                Result(
                    benchmark=f"EXPLAIN {name}, 100k executions / 1M step executions",
                    database=bench_database,
                    figure=len(seq_scans),
                    unit="Seq Scans on big tables",
                    target="index scans, 0 Seq Scans",
                    met=not seq_scans,
                    note=f"{plan['Execution Time']:.1f} ms; {describe(plan)}",
                )
            )


def test_claim_finish_throughput_does_not_slow_with_history(
    history_engine: Engine, bench_database: str, results: Results
) -> None:
    """The 4-worker claim -> finish loop beside 1,000,000 finished step executions and
    100,000 executions (after ANALYZE), against the same loop on an empty database."""
    if bench_database != "postgresql":
        pytest.skip("the history of 1,000,000 step executions is seeded on PostgreSQL")
    url = history_engine.url.render_as_string(hide_password=False)
    with (
        temporary_database(SERVER_URLS.get(bench_database)) as empty_url,
        migrated_engine(empty_url) as empty_engine,
        worker_pool(url) as with_history,
        worker_pool(empty_url) as empty,
    ):
        warm_up = WARM_UP_EXECUTIONS
        timed_round(with_history, history_engine, "library", executions=warm_up)
        timed_round(empty, empty_engine, "library", executions=warm_up)
        rates = best_rates(
            lambda: timed_round(with_history, history_engine, "library"),
            lambda: timed_round(empty, empty_engine, "library"),
            repeat=3,  # the two sides do the same work: the best of 3 keeps the host's noise out
        )
    results.add(
        throughput(
            "claim -> finish, 4 worker processes, 2,000 steps, beside 1M finished step "
            "executions / 100k executions",
            bench_database,
            rates,
            "the library on an empty database",
            at_least=0.9,
        )
    )
