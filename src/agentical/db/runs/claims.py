"""Exactly-once hand-out of step runs to workers, under fenced leases.

A step run is claimable when its ``claim_due_at`` has passed and its execution is running.
``claim_due_at`` is kept by the run engine: set when a run becomes ready (every
dependency finished, its condition met), to the retry time when an attempt failed with
attempts left, and to the lease's end while a worker holds it (so an expired lease is
claimable again); empty for everything else. So a claim is one index range on
``claim_due_at``, whatever the size of the finished history, and readiness is never
evaluated twice: ``ready_steps()`` and the claim read the same materialised state.

Each claim raises ``attempt`` (the lease's fencing token, see ``leases``). Concurrent
claims never return the same row: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and MariaDB (at
READ COMMITTED, without which MariaDB skips rows nobody locked), and SQLite's single write
lock, which its one-statement ``UPDATE ... RETURNING`` claim takes itself.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    String,
    and_,
    bindparam,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from agentical.db.enums import ExecutionStatus, StepStatus, StepType
from agentical.db.models.base import table_of
from agentical.db.models.persistent import persistent_from_rows, row_columns
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.deferred import deferred, queued, write_deferred
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.locking import begin_read_committed
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.observability import event_at_commit
from agentical.db.plan import PERSON_STEP_TYPES, WORKER_STEP_TYPES, Plan
from agentical.db.runs import settlement
from agentical.db.runs.clock import (
    MYSQL_FAMILY,
    clock_values,
    later_parameter_sql,
    later_sql,
    now_parameter_sql,
)
from agentical.db.runs.leases import Lease, hold
from agentical.db.runs.plans import plan_by_id
from agentical.db.types import UTCDateTime, utc_now

WORKER_ID_MAX_LENGTH = 255
DEFAULT_LEASE_SECONDS = 300.0


def _check_arguments(worker_id: Any, limit: Any, lease_seconds: Any) -> None:
    if not isinstance(worker_id, str) or not worker_id.strip():
        raise ValueError("worker_id must be a non-empty string")
    if len(worker_id) > WORKER_ID_MAX_LENGTH:
        raise ValueError(f"worker_id is longer than {WORKER_ID_MAX_LENGTH} characters")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError("limit must be an integer >= 1")
    check_lease_seconds(lease_seconds)


def check_lease_seconds(lease_seconds: Any) -> float:
    if (
        isinstance(lease_seconds, bool)
        or not isinstance(lease_seconds, int | float)
        or not math.isfinite(lease_seconds)
        or lease_seconds <= 0
    ):
        raise ValueError("lease_seconds must be a number > 0")
    return float(lease_seconds)


def worker_step_types(step_types: Iterable[StepType | str] | None) -> list[str]:
    """The step types a claim may hand out: by default every type but manual and approval."""
    if step_types is None:
        return sorted(WORKER_STEP_TYPES)
    if isinstance(step_types, str):
        raise ValueError("step_types must be a list of step types, not one string")
    chosen: set[str] = set()
    for value in step_types:
        try:
            step_type = StepType(value)
        except ValueError:
            raise ValueError(f"step_types: '{value}' is not a step type") from None
        if step_type in PERSON_STEP_TYPES:
            raise ValueError(
                f"step_types: {step_type} steps are finished by people "
                "(complete_step(completed_by=...), approve_step, reject_step), not claimed"
            )
        chosen.add(str(step_type))
    if not chosen:
        raise ValueError("step_types must name at least one step type")
    return sorted(chosen)


@dataclass(frozen=True)
class _Scope:
    """Which ready runs a claim may take: by type, by name (any worker type), by execution.

    Hashable, so that the claim statements are built once per scope; the execution ids
    are a parameter (``claim_executions``), only whether there are any shapes them."""

    types: tuple[str, ...]
    names: tuple[str, ...] = ()
    by_execution: bool = False


def _scope(
    step_types: Iterable[StepType | str] | None,
    step_names: Iterable[str] | None,
    execution_ids: Iterable[int] | None,
) -> tuple[_Scope, list[int] | None]:
    if isinstance(step_names, str):
        raise ValueError("step_names must be a list of step names, not one string")
    names = tuple(sorted(set(step_names or ())))
    chosen = None if step_types is None or isinstance(step_types, str) else list(step_types)
    by_name_only = bool(names) and chosen is not None and not chosen
    ids = None if execution_ids is None else sorted(set(execution_ids))
    types = () if by_name_only else worker_step_types(step_types if chosen is None else chosen)
    return _Scope(tuple(types), names, ids is not None), ids


def _claimable(now: ColumnElement[datetime], scope: _Scope) -> list[ColumnElement[bool]]:
    """Due, of a running execution, in ``scope``.

    Whether the execution runs is a correlated subquery that returns a boolean, not
    ``EXISTS`` nor ``(SELECT status ...) = 'running'``: a planner turns ``EXISTS`` into a
    join that starts from the (few) running executions and reads every run of each, and
    guesses that a comparison with a subquery's value holds for 0.5% of the rows, then
    sorts every due run; either reads as many rows per claim as there are runs. Here
    the one way in is the range of ``claim_due_at``, read in due order up to ``LIMIT``.
    """
    runs = table_of(PlaybookStepExecution).c
    execution_running: ColumnElement[bool] = (
        select(PlaybookExecution.status == ExecutionStatus.RUNNING)
        .where(PlaybookExecution.id == runs.playbook_execution_id)
        .scalar_subquery()
    )
    conditions = [runs.claim_due_at <= now, execution_running]
    if scope.names:
        by_name = and_(
            runs.step_name.in_(scope.names), runs.step_type.in_(sorted(WORKER_STEP_TYPES))
        )
        conditions.append(or_(runs.step_type.in_(scope.types), by_name))
    elif len(scope.types) < len(WORKER_STEP_TYPES):
        conditions.append(runs.step_type.in_(scope.types))
    if scope.by_execution:
        executions = bindparam("claim_executions", expanding=True, type_=Integer())
        conditions.append(runs.playbook_execution_id.in_(executions))
    return conditions


def _claim_fields(worker_id: Any, now: Any, lease_end: Any) -> dict[str, Any]:
    """What a claim writes, but the two counters it raises (``attempt``, ``row_version``)."""
    return {
        "status": StepStatus.RUNNING,
        "claimed_by": worker_id,
        "started_at": now,
        "lease_expires_at": lease_end,
        "claim_due_at": lease_end,
        "next_attempt_at": None,
        "completed_at": None,
        "execution_time_seconds": None,
        "updated_at": now,
    }


def _claim_values(
    worker_id: Any, now: ColumnElement[datetime], lease_end: ColumnElement[datetime]
) -> dict[str, Any]:
    runs = table_of(PlaybookStepExecution).c
    return {
        **_claim_fields(worker_id, now, lease_end),
        "attempt": runs.attempt + 1,
        "row_version": runs.row_version + 1,
    }


def _definition_hash() -> Any:
    """The claimed run's execution's definition hash, read in the claim's own statement."""
    return (
        select(PlaybookExecution.definition_hash)
        .where(PlaybookExecution.id == table_of(PlaybookStepExecution).c.playbook_execution_id)
        .scalar_subquery()
        .label(_HASH)
    )


