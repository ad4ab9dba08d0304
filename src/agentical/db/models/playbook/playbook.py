"""The ``Playbook`` model: a versioned, categorised procedure made of ordered steps."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    inspect,
    select,
)
from sqlalchemy.orm import (
    Mapped,
    joinedload,
    load_only,
    mapped_column,
    relationship,
    subqueryload,
    validates,
)

from agentical.db.audit import transition_actor
from agentical.db.enums import PlaybookCategory, PlaybookStatus
from agentical.db.errors import InvalidInputError
from agentical.db.lifecycle import PLAYBOOK_TRANSITIONS, check_transition
from agentical.db.limits import name_problem, path_name_problem
from agentical.db.models.base import BaseModel, table_args
from agentical.db.models.json_tracking import TrackedDict, TrackedList
from agentical.db.models.mixins import ConfigurationMixin, PerformanceMixin, performance_checks
from agentical.db.models.playbook.counters import record_run
from agentical.db.models.user import User
from agentical.db.schemas.playbook import PlaybookRead
from agentical.db.types import json_type, str_enum, utc_now

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from agentical.db.models.playbook.execution import PlaybookExecution
    from agentical.db.models.playbook.step import PlaybookStep
    from agentical.db.models.playbook.template import PlaybookTemplate
    from agentical.db.models.playbook.variable import PlaybookVariable
    from agentical.db.schemas.definition import PlaybookDefinition

NAME_MAX_LENGTH = 255
TRANSITION_ACTOR = "agentical.transition_actor"
TAG_MAX_LENGTH = 100


def _normalise_tag(tag: str) -> str:
    if not isinstance(tag, str):
        raise TypeError(f"tag must be a string, got {type(tag).__name__}")
    normalised = tag.strip().lower()
    if not normalised:
        raise InvalidInputError("tag must not be blank")
    if len(normalised) > TAG_MAX_LENGTH:
        raise InvalidInputError(f"tag is longer than {TAG_MAX_LENGTH} characters")
    if (reason := name_problem(normalised)) is not None:
        raise InvalidInputError(f"tag {reason}")
    return normalised


class Playbook(ConfigurationMixin, PerformanceMixin, BaseModel):
    """A versioned, categorised procedure: ordered steps with dependencies, and variables.

    Build one from a definition (``from_definition``, ``import_definition``, which gives an
    existing name its next version) or with keywords; run it with ``new_execution`` or
    ``create_execution``. Steps and variables load with it; executions only when asked.
    Limits that shape its runs: ``max_concurrent_executions`` (default 1: a second
    execution cannot start while one is running or paused), ``timeout_minutes`` (default
    60) and ``retry_attempts`` (default 0).
    """

    __tablename__ = "playbooks"
    __read_schema__ = PlaybookRead
    __table_args__ = table_args(
        Index("ix_playbooks_status_category", "status", "category"),
        # One row per (name, version): concurrent imports of a name cannot share a version.
        Index("ix_playbooks_name_version", "name", "version", unique=True),
        CheckConstraint("max_concurrent_executions >= 1", name="max_concurrent_executions_min"),
        CheckConstraint("timeout_minutes IS NULL OR timeout_minutes >= 1", name="timeout_min"),
        CheckConstraint("retry_attempts BETWEEN 0 AND 10", name="retry_attempts_range"),
        CheckConstraint("version >= 1", name="version_min"),
        *performance_checks(),
    )

    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    category: Mapped[PlaybookCategory] = mapped_column(
        str_enum(PlaybookCategory, "category"), index=True
    )
    purpose: Mapped[str | None] = mapped_column(Text, default=None)
    strategy: Mapped[str | None] = mapped_column(Text, default=None)
    tags: Mapped[list[str]] = mapped_column(TrackedList.as_mutable(json_type()), default=list)
    success_criteria: Mapped[list[str]] = mapped_column(
        TrackedList.as_mutable(json_type()), default=list
    )
    status: Mapped[PlaybookStatus] = mapped_column(
        str_enum(PlaybookStatus, "status"), default=PlaybookStatus.DRAFT
    )
    is_public: Mapped[bool] = mapped_column(default=False)
    is_template: Mapped[bool] = mapped_column(default=False)
    configuration: Mapped[dict[str, Any]] = mapped_column(
        TrackedDict.as_mutable(json_type()), default=dict
    )
    input_schema: Mapped[dict[str, Any] | None] = mapped_column(
        json_type(nullable_as_sql_null=True), default=None
    )
    output_schema: Mapped[dict[str, Any] | None] = mapped_column(
        json_type(nullable_as_sql_null=True), default=None
    )
    max_concurrent_executions: Mapped[int] = mapped_column(default=1)
    # None is "no limit", and evaluates_none() stores it: the ORM leaves a None out of the
    # INSERT of a column with a default, which would turn it into 60.
    timeout_minutes: Mapped[int | None] = mapped_column(Integer().evaluates_none(), default=60)
    retry_attempts: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    parent_playbook_id: Mapped[int | None] = mapped_column(
        ForeignKey("playbooks.id", ondelete="SET NULL"), index=True, default=None
    )
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("playbook_templates.id", ondelete="SET NULL"), index=True, default=None
    )
    created_by: Mapped[str | None] = mapped_column(String(255), default=None)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    row_version: Mapped[int] = mapped_column(default=1)

    # Steps and variables are part of what a playbook *is*: load them with it, in one query
    # per collection for any number of playbooks.
    steps: Mapped[list[PlaybookStep]] = relationship(
        back_populates="playbook",
        order_by="PlaybookStep.step_order",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )
    variables: Mapped[list[PlaybookVariable]] = relationship(
        back_populates="playbook",
        order_by="PlaybookVariable.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )
    # History grows without bound: loaded only when asked for.
    executions: Mapped[list[PlaybookExecution]] = relationship(
        back_populates="playbook",
        order_by="PlaybookExecution.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    parent: Mapped[Playbook | None] = relationship(
        back_populates="children", remote_side="Playbook.id"
    )
    children: Mapped[list[Playbook]] = relationship(back_populates="parent", passive_deletes=True)
    template: Mapped[PlaybookTemplate | None] = relationship(back_populates="playbooks")
    created_by_user: Mapped[User | None] = relationship()

    # Optimistic locking: a commit based on a stale read fails instead of overwriting.
    __mapper_args__ = {"version_id_col": row_version}

    @validates("name")
    def _validate_name(self, _key: str, name: Any) -> str:
        if not isinstance(name, str):
            raise InvalidInputError(f"Playbook.name must be a string, got {type(name).__name__}")
        stripped = name.strip()
        if not stripped:
            raise InvalidInputError("Playbook.name must not be empty or blank")
        if len(stripped) > NAME_MAX_LENGTH:
            raise InvalidInputError(f"Playbook.name is longer than {NAME_MAX_LENGTH} characters")
        if (reason := path_name_problem(stripped)) is not None:
            raise InvalidInputError(f"Playbook.name {reason}")
        return stripped

    @validates("tags")
    def _validate_tags(self, _key: str, tags: Any) -> list[str]:
        if not isinstance(tags, list | tuple):
            raise InvalidInputError(f"Playbook.tags must be a list, got {type(tags).__name__}")
        try:
            return list(dict.fromkeys(_normalise_tag(tag) for tag in tags))
        except (TypeError, ValueError) as error:
            raise InvalidInputError(f"Playbook.tags: {error}") from None

    @validates("success_criteria")
    def _validate_success_criteria(self, _key: str, criteria: Any) -> list[str]:
        if not isinstance(criteria, list | tuple) or not all(isinstance(c, str) for c in criteria):
            raise InvalidInputError("Playbook.success_criteria must be a list of strings")
        stripped = [criterion.strip() for criterion in criteria]
        if not all(stripped):
            raise InvalidInputError("Playbook.success_criteria: a criterion must not be blank")
        # Normalised like add_success_criteria, so both paths agree on what a duplicate is.
        return list(dict.fromkeys(stripped))

    @validates("max_concurrent_executions", "timeout_minutes", "retry_attempts", "version")
    def _validate_limits(self, key: str, value: Any) -> Any:
        minimum = 0 if key == "retry_attempts" else 1
        if value is None and key == "timeout_minutes":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InvalidInputError(f"Playbook.{key} must be an integer >= {minimum}")
        if key == "retry_attempts" and value > 10:
            raise InvalidInputError("Playbook.retry_attempts must be between 0 and 10")
        return value

    def get_tags(self) -> list[str]:
        return list(self.tags or [])

    def add_tag(self, tag: str) -> None:
        normalised = _normalise_tag(tag)
        if normalised not in (self.tags or []):
            self.tags = [*(self.tags or []), normalised]

    def remove_tag(self, tag: str) -> None:
        normalised = _normalise_tag(tag)
        if normalised in (self.tags or []):
            self.tags = [existing for existing in self.tags if existing != normalised]

    def get_success_criteria(self) -> list[str]:
        return list(self.success_criteria or [])

    def add_success_criteria(self, text: str) -> None:
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("success criterion must be a non-empty string")
        criterion = text.strip()
        if criterion not in (self.success_criteria or []):
            self.success_criteria = [*(self.success_criteria or []), criterion]

    def _move_to(self, target: PlaybookStatus) -> None:
        check_transition(
            f"Playbook '{self.name}' (id={self.id})", PLAYBOOK_TRANSITIONS, self.status, target
        )
        self.status = target
        # Who moved it, as of now: the audit trail records it when the change is flushed.
        inspect(self).info[TRANSITION_ACTOR] = transition_actor()

    def publish(self) -> None:
        self._move_to(PlaybookStatus.PUBLISHED)
        self.published_at = utc_now()

    def archive(self) -> None:
        self._move_to(PlaybookStatus.ARCHIVED)

    @classmethod
    def record_run(
        cls, session: Session, playbook_id: int, execution_time_seconds: float, success: bool
    ) -> None:
        """Count one run in a single UPDATE: concurrent runs never overwrite each other.

        Takes a ``Session``; from asyncio, ``await agentical.db.aio.record_run(...)``.
        """
        record_run(session, cls, playbook_id, execution_time_seconds, success)

    def deprecate(self) -> None:
        self._move_to(PlaybookStatus.DEPRECATED)

    @property
    def step_count(self) -> int:
        return len(self.steps)

    @property
    def is_executable(self) -> bool:
        """Active, not retired, and with something to run (a draft may be trial-run)."""
        retired = self.status in (PlaybookStatus.ARCHIVED, PlaybookStatus.DEPRECATED)
        return bool(self.is_active) and not retired and bool(self.steps)

    def secret_variable_names(self) -> set[str]:
        return {variable.variable_name for variable in self.variables if variable.is_sensitive}

    @classmethod
    def from_definition(
        cls,
        definition: PlaybookDefinition | dict[str, Any],
        created_by: str | None = None,
        created_by_user_id: int | None = None,
    ) -> Playbook:
        """A new, unsaved playbook with the steps, dependencies and variables of a definition.

        A dict is validated first. Raises ``DefinitionError`` (a ``ValueError``) listing every
        problem, e.g. ``name: a playbook needs a name``.
        """
        from agentical.db.models.playbook.builder import build_playbook

        return build_playbook(
            definition, created_by=created_by, created_by_user_id=created_by_user_id
        )

    @classmethod
    def import_definition(
        cls,
        session: Session,
        definition: PlaybookDefinition | dict[str, Any],
        *,
        created_by: str | None = None,
        created_by_user_id: int | None = None,
        actor: str | None = None,
    ) -> Playbook:
        """Add the definition to ``session`` (flushed); a name that exists gets the next version.

        Earlier versions stay as they are. Concurrent imports of one name each get their own
        version, or ``ImportConflictError`` (retry the transaction), never an
        ``IntegrityError``. ``actor`` (or ``created_by``), else the ``acting_as`` context,
        is recorded in the audit trail. Needs ``run_sync`` under asyncio
        (``agentical.db.aio``).
        """
        from agentical.db.models.playbook.importing import import_definition

        return import_definition(
            session,
            definition,
            created_by=created_by,
            created_by_user_id=created_by_user_id,
            actor=actor,
        )

    def to_definition(self) -> PlaybookDefinition:
        """This playbook as a definition; ``Playbook.from_definition`` of it gives it back."""
        from agentical.db.models.playbook.builder import definition_of

        return definition_of(self)

    def new_execution(
        self,
        input_variables: dict[str, Any] | None = None,
        *,
        executed_by_user_id: int | None = None,
        triggered_by: str = "manual",
        idempotency_key: str | None = None,
    ) -> PlaybookExecution:
        """A pending execution with one pending step execution per step.

        Raw text inputs are coerced to their variable's type and defaults filled in; every
        unknown, missing required or invalid input is reported in one
        ``VariableValidationError``. A playbook that cannot run raises
        ``PlaybookNotExecutableError`` with the reason. The execution keeps a snapshot of the
        definition and its hash, and joins the playbook's session, if any. A repeated
        ``idempotency_key`` with the same inputs gives back the execution made with it, even
        under a race; with other inputs it raises ``IdempotencyConflictError``. A key costs
        one locking query (so under ``AsyncSession`` use ``agentical.db.aio``); without one
        nothing is sent to the database.
        For playbooks with thousands of steps, ``create_execution(session, playbook, ...)``
        writes the same rows with one bulk INSERT.
        """
        from agentical.db.models.playbook.planning import new_execution

        return new_execution(
            self,
            input_variables,
            executed_by_user_id=executed_by_user_id,
            triggered_by=triggered_by,
            idempotency_key=idempotency_key,
        )

    @classmethod
    def select_full(cls) -> Select[Playbook]:
        """``select(Playbook)`` that also loads steps, their dependency ids and variables.

        Three queries for any number of playbooks: subquery eager loading repeats the
        statement's own criteria instead of sending ``IN`` lists, which selectin loading
        splits into batches of 500 ids. Add ``where``/``order_by``/``limit`` as usual::

            session.scalars(Playbook.select_full().where(Playbook.status == "published"))

        A step's dependencies are steps of the same playbook, loaded by the steps query
        itself: so that query joins only the dependency ids, and finds the steps they name
        among its own rows, instead of a fourth query that fetched every dependency's whole
        row again (its JSON decoded again) to find it already loaded.
        """
        from agentical.db.models.playbook.step import PlaybookStep

        return select(cls).options(
            subqueryload(cls.steps).options(
                joinedload(PlaybookStep.depends_on).options(load_only(PlaybookStep.id))
            ),
            subqueryload(cls.variables),
        )
