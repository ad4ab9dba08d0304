"""``PlaybookExecution``: one run of a playbook, with its lifecycle and history."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agentical.db.audit import current_actor, transition_actor
from agentical.db.encryption import SealedJSON
from agentical.db.enums import ExecutionStatus
from agentical.db.lifecycle import (
    EXECUTION_RESUME_FROM,
    EXECUTION_START_FROM,
    EXECUTION_TRANSITIONS,
    check_transition,
)
from agentical.db.models.base import BaseModel, table_args
from agentical.db.models.json_tracking import TrackedDict, TrackedList
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.progress import record_execution_finished
from agentical.db.models.playbook.snapshot import DefinitionSnapshot
from agentical.db.models.user import User
from agentical.db.observability import lifecycle_event, transition_event
from agentical.db.schemas.common import definition_secret_names, execution_secret_names
from agentical.db.schemas.playbook import PlaybookExecutionRead
from agentical.db.types import ensure_json, json_type, str_enum, utc_now

if TYPE_CHECKING:
    from agentical.db.models.playbook.step_execution import PlaybookStepExecution


def _new_execution_id() -> str:
    return str(uuid.uuid4())


class PlaybookExecution(BaseModel):
    """One run of a playbook: it follows the definition it was created with (its
    snapshot), whatever happens to the playbook afterwards."""

    __tablename__ = "playbook_executions"
    __read_schema__ = PlaybookExecutionRead
    __table_args__ = table_args(
        # One playbook's history by status, newest first, read from the index alone.
        Index(
            "ix_playbook_executions_playbook_id_status_created_at",
            "playbook_id",
            "status",
            "created_at",
            "id",
        ),
        # Keyset pages of one playbook's history, every status, newest first.
        Index("ix_playbook_executions_playbook_id_created_at", "playbook_id", "created_at", "id"),
        Index("ix_playbook_executions_status_created_at", "status", "created_at"),
        # Keyset pages of every playbook's runs, newest first (the run list).
        Index("ix_playbook_executions_created_at", "created_at", "id"),
        Index("ix_playbook_executions_deadline_at", "deadline_at"),
        UniqueConstraint("playbook_id", "idempotency_key"),
        CheckConstraint(
            "progress_percentage >= 0 AND progress_percentage <= 100", name="progress_range"
        ),
        CheckConstraint("completed_steps >= 0", name="completed_steps_non_negative"),
        CheckConstraint("failed_steps >= 0", name="failed_steps_non_negative"),
        CheckConstraint("skipped_steps >= 0", name="skipped_steps_non_negative"),
        CheckConstraint("total_steps >= 0", name="total_steps_non_negative"),
        CheckConstraint(
            "execution_time_seconds IS NULL OR execution_time_seconds >= 0",
            name="execution_time_non_negative",
        ),
    )

    execution_id: Mapped[str] = mapped_column(String(64), unique=True, default=_new_execution_id)
    playbook_id: Mapped[int] = mapped_column(ForeignKey("playbooks.id", ondelete="CASCADE"))
    executed_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    # An explicit None is stored (evaluates_none), not replaced by the default at INSERT.
    triggered_by: Mapped[str | None] = mapped_column(String(100).evaluates_none(), default="manual")
    trigger_context: Mapped[dict[str, Any]] = mapped_column(
        TrackedDict.as_mutable(json_type()), default=dict
    )
    status: Mapped[ExecutionStatus] = mapped_column(
        str_enum(ExecutionStatus, "status"), default=ExecutionStatus.PENDING
    )
    # SealedJSON: sensitive entries encrypted at rest when a key is set (playbook/sealing).
    input_variables: Mapped[dict[str, Any]] = mapped_column(
        TrackedDict.as_mutable(SealedJSON()), default=dict
    )
    output_variables: Mapped[dict[str, Any]] = mapped_column(
        TrackedDict.as_mutable(SealedJSON()), default=dict
    )
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    cancellation_reason: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    execution_time_seconds: Mapped[float | None] = mapped_column(default=None)
    progress_percentage: Mapped[float] = mapped_column(default=0.0)
    status_message: Mapped[str | None] = mapped_column(Text, default=None)
    current_step: Mapped[str | None] = mapped_column(String(100), default=None)
    completed_steps: Mapped[int] = mapped_column(default=0)
    failed_steps: Mapped[int] = mapped_column(default=0)
    skipped_steps: Mapped[int] = mapped_column(default=0)
    success_criteria_met: Mapped[dict[str, bool]] = mapped_column(
        TrackedDict.as_mutable(json_type()), default=dict
    )
    overall_success: Mapped[bool | None] = mapped_column(default=None)
    lessons_learned: Mapped[str | None] = mapped_column(Text, default=None)
    status_history: Mapped[list[dict[str, Any]]] = mapped_column(
        TrackedList.as_mutable(json_type()), default=list
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    # The definition this run follows, stored once for every run of it. RESTRICT: a
    # snapshot goes only when no execution points at it (retention's sweep).
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("definition_snapshots.id", ondelete="RESTRICT"), index=True, default=None
    )
    # The snapshot's content hash, on the row: plans are cached by it and leases carry it,
    # so a worker needs no join (and no document) for a definition it has compiled.
    definition_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # From the plan: how many step runs it has, when it times out (while running), the
    # first required step that failed for good (the run will fail), and who started it.
    total_steps: Mapped[int] = mapped_column(default=0)
    deadline_at: Mapped[datetime | None] = mapped_column(default=None)
    failed_required_step: Mapped[str | None] = mapped_column(String(100), default=None)
    started_by: Mapped[str | None] = mapped_column(String(255), default=None)
    row_version: Mapped[int] = mapped_column(default=1)

    playbook: Mapped[Playbook] = relationship(back_populates="executions")
    executed_by_user: Mapped[User | None] = relationship()
    # Loaded with the execution (one query for any number, one row per distinct
    # definition): masking its secrets and planning it then need no lazy load, under an
    # AsyncSession too. No save-update cascade: the run engine stores a new document once
    # per content hash at the flush (``snapshot.stored_snapshot``), never as a new row.
    snapshot: Mapped[DefinitionSnapshot | None] = relationship(lazy="selectin", cascade="merge")
    # Can hold thousands of rows: loaded on access, or eagerly through loader options.
    step_executions: Mapped[list[PlaybookStepExecution]] = relationship(
        back_populates="execution",
        order_by="PlaybookStepExecution.step_order",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __mapper_args__ = {"version_id_col": row_version}

    @property
    def _label(self) -> str:
        return f"PlaybookExecution {self.execution_id}"

    def _move_to(
        self,
        target: ExecutionStatus,
        reason: str | None = None,
        sources: frozenset[ExecutionStatus] | None = None,
        by: str | None = None,
    ) -> datetime:
        check_transition(self._label, EXECUTION_TRANSITIONS, self.status, target, sources)
        now = utc_now()
        previous = str(self.status)
        # Who moved it (``by``): the actor in effect now; the audit trail records the same.
        change = {
            "from": previous,
            "to": str(target),
            "when": now.isoformat(),
            "reason": reason,
            **transition_actor(by),
        }
        self.status_history = [*(self.status_history or []), change]
        self.status = target
        lifecycle_event(
            transition_event("execution", previous, target),
            execution_id=self.execution_id,
            playbook_id=self.playbook_id,
            playbook_name=self.loaded_playbook_name(),
            status=str(target),
            previous_status=previous,
            duration_seconds=self.execution_time_seconds,
        )
        return now

    def loaded_playbook_name(self) -> str | None:
        """The playbook's name if it is already loaded: events never trigger a query."""
        playbook = self.__dict__.get("playbook")
        return None if playbook is None else playbook.name

    def start_execution(
        self, input_variables: dict[str, Any] | None = None, *, started_by: str | None = None
    ) -> None:
        """Pending -> running, with ``input_variables`` stored when given.

        The flush takes a slot under the playbook's ``max_concurrent_executions`` and
        raises ``ConcurrencyLimitError`` when none is free (roll back then); see
        ``agentical.db.runs.start_execution`` to be told before anything changes.
        """
        if started_by is not None and (not isinstance(started_by, str) or len(started_by) > 255):
            raise ValueError(f"{self._label}: started_by must be a string of at most 255")
        if input_variables is not None and not isinstance(input_variables, dict):
            raise ValueError("input_variables must be a dict of variable name to value")
        if input_variables is not None:
            ensure_json("PlaybookExecution.input_variables", input_variables)
        started_by = started_by or current_actor()
        self.started_at = self._move_to(
            ExecutionStatus.RUNNING, sources=EXECUTION_START_FROM, by=started_by
        )
        if input_variables is not None:
            self.input_variables = dict(input_variables)
        if started_by is not None:
            self.started_by = started_by

    def pause_execution(self) -> None:
        """Running -> paused: workers claim none of its steps until it resumes."""
        self._move_to(ExecutionStatus.PAUSED)

    def resume_execution(self) -> None:
        """Paused -> running."""
        self._move_to(ExecutionStatus.RUNNING, sources=EXECUTION_RESUME_FROM)

    def complete_execution(
        self,
        overall_success: bool = True,
        output_variables: dict[str, Any] | None = None,
        error_message: str | None = None,
    ) -> None:
        """Running -> completed (or failed when ``overall_success`` is False), for callers
        who decide the outcome themselves; runs also finish on their own when their last
        step does. Sets ``completed_at`` and ``execution_time_seconds``."""
        if not isinstance(overall_success, bool):
            # bool("false") is True: a failed run must not be recorded as a success.
            raise ValueError(
                f"{self._label}: overall_success must be True or False, "
                f"got {type(overall_success).__name__}"
            )
        if output_variables is not None and not isinstance(output_variables, dict):
            raise ValueError("output_variables must be a dict of variable name to value")
        if output_variables is not None:
            ensure_json("PlaybookExecution.output_variables", output_variables)
        target = ExecutionStatus.COMPLETED if overall_success else ExecutionStatus.FAILED
        check_transition(self._label, EXECUTION_TRANSITIONS, self.status, target)
        self._finish(utc_now())
        self.overall_success = overall_success
        if output_variables is not None:
            self.output_variables = {**(self.output_variables or {}), **output_variables}
        if error_message is not None:
            self.error_message = error_message
        if overall_success:
            self.progress_percentage = 100.0
        self._move_to(target)
        record_execution_finished(self)

    def cancel_execution(self, reason: str | None = None) -> None:
        """Pending, running or paused -> cancelled, ``reason`` kept. At the flush its
        pending and claimed steps are skipped, and their holders can finish nothing."""
        check_transition(self._label, EXECUTION_TRANSITIONS, self.status, ExecutionStatus.CANCELLED)
        self._finish(utc_now())
        self.cancellation_reason = reason
        self._move_to(ExecutionStatus.CANCELLED, reason)

    def _finish(self, now: datetime) -> None:
        self.completed_at = now
        if self.started_at is not None:
            self.execution_time_seconds = max((now - self.started_at).total_seconds(), 0.0)

    def update_progress(self, percentage: float, message: str | None = None) -> None:
        """Set ``progress_percentage`` (0..100) and ``status_message`` by hand."""
        if (
            isinstance(percentage, bool)
            or not isinstance(percentage, int | float)
            or not 0 <= percentage <= 100
        ):
            raise ValueError(f"{self._label}: progress_percentage must be a number from 0 to 100")
        self.progress_percentage = float(percentage)
        if message is not None:
            self.status_message = message

    def get_success_criteria_met(self) -> dict[str, bool]:
        return dict(self.success_criteria_met or {})

    def mark_success_criteria(self, criterion: str, met: bool = True) -> None:
        if not isinstance(criterion, str) or not criterion.strip():
            raise ValueError("success criterion must be a non-empty string")
        if not isinstance(met, bool):
            # bool("false") is True: a string or a number here is a caller's mistake.
            raise ValueError(
                f"{self._label}: success_criteria_met['{criterion}'] must be True or False, "
                f"got {type(met).__name__}"
            )
        self.success_criteria_met = {**(self.success_criteria_met or {}), criterion: met}

    def get_input_variables(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.input_variables or {}))

    def get_output_variables(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.output_variables or {}))

    def set_variable(self, key: str, value: Any, is_output: bool = False) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError("variable key must be a non-empty string")
        field = "output_variables" if is_output else "input_variables"
        ensure_json(f"PlaybookExecution.{field}[{key!r}]", value)
        if is_output:
            self.output_variables = {**(self.output_variables or {}), key: value}
        else:
            self.input_variables = {**(self.input_variables or {}), key: value}

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return self.completed_at - self.started_at

    @property
    def duration_seconds(self) -> float | None:
        duration = self.duration
        return None if duration is None else duration.total_seconds()

    def secret_names(self) -> set[str] | None:
        """Names of the secret variables (``execution_secret_names``): sensitive in the
        definition snapshot or in the live playbook when it is loaded; ``None`` when
        neither can be read.

        The snapshot loads with the execution, so without the playbook there is no query
        and ``to_dict()`` works under an ``AsyncSession`` too (a lazy load there is an
        error); the playbook is loaded for them only when the snapshot says nothing.
        """
        state = inspect(self)
        snapshot = state.dict.get("snapshot")
        snapshot_names = None if snapshot is None else definition_secret_names(snapshot.document)
        can_load = state.session is not None and self.playbook_id is not None
        if "playbook" not in state.dict and (snapshot_names is not None or not can_load):
            return snapshot_names
        playbook = self.playbook
        live_names = None if playbook is None else playbook.secret_variable_names()
        return execution_secret_names(snapshot_names, live_names)

    def serialization_context(self) -> dict[str, Any]:
        names = self.secret_names()
        if names is None:  # unknown: mask everything rather than risk a secret
            names = set(self.input_variables or {}) | set(self.output_variables or {})
        return {"secret_names": names}

    def ready_steps(self) -> list[PlaybookStepExecution]:
        """The step executions that may run now, in step order: pending, due, and with
        every dependency finished (completed, skipped, or a failed optional step), as the
        run engine keeps it for claims. Empty unless the execution is running. Unflushed
        changes of its session are flushed first (under asyncio: ``run_sync``)."""
        from agentical.db.runs.readiness import ready_step_executions

        return ready_step_executions(self)

    def blocked_steps(self) -> list[tuple[PlaybookStepExecution, str]]:
        """Pending step executions that can never run (a required dependency failed,
        directly or transitively), each with the reason."""
        from agentical.db.runs.readiness import blocked_step_executions

        return blocked_step_executions(self)

    def skip_blocked_steps(self) -> list[PlaybookStepExecution]:
        """Skip every blocked step execution with its reason; return them."""
        blocked = self.blocked_steps()
        for step_execution, reason in blocked:
            step_execution.skip_step(reason)
        return [step_execution for step_execution, _reason in blocked]

    def render_parameters(self, step_execution: PlaybookStepExecution) -> dict[str, Any]:
        """The step's parameters with ``{{ placeholders }}`` filled in.

        From this execution's variables and the outputs of its completed steps
        (``{{ steps.<step>.output.<key> }}``), in a sandbox. Raises ``RenderError`` naming
        the step, the parameter and the missing name; values never reach logs or messages.
        """
        from agentical.db.models.playbook.planning import render_step_parameters

        return render_step_parameters(self, step_execution)