_HASH = "agentical_definition_hash"


@functools.lru_cache(maxsize=64)
def _returning_claim(dialect: str, scope: _Scope) -> Any:
    """PostgreSQL and SQLite: one ``UPDATE ... WHERE id IN (locked ids) RETURNING`` that
    also returns each run's definition hash, built once per database and step types."""
    runs = table_of(PlaybookStepExecution).c
    now = now_parameter_sql(dialect)
    chosen = (
        select(runs.id)
        .where(*_claimable(now, scope))
        .order_by(runs.claim_due_at)
        .limit(bindparam("claim_limit", type_=Integer()))
        .with_for_update(skip_locked=True)
    )
    claim = (
        update(table_of(PlaybookStepExecution))
        .where(runs.id.in_(chosen.scalar_subquery()))
        .values(
            _claim_values(
                bindparam("claim_worker", type_=String()),
                now,
                later_parameter_sql(dialect, "claim_lease"),
            )
        )
        .returning(*row_columns(PlaybookStepExecution), _definition_hash())
    )
    # A Core statement, its rows made instances by ``persistent_from_rows``: the ORM
    # annotates an ORM-enabled UPDATE anew at each execution (and computes its cache key
    # again), and loading through ``from_statement`` builds the loader for every column.
    return claim


def claim_ready_steps(
    session: Session,
    *,
    worker_id: str,
    limit: int = 1,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    step_types: Iterable[StepType | str] | None = None,
    step_names: Iterable[str] | None = None,
    execution_ids: Iterable[int] | None = None,
) -> list[PlaybookStepExecution]:
    """Claim up to ``limit`` ready step runs for ``worker_id``, the longest due first.

    By default every step type but ``manual`` and ``approval`` (people finish those);
    ``step_types`` narrows the claim to the types this worker handles; ``step_names`` adds
    the steps of those names whatever their (worker) type (``step_types=[]`` with names:
    those steps only); ``execution_ids`` keeps the claim to those executions. Each returned run
    is running, with ``claimed_by``, a lease until ``lease_expires_at`` (the database's
    clock) and a fencing token (``attempt``) kept for ``complete_step``, ``fail_step`` and
    ``heartbeat``. A run whose lease expired is claimed again, and its former holder can
    no longer finish it. Flushed, not committed: commit to publish the claim. An empty
    list means nothing is ready now. ``lease_seconds`` defaults to 300.
    """
    _check_arguments(worker_id, limit, lease_seconds)
    scope, execution_list = _scope(step_types, step_names, execution_ids)
    begin_read_committed(session, PlaybookStepExecution)
    session.flush()
    connection = connection_for(session, PlaybookStepExecution)
    locking = connection.dialect.name in MYSQL_FAMILY
    claim = _claim_locking if locking else _claim_returning
    pairs = claim(session, connection, worker_id, limit, lease_seconds, scope, execution_list)
    if not pairs:
        return []
    claimed = [run for run, _digest in pairs]
    hashes = {run.playbook_execution_id: digest for run, digest in pairs}
    plans = {key: plan_by_id(session, key, digest) for key, digest in hashes.items()}
    _set_deadlines(session, connection, claimed, plans)
    for run in claimed:
        lease = Lease(
            run.id,
            run.playbook_execution_id,
            run.step_name,
            run.playbook_step_id,
            run.attempt,
            worker_id,
            run.started_at or utc_now(),
            run.retry_count,
            float(lease_seconds),
            hashes.get(run.playbook_execution_id),
        )
        hold(run, lease)
        if not locking:  # MariaDB's claim write sets the current step itself
            execution_id = run.playbook_execution_id
            settlement.queue(session, execution_id, plans[execution_id], run.step_name, None)
        event_at_commit(
            session,
            "step.claimed",
            step_execution_id=run.id,
            playbook_execution_id=run.playbook_execution_id,
            step_name=run.step_name,
            attempt=run.attempt,
            retry_count=run.retry_count,
            worker=worker_id,
        )
    return claimed


