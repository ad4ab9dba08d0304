"""``PlaybookStep`` and the dependency edges between steps of one playbook."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship, validates

from agentical.db.enums import StepStatus, StepType
from agentical.db.errors import InvalidInputError
from agentical.db.graph import path_exists
from agentical.db.models.base import MARIADB_TABLE_OPTIONS, Base, BaseModel, table_args
from agentical.db.models.json_tracking import TrackedDict, TrackedList
from agentical.db.models.mixins import ConfigurationMixin, PerformanceMixin, performance_checks
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.schemas.playbook import PlaybookStepRead
from agentical.db.types import json_type, str_enum

if TYPE_CHECKING:
    from agentical.db.models.playbook.step_execution import PlaybookStepExecution

STEP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")

step_dependencies = Table(
    "playbook_step_dependencies",
    Base.metadata,
    Column(
        "step_id",
        Integer,
        ForeignKey("playbook_steps.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "depends_on_step_id",
        Integer,
        ForeignKey("playbook_steps.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    CheckConstraint("step_id <> depends_on_step_id", name="not_self"),
    **MARIADB_TABLE_OPTIONS,
)


class PlaybookStep(ConfigurationMixin, PerformanceMixin, BaseModel):
    """One step of a playbook: what to do, in which order, after which other steps.

    Defaults that limit a run: ``retry_attempts`` 0 (a failed step is not retried; at most
    10), ``retry_delay_seconds`` 30 (the wait before a retry may be claimed),
    ``timeout_minutes`` none.
    """

    __tablename__ = "playbook_steps"
    __read_schema__ = PlaybookStepRead
    __table_args__ = table_args(
        # The unique (playbook_id, step_order) index also serves "steps of a playbook in order".
        UniqueConstraint("playbook_id", "step_order"),
        UniqueConstraint("playbook_id", "step_name"),
        CheckConstraint("step_order >= 1", name="step_order_min"),
        CheckConstraint("retry_attempts BETWEEN 0 AND 10", name="retry_attempts_range"),
        CheckConstraint("retry_delay_seconds >= 0", name="retry_delay_non_negative"),
        CheckConstraint(
            "estimated_duration_minutes IS NULL OR estimated_duration_minutes >= 0",
            name="estimated_duration_non_negative",
        ),
        CheckConstraint("timeout_minutes IS NULL OR timeout_minutes >= 1", name="timeout_min"),
        *performance_checks(),
    )

    playbook_id: Mapped[int] = mapped_column(ForeignKey("playbooks.id", ondelete="CASCADE"))
    step_name: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    step_type: Mapped[StepType] = mapped_column(
        str_enum(StepType, "step_type"), default=StepType.MANUAL
    )
    step_order: Mapped[int]
    status: Mapped[StepStatus] = mapped_column(
        str_enum(StepStatus, "status"), default=StepStatus.ACTIVE
    )
    is_optional: Mapped[bool] = mapped_column(default=False)
    is_manual: Mapped[bool] = mapped_column(default=False)
    configuration: Mapped[dict[str, Any]] = mapped_column(
        TrackedDict.as_mutable(json_type()), default=dict
    )
    instructions: Mapped[str | None] = mapped_column(Text, default=None)
    automation_script: Mapped[str | None] = mapped_column(Text, default=None)
    conditions: Mapped[dict[str, Any]] = mapped_column(
        TrackedDict.as_mutable(json_type()), default=dict
    )
    agent_type: Mapped[str | None] = mapped_column(String(100), default=None)
    tool_name: Mapped[str | None] = mapped_column(String(100), default=None)
    parameters: Mapped[dict[str, Any]] = mapped_column(
        TrackedDict.as_mutable(json_type()), default=dict
    )
    verification_method: Mapped[str | None] = mapped_column(String(255), default=None)
    verification_criteria: Mapped[dict[str, Any]] = mapped_column(
        TrackedDict.as_mutable(json_type()), default=dict
    )
    success_indicators: Mapped[list[Any]] = mapped_column(
        TrackedList.as_mutable(json_type()), default=list
    )
    estimated_duration_minutes: Mapped[int | None] = mapped_column(default=None)
    timeout_minutes: Mapped[int | None] = mapped_column(default=None)
    retry_attempts: Mapped[int] = mapped_column(default=0)
    retry_delay_seconds: Mapped[int] = mapped_column(default=30)

    playbook: Mapped[Playbook] = relationship(back_populates="steps")
    # Loaded with the step: its dependency ids are part of every serialisation.
    depends_on: Mapped[list[PlaybookStep]] = relationship(
        secondary=step_dependencies,
        primaryjoin=lambda: PlaybookStep.id == step_dependencies.c.step_id,
        secondaryjoin=lambda: PlaybookStep.id == step_dependencies.c.depends_on_step_id,
        back_populates="dependents",
        order_by=lambda: PlaybookStep.step_order,
        passive_deletes=True,
        lazy="selectin",
        # Self-referential eager loads stop after one hop by default, so steps loaded with
        # their playbook would lazy-load this per step (N+1; an error under asyncio).
        join_depth=2,
    )
    dependents: Mapped[list[PlaybookStep]] = relationship(
        secondary=step_dependencies,
        primaryjoin=lambda: PlaybookStep.id == step_dependencies.c.depends_on_step_id,
        secondaryjoin=lambda: PlaybookStep.id == step_dependencies.c.step_id,
        back_populates="depends_on",
        passive_deletes=True,
    )
    step_executions: Mapped[list[PlaybookStepExecution]] = relationship(
        back_populates="step", passive_deletes=True
    )

    @validates("step_name")
    def _validate_step_name(self, _key: str, name: Any) -> str:
        if not isinstance(name, str) or not STEP_NAME.match(name.strip()):
            raise InvalidInputError(
                "PlaybookStep.step_name must be 1-100 characters of letters, digits, "
                "'_', '-' or '.', starting with a letter, digit or '_'"
            )
        return name.strip()

    @validates(
        "step_order",
        "retry_attempts",
        "retry_delay_seconds",
        "estimated_duration_minutes",
        "timeout_minutes",
    )
    def _validate_numbers(self, key: str, value: Any) -> Any:
        minimum = 1 if key in ("step_order", "timeout_minutes") else 0
        if value is None and key in ("estimated_duration_minutes", "timeout_minutes"):
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InvalidInputError(f"PlaybookStep.{key} must be an integer >= {minimum}")
        if key == "retry_attempts" and value > 10:
            raise InvalidInputError("PlaybookStep.retry_attempts must be between 0 and 10")
        return value

    @property
    def depends_on_step_ids(self) -> list[int | None]:
        return [step.id for step in self.depends_on]

    def get_depends_on_steps(self) -> list[int | None]:
        """Ids of the steps this one depends on (``None`` for a step not yet flushed)."""
        return self.depends_on_step_ids

    def add_dependency(self, ref: PlaybookStep | int | str) -> None:
        """Make this step depend on ``ref`` (a step, its id or its step_name)."""
        target = self._resolve_sibling(ref)
        if target is self:
            raise InvalidInputError(f"step '{self.step_name}' cannot depend on itself")
        if target in self.depends_on:
            return
        graph = {step: step.depends_on for step in self._siblings()}
        if path_exists(graph, target, self):
            raise InvalidInputError(
                f"step '{self.step_name}' cannot depend on '{target.step_name}': "
                f"'{target.step_name}' already depends on '{self.step_name}' "
                "(the edge would create a cycle)"
            )
        self.depends_on.append(target)

    def remove_dependency(self, ref: PlaybookStep | int | str) -> None:
        target = self._resolve_sibling(ref)
        if target in self.depends_on:
            self.depends_on.remove(target)

    def _owning_playbook(self) -> Playbook | None:
        if self.playbook is not None:
            return self.playbook
        session = object_session(self)
        if session is not None and self.playbook_id is not None:
            return session.get(Playbook, self.playbook_id)
        return None

    def _siblings(self, *, reread: bool = False) -> list[PlaybookStep]:
        playbook = self._owning_playbook()
        if playbook is None:
            raise InvalidInputError(
                f"step '{self.step_name}' belongs to no playbook yet: attach it before "
                "adding dependencies"
            )
        session = object_session(playbook)
        if reread and session is not None and inspect(playbook).persistent:
            session.expire(playbook, ["steps"])  # read again, after a flush of new steps
        return list(playbook.steps)

    def _resolve_sibling(self, ref: PlaybookStep | int | str) -> PlaybookStep:
        """The step ``ref`` names among this step's playbook's. A miss reads the steps
        again once: a step made with ``playbook_id`` alone is not in a ``steps``
        collection loaded before it."""
        if isinstance(ref, bool) or not isinstance(ref, PlaybookStep | int | str):
            raise InvalidInputError(
                f"dependency reference must be a PlaybookStep, an id or a step_name, "
                f"got {type(ref).__name__}"
            )
        found = _find_sibling(ref, self._siblings())
        if found is None:
            found = _find_sibling(ref, self._siblings(reread=True))
        if found is not None:
            return found
        if isinstance(ref, PlaybookStep):
            raise InvalidInputError(
                f"step '{ref.step_name}' belongs to another playbook than "
                f"'{self.step_name}': dependencies stay within one playbook"
            )
        field = "id" if isinstance(ref, int) else "step_name"
        raise InvalidInputError(
            f"step '{self.step_name}': no step with {field} {ref!r} in the same playbook"
        )


def _find_sibling(
    ref: PlaybookStep | int | str, siblings: list[PlaybookStep]
) -> PlaybookStep | None:
    if isinstance(ref, PlaybookStep):
        return ref if ref in siblings else None
    field = "id" if isinstance(ref, int) else "step_name"
    return next((step for step in siblings if getattr(step, field) == ref), None)
