"""``PlaybookVariable``: a typed input, output or internal value of a playbook."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from agentical.db.encryption import SealedJSON
from agentical.db.enums import VariableScope, VariableType
from agentical.db.errors import InvalidInputError, VariableValidationError
from agentical.db.models.base import BaseModel, table_args
from agentical.db.models.json_tracking import TrackedList
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.patterns import pattern_error
from agentical.db.schemas.definition_checks import quoted
from agentical.db.schemas.playbook import PlaybookVariableRead
from agentical.db.types import json_type, str_enum
from agentical.db.variables import (
    IDENTIFIER,
    VariableSpec,
    coerce_text,
    normalise,
    validation_errors,
)

VARIABLE_NAME_MAX_LENGTH = 100


class PlaybookVariable(BaseModel):
    __tablename__ = "playbook_variables"
    __read_schema__ = PlaybookVariableRead
    __table_args__ = table_args(
        UniqueConstraint("playbook_id", "variable_name"),
        CheckConstraint(
            "min_value IS NULL OR max_value IS NULL OR min_value <= max_value",
            name="value_range",
        ),
        CheckConstraint(
            "min_length IS NULL OR max_length IS NULL OR min_length <= max_length",
            name="length_range",
        ),
        CheckConstraint("min_length IS NULL OR min_length >= 0", name="min_length_non_negative"),
    )

    playbook_id: Mapped[int] = mapped_column(ForeignKey("playbooks.id", ondelete="CASCADE"))
    variable_name: Mapped[str] = mapped_column(String(VARIABLE_NAME_MAX_LENGTH))
    display_name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    variable_type: Mapped[VariableType] = mapped_column(
        str_enum(VariableType, "variable_type"), default=VariableType.STRING
    )
    scope: Mapped[VariableScope] = mapped_column(
        str_enum(VariableScope, "scope"), default=VariableScope.INPUT
    )
    is_required: Mapped[bool] = mapped_column(default=False)
    is_sensitive: Mapped[bool] = mapped_column(default=False)
    # SealedJSON: encrypted at rest when sensitive and a key is set (models/playbook/sealing).
    default_value: Mapped[Any | None] = mapped_column(
        SealedJSON(none_as_null=True), nullable=True, default=None
    )
    current_value: Mapped[Any | None] = mapped_column(
        SealedJSON(none_as_null=True), nullable=True, default=None
    )
    min_value: Mapped[float | None] = mapped_column(Float, default=None)
    max_value: Mapped[float | None] = mapped_column(Float, default=None)
    min_length: Mapped[int | None] = mapped_column(default=None)
    max_length: Mapped[int | None] = mapped_column(default=None)
    pattern: Mapped[str | None] = mapped_column(String(500), default=None)
    enum_values: Mapped[list[Any]] = mapped_column(
        TrackedList.as_mutable(json_type()), default=list
    )

    playbook: Mapped[Playbook] = relationship(back_populates="variables")

    @validates("variable_name")
    def _validate_variable_name(self, _key: str, name: Any) -> str:
        if (
            not isinstance(name, str)
            or not IDENTIFIER.match(name)
            or len(name) > VARIABLE_NAME_MAX_LENGTH
        ):
            raise InvalidInputError(
                "PlaybookVariable.variable_name must be a Python-style identifier "
                f"(letters, digits, '_', not starting with a digit, at most "
                f"{VARIABLE_NAME_MAX_LENGTH} characters)"
            )
        return name

    @validates("pattern")
    def _validate_pattern(self, _key: str, pattern: Any) -> str | None:
        if pattern is None:
            return None
        reason = pattern_error(pattern) if isinstance(pattern, str) else "not a string"
        if reason is not None:
            raise InvalidInputError(
                f"PlaybookVariable.pattern of '{self.variable_name}' is not a valid "
                f"regular expression (RE2): {reason}"
            )
        return str(pattern)

    @validates("enum_values")
    def _validate_enum_values(self, _key: str, values: Any) -> list[Any]:
        if not isinstance(values, list | tuple):
            raise InvalidInputError(
                f"PlaybookVariable.enum_values of '{self.variable_name}' must be a list"
            )
        return list(values)

    def spec(self) -> VariableSpec:
        """The variable's type and constraints as plain data."""
        return VariableSpec(
            name=self.variable_name,
            variable_type=VariableType(self.variable_type or VariableType.STRING),
            is_required=bool(self.is_required),
            min_value=self.min_value,
            max_value=self.max_value,
            min_length=self.min_length,
            max_length=self.max_length,
            pattern=self.pattern,
            enum_values=tuple(self.enum_values or ()),
        )

    def get_enum_values(self) -> list[Any]:
        return list(self.enum_values or [])

    def validation_errors(self, value: Any) -> list[str]:
        return validation_errors(self.spec(), value)

    def validate_value(self, value: Any) -> bool:
        try:
            return not self.validation_errors(value)
        except Exception:  # the contract: a verdict for any input, never an exception
            return False

    def coerce(self, raw: Any) -> Any:
        """The typed value for raw text (a form field, ``--var key=value``)."""
        try:
            spec = self.spec()
            return coerce_text(spec.variable_type, raw, spec.enum_values)
        except ValueError as error:
            raise VariableValidationError(
                {self.variable_name: [str(error)]}, self.shown(raw)
            ) from None

    def shown(self, value: Any) -> dict[str, str]:
        """How a message may quote ``value``: not at all when the variable is sensitive."""
        return {} if self.is_sensitive else {self.variable_name: quoted(value)}

    def set_value(self, value: Any) -> None:
        reasons = self.validation_errors(value)
        if reasons:
            raise VariableValidationError({self.variable_name: reasons}, self.shown(value))
        self.current_value = normalise(self.spec(), value)

    def get_value(self) -> Any:
        return self.current_value if self.current_value is not None else self.default_value

    def reset_to_default(self) -> None:
        self.current_value = self.default_value
