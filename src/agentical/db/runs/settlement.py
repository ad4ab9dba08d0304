"""What a finished step means for its run: the one place that moves a run forward.

When a step run finishes (completed, failed for good, or skipped), the execution's plan
says what follows, and ``settle`` writes it:

- each dependant has one unfinished dependency less; one left with none is ready: a worker
  may claim it from now on (``claim_due_at``), unless it has a condition, which is
  evaluated now: false skips it with ``condition not met: <expression>``, and a skip
  releases its own dependants in turn;
- a required step that failed for good skips every pending step downstream of it, with
  the reason, and the execution will fail;
- the execution's counts, progress and current step move in one UPDATE that adds to the
  stored figures and leaves ``row_version`` alone, so workers finishing steps of one
  execution never conflict;
- when that UPDATE leaves nothing unfinished, the execution completes (or fails) and its
  run is added to the playbook's and the template's metrics. Exactly once: the UPDATE's
  row lock serialises the workers finishing the last steps, and only the one whose
  increments reach the total sees the run finished.

Transitions are queued on the session (``queue``) and settled when it flushes, sorted by
execution id, so two transactions that finish steps of several executions lock them in
the same order and cannot deadlock.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from agentical.db.audit import transition_actor
from agentical.db.conditions import ConditionError, condition_context, evaluate
from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.models.base import table_of
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.counters import record_run
from agentical.db.models.playbook.deferred import deferred
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.step_counts import STEP_COUNTERS, progress_sql
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.models.playbook.template import PlaybookTemplate
from agentical.db.observability import event_at_commit
from agentical.db.plan import WORKER_STEP_TYPES, Plan
from agentical.db.runs import step_metrics, trail
from agentical.db.runs.clock import clock_values, now_parameter_sql, now_sql
from agentical.db.runs.plans import stored_variables
from agentical.db.runs.wakeup import announce_ready, announced_when, listens_for_ready
from agentical.db.types import utc_now


@dataclass
class Settlement:
    """The step outcomes of one execution queued in one session, not yet settled."""

    execution_id: int
    plan: Plan
    outcomes: list[tuple[str, StepStatus]] = field(default_factory=list)
    current_step: str | None = None
    started: bool = False
    resumed: bool = False

    # Written after the flush's own statements: what it settles is then stored (a step
    # started and finished in one flush, its execution started in the same one).
    after_flush = True

    @property
    def begins(self) -> bool:
        """A start or a resume: every step may have finished before it, then the run ends."""
        return self.started or self.resumed

    @property
    def lock_order(self) -> tuple[int, int]:
        return (0, self.execution_id)

    def write(self, session: Session) -> None:
        settle(session, self)


def queue(
    session: Session,
    execution_id: int,
    plan: Plan,
    step_name: str,
    outcome: StepStatus | None,
) -> None:
    """Queue the outcome of step ``step_name`` (``None``: it started) for the next flush
    (see ``models.playbook.deferred``: written before anything can read it)."""
    pending = deferred(session, ("settle", execution_id), lambda: Settlement(execution_id, plan))
    if outcome is None:
        pending.current_step = step_name
    else:
        pending.outcomes.append((step_name, outcome))


def queue_start(
    session: Session, execution: PlaybookExecution, plan: Plan, *, resumed: bool = False
) -> None:
    """Queue the start of an execution: its first steps' conditions are evaluated then.
    A resumed one whose last steps finished while it was paused ends then."""
    if execution.id is None:  # inserted by this flush: settled once it has its id
        deferred(session, ("start", id(execution)), lambda: _StartOfNew(execution, plan))
        return
    pending = deferred(session, ("settle", execution.id), lambda: Settlement(execution.id, plan))
    if resumed:
        pending.resumed = True
    else:
        pending.started = True


@dataclass
class _StartOfNew:
    """The start of an execution that the same flush inserts (``new_execution()`` then
    ``start_execution()``), queued as its settlement when the flush has stored it."""

    execution: PlaybookExecution
    plan: Plan
    after_flush = True

    def write(self, session: Session) -> None:
        queue_start(session, self.execution, self.plan)


def settle(session: Session, settlement: Settlement) -> None:
    connection = connection_for(session, PlaybookStepExecution)
    work = _Work(session, connection, settlement)
    work.run()


class _Work:
    """One settlement, round by round: outcomes release or block steps, conditions of the
    released steps give new outcomes, until nothing follows; then the counts."""

    def __init__(self, session: Session, connection: Connection, settlement: Settlement):
        self.session = session
        self.connection = connection
        self.settlement = settlement
        self.plan = settlement.plan
        self.execution_id = settlement.execution_id
        self.counts: Counter[StepStatus] = Counter()
        self.failed_required: str | None = None
        self.variables: dict[str, Any] | None = None
        self.runs = loaded_runs(session, settlement.execution_id)
        # A started (or resumed) run's first steps are due now.
        self.made_ready = settlement.begins
        self.announced = False

    def run(self) -> None:
        outcomes = list(self.settlement.outcomes)
        if self.settlement.started:
            roots = [
                step.name
                for step in self.plan.steps.values()
                if step.condition and not step.depends_on
            ]
            outcomes.extend(self._evaluate(roots))
        while outcomes:
            released: Counter[str] = Counter()
            for name, outcome in outcomes:
                self.counts[outcome] += 1
                step = self.plan.steps.get(name)
                if step is None:
                    continue
                if outcome is StepStatus.FAILED and not step.optional:
                    self.failed_required = self.failed_required or name
                    self._skip(self.plan.downstream_of(name), f"dependency '{name}' failed")
                else:
                    released.update(self.plan.dependants_of(name))
            outcomes = self._release(released)
        self._account()
        if self.made_ready and not self.announced:
            announce_ready(self.connection)

    def _skip(self, names: Sequence[str], reason: str) -> int:
        if not names:
            return 0
        table = table_of(PlaybookStepExecution)
        message = f"Skipped: {reason}"
        result = self.connection.execute(
            update(table)
            .where(
                table.c.playbook_execution_id == self.execution_id,
                table.c.step_name.in_(names),
                table.c.status == StepStatus.PENDING,
            )
            .values(
                status=StepStatus.SKIPPED,
                error_message=message,
                completed_at=utc_now(),
                claim_due_at=None,
                updated_at=utc_now(),
            )
        )
        for name in names:
            run = self.runs.get(name)
            if run is not None and run.status is StepStatus.PENDING:
                show(run, status=StepStatus.SKIPPED, error_message=message, claim_due_at=None)
        self.counts[StepStatus.SKIPPED] += result.rowcount
        if result.rowcount:
            event_at_commit(
                self.session,
                "step.skipped",
                playbook_execution_id=self.execution_id,
                steps=result.rowcount,
                reason=reason,
            )
        return int(result.rowcount)

    def _release(self, released: Counter[str]) -> list[tuple[str, StepStatus]]:
        """Lower the unmet counts of ``released``; the outcomes their conditions give."""
        if not released:
            return []
        conditional = {name for name in released if self.plan.step(name).condition}
        by_amount: dict[tuple[int, bool], list[str]] = {}
        for name, amount in released.items():
            by_amount.setdefault((amount, name in conditional), []).append(name)
        for (amount, has_condition), names in sorted(by_amount.items()):
            self._lower(names, amount, make_due=not has_condition)
        return self._evaluate(sorted(conditional, key=lambda name: self.plan.step(name).order))

    def _lower(self, names: list[str], amount: int, *, make_due: bool) -> None:
        dialect = self.connection.dialect.name
        announce = make_due and listens_for_ready(self.connection)
        statement = _lower_statement(dialect, make_due=make_due, announce=announce)
        parameters: dict[str, Any] = {
            "lower_execution": self.execution_id,
            "lower_names": names,
            "lower_by": amount,
        }
        if make_due:
            parameters.update(clock_values(dialect))
        if announce:
            rows = self.connection.execute(statement, parameters).all()
            if any(row[0] for row in rows):
                self.made_ready = self.announced = True
        else:
            self.connection.execute(statement, parameters)
        for name in names:
            run = self.runs.get(name)
            if run is not None:
                unmet = max((run.unmet_dependencies or 0) - amount, 0)
                show(run, unmet_dependencies=unmet)

    def _evaluate(self, names: list[str]) -> list[tuple[str, StepStatus]]:
        """Evaluate the conditions of those of ``names`` that are now ready."""
        if not names:
            return []
        table = table_of(PlaybookStepExecution)
        ready = [
            row.step_name
            for row in self.connection.execute(
                select(table.c.step_name).where(
                    table.c.playbook_execution_id == self.execution_id,
                    table.c.step_name.in_(names),
                    table.c.status == StepStatus.PENDING,
                    table.c.unmet_dependencies == 0,
                )
            )
        ]
        outcomes: list[tuple[str, StepStatus]] = []
        for name in sorted(ready, key=lambda step: self.plan.step(step).order):
            step = self.plan.step(name)
            assert step.condition is not None
            try:
                met = evaluate(step.condition, self._context(step.depends_on))
            except ConditionError as error:
                self._fail(name, str(error))
                outcomes.append((name, StepStatus.FAILED))
                continue
            if met:
                if step.for_workers:
                    self._make_due(name)
                continue
            self._skip([name], f"condition not met: {step.condition}")
            self.counts[StepStatus.SKIPPED] -= 1  # counted again as this round's outcome
            outcomes.append((name, StepStatus.SKIPPED))
        return outcomes

    def _context(self, dependencies: Iterable[str]) -> dict[str, Any]:
        if self.variables is None:
            self.variables = stored_variables(self.connection, self.execution_id)
        table = table_of(PlaybookStepExecution)
        rows = self.connection.execute(
            select(table.c.step_name, table.c.status, table.c.output_data).where(
                table.c.playbook_execution_id == self.execution_id,
                table.c.step_name.in_(list(dependencies)),
            )
        )
        states = {row.step_name: (str(row.status), row.output_data or {}) for row in rows}
        return condition_context(self.variables, states)

    def _make_due(self, name: str) -> None:
        self.made_ready = True
        table = table_of(PlaybookStepExecution)
        self.connection.execute(
            update(table)
            .where(table.c.playbook_execution_id == self.execution_id, table.c.step_name == name)
            .values(claim_due_at=now_sql(self.connection))
        )

    def _fail(self, name: str, message: str) -> None:
        table = table_of(PlaybookStepExecution)
        self.connection.execute(
            update(table)
            .where(table.c.playbook_execution_id == self.execution_id, table.c.step_name == name)
            .values(
                status=StepStatus.FAILED,
                error_message=message,
                completed_at=utc_now(),
                claim_due_at=None,
            )
        )
        run = self.runs.get(name)
        if run is not None:
            show(run, status=StepStatus.FAILED, error_message=message, claim_due_at=None)

    def _account(self) -> None:
        """Add the counts to the execution; finish it when nothing is left."""
        current = self.settlement.current_step
        if not self.counts and current is None:
            if self.settlement.begins:
                self._end_if_done()
            return
        shape = (
            tuple(counter for status, counter in STEP_COUNTERS.items() if self.counts.get(status)),
            self.failed_required is not None,
            current is not None,
        )
        parameters: dict[str, Any] = {
            f"add_{counter}": self.counts.get(status, 0)
            for status, counter in STEP_COUNTERS.items()
        }
        parameters.update(
            execution=self.execution_id,
            failed_required=self.failed_required,
            current=current,
            updated_at=utc_now(),
        )
        if self.connection.dialect.update_returning:
            statement = _account_statement(*shape, returning=True, unless_last=False)
            row = self.connection.execute(statement, parameters).one_or_none()
        else:
            row = self._count_then_read(shape, parameters)
        if row is None:
            return
        loaded = loaded_execution(self.session, self.execution_id)
        if loaded is not None:
            show(
                loaded,
                completed_steps=row.completed_steps,
                failed_steps=row.failed_steps,
                skipped_steps=row.skipped_steps,
                progress_percentage=row.progress_percentage,
                current_step=row.current_step,
                failed_required_step=row.failed_required_step,
            )
        if self.counts or self.settlement.begins:
            self._end_if_done(row)

    def _count_then_read(self, shape: tuple[Any, ...], parameters: dict[str, Any]) -> Any:
        """MariaDB (no UPDATE ... RETURNING): add the counts, and read the figures back only
        when something needs them: a loaded execution to show them, or an UPDATE that may
        have left nothing unfinished (then the run may end).

        So the counts go first on the condition that steps are left after them: a match is
        a step that ends nothing, the common case, in one statement. No match (the row
        lock serialises the workers, as for PostgreSQL's RETURNING) and they go again
        without the condition, then the figures are read under the row's lock.
        """
        seen = loaded_execution(self.session, self.execution_id) is not None
        if self.counts and not seen:
            unless_last = _account_statement(*shape, returning=False, unless_last=True)
            if self.connection.execute(unless_last, parameters).rowcount == 1:
                return None
        self.connection.execute(
            _account_statement(*shape, returning=False, unless_last=False), parameters
        )
        if not self.counts and not self.settlement.begins and not seen:
            return None  # a step started: nobody to show the figures to, nothing can end
        table = table_of(PlaybookExecution)
        return self.connection.execute(
            select(*_figures(table)).where(table.c.id == self.execution_id)
        ).one_or_none()

    def _end_if_done(self, row: Any = None) -> None:
        """End the run if nothing of it is left (and its caller did not end it)."""
        if row is None:
            table = table_of(PlaybookExecution)
            row = self.connection.execute(
                select(*_figures(table)).where(table.c.id == self.execution_id)
            ).one_or_none()
            if row is None:
                return
        done = row.completed_steps + row.failed_steps + row.skipped_steps
        loaded = loaded_execution(self.session, self.execution_id)
        decided_by_caller = loaded is not None and _status_changed(loaded)
        last = row.total_steps and done >= row.total_steps
        if last and row.status == ExecutionStatus.RUNNING and not decided_by_caller:
            finish_execution(self.session, self.connection, self.execution_id)


@functools.lru_cache(maxsize=16)
def _lower_statement(dialect: str, *, make_due: bool, announce: bool) -> Any:
    """The UPDATE that lowers the unmet counts of some runs of an execution, built once per
    database and shape (a chain releases a step at each finish): the execution, the step
    names and the amount are parameters (``lower_execution``, ``lower_names``,
    ``lower_by``). ``make_due``: a pending run of a worker's type left with nothing unmet
    is due now. ``announce`` (PostgreSQL): each lowered run returns whether it is due, and
    the statement tells the listeners of each one that is (no NOTIFY after it)."""
    table = table_of(PlaybookStepExecution)
    columns = table.c
    amount = bindparam("lower_by", type_=Integer())
    values: list[tuple[Any, Any]] = []
    if make_due:
        becomes_ready = and_(
            columns.unmet_dependencies == amount,
            columns.status == StepStatus.PENDING,
            columns.step_type.in_(sorted(WORKER_STEP_TYPES)),
        )
        # First: MariaDB evaluates SET left to right, with the values already assigned.
        due = case((becomes_ready, now_parameter_sql(dialect)), else_=columns.claim_due_at)
        values.append((columns.claim_due_at, due))
    values.append((columns.unmet_dependencies, columns.unmet_dependencies - amount))
    statement = (
        update(table)
        .where(
            columns.playbook_execution_id == bindparam("lower_execution", type_=Integer()),
            columns.step_name.in_(bindparam("lower_names", expanding=True)),
        )
        .ordered_values(*values)
    )
    if announce:
        made_due = columns.claim_due_at.is_not(None)
        return statement.returning(made_due, announced_when(made_due))
    return statement


@functools.lru_cache(maxsize=64)
def _account_statement(
    counted: tuple[str, ...],
    failed_required: bool,
    current: bool,
    *,
    returning: bool,
    unless_last: bool,
) -> Any:
    """The UPDATE that adds a settlement's counts to its execution, built once per shape
    (which counters move, whether a required step failed, whether a step started): the
    figures are parameters (``add_<counter>``, ``failed_required``, ``current``).
    ``unless_last``: only if steps are left unfinished after it."""
    table = table_of(PlaybookExecution)
    columns = table.c
    new_counts = {
        counter: columns[counter] + bindparam(f"add_{counter}", type_=Integer())
        for counter in STEP_COUNTERS.values()
    }
    finished = (
        new_counts["completed_steps"] + new_counts["failed_steps"] + new_counts["skipped_steps"]
    )
    values: list[tuple[Any, Any]] = []
    if counted:
        # First: MariaDB evaluates SET left to right, with the values already assigned.
        values.append(
            (
                columns.progress_percentage,
                case(
                    (columns.total_steps > 0, progress_sql(finished, columns.total_steps)),
                    else_=columns.progress_percentage,
                ),
            )
        )
        values.extend((columns[counter], new_counts[counter]) for counter in counted)
    if failed_required:
        values.append(
            (
                columns.failed_required_step,
                case(
                    (
                        columns.failed_required_step.is_(None),
                        bindparam("failed_required", type_=columns.failed_required_step.type),
                    ),
                    else_=columns.failed_required_step,
                ),
            )
        )
    if current:
        values.append((columns.current_step, bindparam("current", type_=columns.current_step.type)))
    values.append((columns.updated_at, bindparam("updated_at", type_=columns.updated_at.type)))
    statement = (
        update(table)
        .where(columns.id == bindparam("execution", type_=Integer()))
        .ordered_values(*values)
    )
    if unless_last:
        statement = statement.where(finished < columns.total_steps)
    return statement.returning(*_figures(table)) if returning else statement


def _figures(table: Table) -> tuple[Any, ...]:
    columns = table.c
    return (
        columns.status,
        columns.total_steps,
        columns.completed_steps,
        columns.failed_steps,
        columns.skipped_steps,
        columns.progress_percentage,
        columns.current_step,
        columns.failed_required_step,
    )


def finish_execution(
    session: Session, connection: Connection, execution_id: int, *, failure: str | None = None
) -> bool:
    """Complete (or fail, when a required step failed for good) a running execution whose
    steps are all finished, or fail it with ``failure`` (a timeout); ``False`` when it was
    not running any more (someone else finished it first)."""
    table = table_of(PlaybookExecution)
    columns = table.c
    row = connection.execute(
        select(
            columns.execution_id,
            columns.playbook_id,
            columns.started_at,
            columns.status_history,
            columns.failed_required_step,
        ).where(columns.id == execution_id, columns.status == ExecutionStatus.RUNNING)
    ).one_or_none()
    if row is None:
        return False
    success = failure is None and row.failed_required_step is None
    target = ExecutionStatus.COMPLETED if success else ExecutionStatus.FAILED
    now = utc_now()
    seconds = max((now - row.started_at).total_seconds(), 0.0) if row.started_at else 0.0
    message = failure
    if message is None and not success:
        message = f"step '{row.failed_required_step}' failed"
    change = {
        "from": "running",
        "to": str(target),
        "when": now.isoformat(),
        "reason": message,
        **transition_actor(),
    }
    values: dict[str, Any] = {
        "status": target,
        "completed_at": now,
        "execution_time_seconds": seconds,
        "overall_success": success,
        "deadline_at": None,
        "status_history": [*(row.status_history or []), change],
        "updated_at": now,
    }
    bump = {"row_version": columns.row_version + 1}  # an edit: a stale copy must not win
    if success:
        values["progress_percentage"] = 100.0
    else:
        values["error_message"] = message
    result = connection.execute(
        update(table)
        .where(columns.id == execution_id, columns.status == ExecutionStatus.RUNNING)
        .values({**values, **bump})
    )
    if result.rowcount != 1:
        return False
    record_finished_run(session, row.playbook_id, seconds, success)
    trail.record_end(
        connection, execution_id=row.execution_id, playbook_id=row.playbook_id, change=change
    )
    step_metrics.add_step_metrics(session, execution_id)
    loaded = loaded_execution(session, execution_id)
    if loaded is not None:
        show(loaded, **{key: value for key, value in values.items() if key != "updated_at"})
        if message is not None:
            show(loaded, error_message=message)
        session.expire(loaded, ["row_version"])
    event_at_commit(
        session,
        f"execution.{target}",
        execution_id=row.execution_id,
        playbook_id=row.playbook_id,
        status=str(target),
        previous_status="running",
        duration_seconds=seconds,
    )
    return True


def record_finished_run(session: Session, playbook_id: int, seconds: float, success: bool) -> None:
    """Add a finished run to its playbook's metrics, and to its template's."""
    record_run(session, Playbook, playbook_id, seconds, success)
    template_id = connection_for(session, Playbook).scalar(
        select(Playbook.template_id).where(Playbook.id == playbook_id)
    )
    if template_id is not None:
        record_run(session, PlaybookTemplate, template_id, seconds, success)


def _status_changed(execution: PlaybookExecution) -> bool:
    """Whether the caller moved the execution in this flush (``complete_execution``)."""
    return inspect(execution).attrs.status.history.has_changes()


def loaded_execution(session: Session, execution_id: int) -> PlaybookExecution | None:
    loaded = session.identity_map.get(identity_key(PlaybookExecution, execution_id))
    return loaded if isinstance(loaded, PlaybookExecution) else None


def loaded_runs(session: Session, execution_id: int) -> dict[str, PlaybookStepExecution]:
    """The session's copies of the execution's step runs, by step name (no query)."""
    return {
        instance.step_name: instance
        for instance in session.identity_map.values()
        if isinstance(instance, PlaybookStepExecution)
        and instance.__dict__.get("playbook_execution_id") == execution_id
    }


def show(instance: Any, **values: Any) -> None:
    """Give a session's copy what was just written, as committed values (nothing to flush).

    An attribute the caller changed in this flush keeps its change: the ORM writes it.
    """
    attributes = inspect(instance).attrs
    for key, value in values.items():
        if not attributes[key].history.has_changes():
            set_committed_value(instance, key, value)