def _claim_returning(
    session: Session,
    connection: Connection,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    scope: _Scope,
    execution_ids: list[int] | None,
) -> list[tuple[PlaybookStepExecution, str | None]]:
    """PostgreSQL and SQLite: the claimed runs, in id order, with their definition hashes."""
    dialect = connection.dialect.name
    parameters = {
        "claim_limit": limit,
        "claim_worker": worker_id,
        **_scope_values(execution_ids),
        **clock_values(dialect, claim_lease=lease_seconds),
    }
    write_deferred(session)  # what the session queued, before the claim reads
    return _claimed(session, connection.execute(_returning_claim(dialect, scope), parameters))


_WIDTH = len(table_of(PlaybookStepExecution).c)


def _claimed(
    session: Session, rows: Iterable[Row[Any]]
) -> list[tuple[PlaybookStepExecution, str | None]]:
    """The claimed runs as instances, in id order, each with its definition hash (the
    column after the run's own)."""
    rows = list(rows)
    claimed = persistent_from_rows(session, PlaybookStepExecution, [row[:_WIDTH] for row in rows])
    pairs = zip(claimed, [row[_WIDTH] for row in rows], strict=True)
    return sorted(pairs, key=lambda pair: pair[0].id)


def _scope_values(execution_ids: list[int] | None) -> dict[str, Any]:
    return {} if execution_ids is None else {"claim_executions": execution_ids}


