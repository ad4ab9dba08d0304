"""The PostgreSQL history the history and retention benches start from, seeded once.

Seeding 100,000 executions and 1,000,000 step executions, then ``VACUUM ANALYZE``, takes
most of a minute on a busy host. It is done once per run into a template database; each
bench works on its own copy (``CREATE DATABASE ... TEMPLATE``, ``FILE_COPY``: the files are
copied as they are, planner statistics and visibility map included), so the benches still
start from the same, untouched history.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from agentical.db.testing.databases import DEFAULT_PREFIX, migrated_engine, temporary_database
from tests.perf.seed import seed_history_postgresql

HISTORY_PLAYBOOKS = 100
HISTORY_EXECUTIONS = 100_000
HISTORY_STEPS = 10  # per execution: 1,000,000 step executions


@contextmanager
def seeded_history(server_url: str) -> Iterator[str]:
    """The URL of a database holding the seeded history, after ``VACUUM ANALYZE`` (what
    autovacuum does on a live database); nothing stays connected to it."""
    with temporary_database(server_url) as url:
        start = time.perf_counter()
        with migrated_engine(url) as engine:
            with engine.begin() as connection:
                # Generated rows are consistent by construction: skip the FK triggers.
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
                seed_history_postgresql(
                    connection,
                    playbooks=HISTORY_PLAYBOOKS,
                    executions=HISTORY_EXECUTIONS,
                    steps=HISTORY_STEPS,
                )
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
        print(f"\n[postgresql] history seeded in {time.perf_counter() - start:.1f} s")
        yield url


@contextmanager
def copy_of(server_url: str, template_url: str) -> Iterator[str]:
    """The URL of a new copy of the database at ``template_url`` on the PostgreSQL server
    ``server_url``; dropped afterwards."""
    template = make_url(template_url)
    name = f"{DEFAULT_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f"CREATE DATABASE {name} TEMPLATE {template.database} STRATEGY FILE_COPY"
            )
        try:
            yield template.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        admin.dispose()
