"""``PlaybookStepExecution``: the run of one step within one execution."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import (
    CheckConstraint,
    Connection,
    ForeignKey,
    Index,
    String,
    Text,
    event,
    select,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship, validates

from agentical.db.audit import current_actor
from agentical.db.enums import ExecutionStatus, StepStatus, StepType
from agentical.db.errors import InvalidTransitionError
from agentical.db.lifecycle import STEP_EXECUTION_TRANSITIONS, check_transition
from agentical.db.models.base import BaseModel, table_args
from agentical.db.models.json_tracking import TrackedDict
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.progress import record_step_transition
from agentical.db.models.playbook.step import PlaybookStep
from agentical.db.observability import lifecycle_event, transition_event
from agentical.db.schemas.playbook import PlaybookStepExecutionRead
from agentical.db.types import ensure_json, json_type, str_enum, utc_now

PERSON_MAX_LENGTH = 255


class PlaybookStepExecution(BaseModel):
    """The run of one step within one execution: its state, attempts, lease and output."""

    __tablename__ = "playbook_step_executions"
    __read_schema__ = PlaybookStepExecutionRead
    __table_args__ = table_args(
        Index("ix_playbook_step_executions_execution_id_status", "playbook_execution_id", "status"),
        # Workers claim by due time alone: only rows a worker may take now or later have
        # one (ready, awaiting a retry, or leased), so finished history never slows a claim.
        Index("ix_playbook_step_executions_claim_due_at", "claim_due_at"),
        Index("ix_playbook_step_executions_deadline_at", "deadline_at"),
        Index(
            "ix_playbook_step_executions_execution_id_order",
            "playbook_execution_id",
            "step_order",
        ),
        # The run engine releases, skips and makes due the runs of one execution by name.
        Index(
            "ix_playbook_step_executions_execution_id_step_name",
            "playbook_execution_id",
            "step_name",
        ),
        CheckConstraint("step_order >= 1", name="step_order_min"),
        CheckConstraint("retry_count >= 0", name="retry_count_non_negative"),
        CheckConstraint("attempt >= 0", name="attempt_non_negative"),
        CheckConstraint("unmet_dependencies >= 0", name="unmet_dependencies_non_negative"),
        CheckConstraint(
            "execution_time_seconds IS NULL OR execution_time_seconds >= 0",
            name="execution_time_non_negative",
        ),
    )

    playbook_execution_id: Mapped[int] = mapped_column(
        ForeignKey("playbook_executions.id", ondelete="CASCADE")
    )
    # History outlives the definition: a deleted step leaves its runs, named by step_name.
    playbook_step_id: Mapped[int | None] = mapped_column(
        ForeignKey("playbook_steps.id", ondelete="SET NULL"), index=True
    )
    step_name: Mapped[str] = mapped_column(String(100))
    step_order: Mapped[int]
    status: Mapped[StepStatus] = mapped_column(
        str_enum(StepStatus, "status"), default=StepStatus.PENDING
    )
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    input_data: Mapped[dict[str, Any]] = mapped_column(
        TrackedDict.as_mutable(json_type()), default=dict
    )
    output_data: Mapped[dict[str, Any]] = mapped_column(
        TrackedDict.as_mutable(json_type()), default=dict
    )
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    execution_time_seconds: Mapped[float | None] = mapped_column(default=None)
    retry_count: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(255), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    # The run's materialised place in its plan (see ``agentical.db.runs``): its step's
    # type, how many of its dependencies are not finished yet, when a worker may take it
    # (ready, retry due, or lease expired), the fencing token of the latest claim, and
    # when a claimed attempt times out.
    # A copy of the plan's type, written by the library only: no CHECK to migrate with it.
    step_type: Mapped[StepType] = mapped_column(
        str_enum(StepType, "step_type", checked=False), default=None
    )
    unmet_dependencies: Mapped[int] = mapped_column(default=0)
    claim_due_at: Mapped[datetime | None] = mapped_column(default=None)
    attempt: Mapped[int] = mapped_column(default=0)
    deadline_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_by: Mapped[str | None] = mapped_column(String(255), default=None)
    row_version: Mapped[int] = mapped_column(default=1)

    execution: Mapped[PlaybookExecution] = relationship(back_populates="step_executions")
    step: Mapped[PlaybookStep | None] = relationship(back_populates="step_executions")

    __mapper_args__ = {"version_id_col": row_version}

    @validates("step")
    def _copy_step_identity(self, _key: str, step: PlaybookStep | None) -> PlaybookStep | None:
        if step is not None:
            self.step_name = step.step_name
            if self.step_order is None:
                self.step_order = step.step_order
        return step

    @validates("step_order")
    def _validate_step_order(self, _key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("PlaybookStepExecution.step_order must be an integer >= 1")
        return value

    @property
    def _label(self) -> str:
        return f"PlaybookStepExecution '{self.step_name}' (id={self.id})"

    def _move_to(self, target: StepStatus) -> datetime:
        check_transition(self._label, STEP_EXECUTION_TRANSITIONS, self.status, target)
        now = utc_now()
        previous = self.status
        self.status = target
        record_step_transition(self, target)
        execution = self.__dict__.get("execution")  # only if loaded: events never query
        lifecycle_event(
            transition_event("step", previous, target),
            step_execution_id=self.id,
            playbook_execution_id=self.playbook_execution_id,
            execution_id=None if execution is None else execution.execution_id,
            playbook_name=None if execution is None else execution.loaded_playbook_name(),
            step_name=self.step_name,
            step_order=self.step_order,
            status=str(target),
            duration_seconds=self.execution_time_seconds,
        )
        return now

    def start_step(self) -> None:
        """Pending -> running, by the caller's own decision (workers claim instead:
        ``claim_ready_steps``). Raises ``InvalidTransitionError`` from any other state."""
        self.started_at = self._move_to(StepStatus.RUNNING)

    def _finish(self) -> None:
        self.completed_at = utc_now()
        if self.started_at is not None:
            elapsed = (self.completed_at - self.started_at).total_seconds()
            self.execution_time_seconds = max(elapsed, 0.0)

    def complete_step(
        self, output_data: dict[str, Any] | None = None, *, completed_by: str | None = None
    ) -> None:
        """Running -> completed, keeping ``output_data``.

        A person finishes a ready manual step straight from pending by naming themself:
        ``complete_step(output, completed_by="alice")``. What follows for the run
        (dependants, counts, the execution's end) is written when the session flushes.
        """
        if output_data is not None and not isinstance(output_data, dict):
            raise ValueError("output_data must be a dict")
        if output_data is not None:
            ensure_json("PlaybookStepExecution.output_data", output_data)
        if completed_by is None and self.step_type is StepType.MANUAL:
            completed_by = current_actor()  # ``with acting_as("alice"):`` names the person
        if completed_by is not None:
            self._check_person(completed_by)
            if self.status is StepStatus.PENDING:
                self.start_step()
        check_transition(self._label, STEP_EXECUTION_TRANSITIONS, self.status, StepStatus.COMPLETED)
        self._finish()
        if output_data is not None:
            self.output_data = dict(output_data)
        if completed_by is not None:
            self.completed_by = completed_by
        self._move_to(StepStatus.COMPLETED)

    def _check_person(self, completed_by: Any) -> None:
        if not isinstance(completed_by, str) or not completed_by.strip():
            raise ValueError(f"{self._label}: completed_by must name a person")
        if len(completed_by) > PERSON_MAX_LENGTH:
            raise ValueError(f"{self._label}: completed_by is longer than {PERSON_MAX_LENGTH}")
        if self.status is not StepStatus.PENDING:
            return
        if self.step_type is not StepType.MANUAL:
            raise InvalidTransitionError(self._label, str(self.status), "completed", ["running"])
        # A person finishes a manual step only when it is ready, its execution running: one
        # done before the start, or after the end, would leave the run's counts wrong.
        execution_status = None if self.execution is None else self.execution.status
        if execution_status is not ExecutionStatus.RUNNING:
            self._not_ready(f"its execution is {execution_status}, not running")
        if self.unmet_dependencies:
            self._not_ready(f"{self.unmet_dependencies} dependencies not finished")

    def _not_ready(self, reason: str) -> NoReturn:
        allowed = sorted(str(status) for status in STEP_EXECUTION_TRANSITIONS[self.status])
        raise InvalidTransitionError(
            f"{self._label} ({reason})", str(self.status), "completed", allowed
        )

    def fail_step(self, error_message: str) -> None:
        """Running -> failed; the message is kept exactly as given. With attempts left the
        flush turns the failure into a retry: pending again, due after the retry delay."""
        check_transition(self._label, STEP_EXECUTION_TRANSITIONS, self.status, StepStatus.FAILED)
        self._finish()
        self.error_message = error_message
        if self.step_type is StepType.MANUAL and self.completed_by is None:
            self.completed_by = current_actor()
        self._move_to(StepStatus.FAILED)

    def skip_step(self, reason: str | None = None) -> None:
        """Pending -> skipped; ``error_message`` becomes ``"Skipped: <reason>"``."""
        check_transition(self._label, STEP_EXECUTION_TRANSITIONS, self.status, StepStatus.SKIPPED)
        self.completed_at = utc_now()
        self.error_message = f"Skipped: {reason}" if reason else "Skipped"
        self._move_to(StepStatus.SKIPPED)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()


@event.listens_for(PlaybookStepExecution, "before_insert")
def _fill_step_type(
    _mapper: Mapper[Any], connection: Connection, target: PlaybookStepExecution
) -> None:
    """A step run the run engine could not plan (``runs.hooks``: its step is not in the
    execution's snapshot) still records a type: its live step's, else manual."""
    if target.step_type is None:
        step_type = None
        if target.playbook_step_id is not None:
            step_type = connection.scalar(
                select(PlaybookStep.step_type).where(PlaybookStep.id == target.playbook_step_id)
            )
        target.step_type = step_type or StepType.MANUAL