@functools.lru_cache(maxsize=64)
def _locking_claim(dialect: str, scope: _Scope) -> Any:
    """MariaDB: the ready runs, locked (``SKIP LOCKED``), with the database's clock and their
    definition hashes, in one read.

    At READ COMMITTED (``begin_read_committed``) InnoDB keeps the locks of the rows it
    returns only: the read walks the ``claim_due_at`` index in due order and stops at the
    limit, and a row it examined but refused (its execution not running) is unlocked at
    once. The execution's status is read without a lock, so a transaction writing an
    execution row hides none of its runs.
    """
    now = now_parameter_sql(dialect)
    return (
        select(*row_columns(PlaybookStepExecution), _definition_hash(), now.label("database_now"))
        .where(*_claimable(now, scope))
        .order_by(table_of(PlaybookStepExecution).c.claim_due_at)
        .limit(bindparam("claim_limit", type_=Integer()))
        .with_for_update(skip_locked=True)
    )


@functools.lru_cache(maxsize=8)
def _claim_write(dialect: str) -> Any:
    """MariaDB: one multi-table UPDATE that writes the claim of an execution's runs and the
    execution's current step, fenced by the attempts the locking read saw (a cancel in the
    same transaction raised them: then nothing is written)."""
    runs = table_of(PlaybookStepExecution)
    executions = table_of(PlaybookExecution)
    claim = _claim_values(
        bindparam("claim_worker", type_=String()),
        bindparam("claim_now", type_=UTCDateTime()),
        bindparam("claim_lease_end", type_=UTCDateTime()),
    )
    values: dict[Any, Any] = {runs.c[key]: value for key, value in claim.items()}
    values[executions.c.current_step] = bindparam("current", type_=String())
    values[executions.c.updated_at] = bindparam("execution_updated_at", type_=UTCDateTime())
    # The hint is rendered after the table list, so the runs' table comes last: by primary
    # key whatever the statistics say. An UPDATE locks every row it examines (and a
    # multi-table one waits for locked rows): a scan would wait for other workers' claims.
    return (
        update(executions)
        .where(
            runs.c.id.in_(bindparam("claim_ids", expanding=True)),
            tuple_(runs.c.id, runs.c.attempt).in_(bindparam("claim_rows", expanding=True)),
            executions.c.id == runs.c.playbook_execution_id,
        )
        .values(values)
        .with_hint("FORCE INDEX (PRIMARY)", selectable=executions, dialect_name="mysql")
        .with_hint("FORCE INDEX (PRIMARY)", selectable=executions, dialect_name="mariadb")
    )


