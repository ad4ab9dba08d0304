"""``PlaybookTemplate``: a reusable playbook definition that instantiates playbooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from agentical.db.enums import PlaybookCategory
from agentical.db.errors import InvalidInputError
from agentical.db.limits import name_problem, path_name_problem
from agentical.db.models.base import BaseModel, table_args
from agentical.db.models.json_tracking import TrackedDict
from agentical.db.models.mixins import PerformanceMixin, performance_checks
from agentical.db.models.playbook.builder import build_playbook
from agentical.db.models.playbook.counters import increment
from agentical.db.observability import lifecycle_event
from agentical.db.schemas.definition import PlaybookDefinition
from agentical.db.schemas.definition_io import validate_definition
from agentical.db.schemas.playbook import PlaybookTemplateRead
from agentical.db.types import json_type, str_enum

if TYPE_CHECKING:
    from agentical.db.models.playbook.playbook import Playbook


class PlaybookTemplate(PerformanceMixin, BaseModel):
    __tablename__ = "playbook_templates"
    __read_schema__ = PlaybookTemplateRead
    __table_args__ = table_args(
        UniqueConstraint("name", "version"),
        CheckConstraint("usage_count >= 0", name="usage_count_non_negative"),
        *performance_checks(),
    )

    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    category: Mapped[PlaybookCategory] = mapped_column(str_enum(PlaybookCategory, "category"))
    version: Mapped[str] = mapped_column(String(50), default="1.0.0")
    template_data: Mapped[dict[str, Any]] = mapped_column(
        TrackedDict.as_mutable(json_type()), default=dict
    )
    created_by: Mapped[str | None] = mapped_column(String(255), default=None)
    usage_count: Mapped[int] = mapped_column(default=0)
    is_public: Mapped[bool] = mapped_column(default=True)

    playbooks: Mapped[list[Playbook]] = relationship(
        back_populates="template", passive_deletes=True
    )

    def _subject(self) -> str:
        name = self.__dict__.get("name")
        return "template data" if name is None else f"template data of '{name}'"

    @validates("name", "version")
    def _validate_name(self, key: str, name: Any) -> Any:
        """A name read in terminals and reviews: no invisible or control character; the
        name is also part of URL paths (``/templates/{name}``): no ``/``."""
        problem = path_name_problem if key == "name" else name_problem
        if isinstance(name, str) and (reason := problem(name)) is not None:
            raise InvalidInputError(f"PlaybookTemplate.{key} {reason}")
        return name

    @validates("template_data")
    def _validate_template_data(self, _key: str, data: Any) -> dict[str, Any]:
        """Refuse an invalid definition when assigned; the error names the field."""
        if isinstance(data, PlaybookDefinition):
            return data.to_document(redact=False)
        validate_definition(data, subject=self._subject(), prefix=("template_data",))
        return dict(data)

    def definition(self) -> PlaybookDefinition:
        """``template_data`` as a validated definition.

        Raises ``DefinitionError`` whose problems are located under ``template_data``
        (``template_data.steps[1].depends_on[0]: unknown step 'x'``).
        """
        return validate_definition(
            dict(self.template_data or {}), subject=self._subject(), prefix=("template_data",)
        )

    @classmethod
    def from_playbook(
        cls,
        playbook: Playbook,
        name: str,
        version: str,
        *,
        created_by: str | None = None,
    ) -> PlaybookTemplate:
        """A new, unsaved template holding ``playbook``'s definition.

        The playbook's name is not part of the template data (each ``create_playbook``
        names its playbook), and sensitive defaults are left out: templates are shared.
        """
        document = playbook.to_definition().to_document(redact=False)
        document.pop("name", None)
        for variable in document.get("variables", []):
            if variable.get("sensitive"):
                variable.pop("default", None)
        return cls(
            name=name,
            version=version,
            category=playbook.category,
            description=playbook.description,
            template_data=document,
            created_by=playbook.created_by if created_by is None else created_by,
        )

    def create_playbook(
        self, name: str, created_by: str | None = None, **overrides: Any
    ) -> Playbook:
        """A new playbook built from this template; the caller adds it to a session."""
        playbook = build_playbook(
            self.definition(),
            name=name,
            category=overrides.pop("category", self.category),
            created_by=created_by,
            **overrides,
        )
        playbook.template = self
        increment(self, "usage_count")
        lifecycle_event(
            "template.instantiated",
            template_id=self.id,
            template_name=self.name,
            template_version=self.version,
            playbook_name=playbook.name,
        )
        return playbook