@dataclass
class _ClaimWrite:
    """MariaDB's claim of one execution's runs, written at the session's next flush,
    statement or commit (``deferred``), before the flush's own statements.

    MariaDB has no ``UPDATE ... RETURNING``, so a claim reads and locks its rows first;
    deferring the write lets it go with the execution's current step in one statement,
    and leaves the execution row unlocked until then: an uncommitted claim never holds up
    another worker's claim of the same execution. The runs stay locked meanwhile, so no
    one else can claim them; the session's own moves on them write it first
    (``write_queued_claims``).
    """

    execution_id: int
    worker_id: str
    now: datetime
    lease_end: datetime
    rows: list[tuple[int, int]] = field(default_factory=list)
    current_step: str | None = None

    @property
    def lock_order(self) -> tuple[int, int]:
        return (0, self.execution_id)

    def write(self, session: Session) -> None:
        connection = connection_for(session, PlaybookStepExecution)
        connection.execute(
            _claim_write(connection.dialect.name),
            {
                "claim_ids": [run_id for run_id, _attempt in self.rows],
                "claim_rows": self.rows,
                "claim_worker": self.worker_id,
                "claim_now": self.now,
                "claim_lease_end": self.lease_end,
                "current": self.current_step,
                "execution_updated_at": utc_now(),
            },
        )
        loaded = settlement.loaded_execution(session, self.execution_id)
        if loaded is not None:
            settlement.show(loaded, current_step=self.current_step)


def write_queued_claims(session: Session, *, flushing: bool = False) -> None:
    """Write the claims MariaDB queued on ``session`` (with everything queued before them),
    so that a move on a run claimed in this transaction finds the claim stored
    (``flushing``: called before a flush, as ``write_deferred`` takes it)."""
    if any(isinstance(write, _ClaimWrite) for write in queued(session)):
        write_deferred(session, flushing=flushing)


def _claim_locking(
    session: Session,
    connection: Connection,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    scope: _Scope,
    execution_ids: list[int] | None,
) -> list[tuple[PlaybookStepExecution, str | None]]:
    """MariaDB (no UPDATE ... RETURNING): lock the rows and read the clock in one statement;
    the claim's write is queued (``_ClaimWrite``), its values computed from that clock."""
    write_deferred(session)  # an earlier claim's write first: one write per claim
    rows = connection.execute(
        _locking_claim(connection.dialect.name, scope),
        {"claim_limit": limit, **_scope_values(execution_ids)},
    ).all()
    if not rows:
        return []
    now: datetime = rows[0].database_now
    lease_end = now + timedelta(seconds=lease_seconds)
    claimed = _claimed(session, rows)
    for run, _digest in claimed:
        execution_id = run.playbook_execution_id
        write = deferred(
            session,
            ("claim", execution_id),
            functools.partial(_ClaimWrite, execution_id, worker_id, now, lease_end),
        )
        write.rows.append((run.id, run.attempt))
        write.current_step = run.step_name
        committed = {
            **_claim_fields(worker_id, now, lease_end),
            "attempt": run.attempt + 1,
            "row_version": run.row_version + 1,
        }
        for key, value in committed.items():
            set_committed_value(run, key, value)
    return claimed


def _set_deadlines(
    session: Session,
    connection: Connection,
    claimed: list[PlaybookStepExecution],
    plans: dict[int, Plan],
) -> None:
    """Give each claimed attempt of a step with ``timeout_minutes`` its deadline."""
    by_timeout: dict[int, list[int]] = {}
    for run in claimed:
        step = plans[run.playbook_execution_id].step(run.step_name)
        if step.timeout_minutes:
            by_timeout.setdefault(step.timeout_minutes, []).append(run.id)
    runs = table_of(PlaybookStepExecution).c
    for minutes, ids in by_timeout.items():
        connection.execute(
            update(table_of(PlaybookStepExecution))
            .where(runs.id.in_(ids))
            .values(deadline_at=later_sql(connection, minutes * 60))
        )
    for run in claimed:
        if run.id in {run_id for ids in by_timeout.values() for run_id in ids}:
            session.expire(run, ["deadline_at"])
