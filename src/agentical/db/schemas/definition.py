"""A whole playbook as one validated document: steps, dependencies and variables.

The file format uses short keys (``name``, ``order``, ``type``, ``optional`` for steps;
``name``, ``type``, ``options``, ``default``, ``required``, ``sensitive`` for variables);
the long attribute names (``step_name``, ``enum_values``...) are accepted too. Validation
reports every problem at once, each at its location (see ``definition_errors``), and a
valid document is normalised: steps in order, every order filled in, dependencies in step
order, tags lower-case, defaults in their stored form.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from pydantic import (
    AliasChoices,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SerializationInfo,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from agentical.db.enums import PlaybookCategory, StepType, VariableScope, VariableType
from agentical.db.limits import INT_COLUMN_MAX, name_problem, path_name_problem
from agentical.db.plan import DEFAULT_PLAYBOOK_TIMEOUT_MINUTES, DEFAULT_RETRY_DELAY_SECONDS
from agentical.db.schemas.common import REVEAL_SECRETS, MaskedRepr, reveals_secrets
from agentical.db.schemas.definition_checks import (
    REDACTED,
    StepFacts,
    limit_problems,
    raw_step_facts,
    raw_variable_name,
    structure_problems,
    variable_problems,
)
from agentical.db.schemas.definition_errors import raise_problems
from agentical.db.schemas.yaml_format import dump_json, dump_yaml
from agentical.db.variables import VariableSpec, normalise

STEP_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"


def _key(short: str, long: str, description: str | None = None) -> Any:
    """Field settings for an attribute the file spells ``short`` (``long`` accepted too)."""
    return {
        "validation_alias": AliasChoices(short, long),
        "serialization_alias": short,
        "description": description,
    }


class _Document(MaskedRepr):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, hide_input_in_errors=True)


def _count(description: str | None = None, *, minimum: int = 0) -> Any:
    """An integer stored in an ``INTEGER`` column: within the databases' range."""
    return {"ge": minimum, "le": INT_COLUMN_MAX, "description": description}


def _checked_name(
    name: str | None, problem: Callable[[str], str | None] = name_problem
) -> str | None:
    """A name a reader sees (in a terminal, a review): no invisible or control character."""
    if name is not None and (reason := problem(name)) is not None:
        raise PydanticCustomError("invalid_name_character", "the name {reason}", {"reason": reason})
    return name


class StepDefinition(_Document):
    """One step. ``depends_on`` names other steps of the same playbook."""

    step_name: str = Field(
        min_length=1,
        max_length=100,
        pattern=STEP_NAME_PATTERN,
        **_key("name", "step_name", "Identifier, unique within the playbook"),
    )
    display_name: str | None = None
    step_order: int | None = Field(
        None,
        ge=1,
        le=INT_COLUMN_MAX,
        **_key("order", "step_order", "Position (>= 1); the list position if absent"),
    )
    step_type: StepType = Field(StepType.MANUAL, **_key("type", "step_type"))
    description: str | None = None
    depends_on: list[str] = Field(
        default_factory=list, description="Names of the steps that must finish first"
    )
    instructions: str | None = None
    automation_script: str | None = None
    agent_type: str | None = Field(None, max_length=100)
    tool_name: str | None = Field(None, max_length=100)
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Values for the step; strings may hold {{ variable }} and "
        "{{ steps.<step>.output.<key> }} placeholders",
    )
    conditions: dict[str, Any] = Field(default_factory=dict)
    configuration: dict[str, Any] = Field(default_factory=dict)
    verification_method: str | None = Field(None, max_length=255)
    verification_criteria: dict[str, Any] = Field(default_factory=dict)
    success_indicators: list[Any] = Field(default_factory=list)
    estimated_duration_minutes: int | None = Field(None, **_count())
    timeout_minutes: int | None = Field(None, **_count(minimum=1))
    retry_attempts: int = Field(0, ge=0, le=10)
    retry_delay_seconds: int = Field(DEFAULT_RETRY_DELAY_SECONDS, **_count())
    is_optional: bool = Field(
        False, **_key("optional", "is_optional", "A failure does not block dependants")
    )
    is_manual: bool = False

    _display_name = field_validator("display_name")(_checked_name)

    @property
    def order(self) -> int:
        """The step's order; always set once the whole definition is validated."""
        if self.step_order is None:
            raise ValueError(f"step '{self.step_name}' has no order outside a definition")
        return self.step_order


class VariableDefinition(_Document):
    """One typed variable; a default must satisfy the variable's own type and constraints."""

    variable_name: str = Field(
        min_length=1, max_length=100, **_key("name", "variable_name", "A Python identifier")
    )
    display_name: str | None = None
    description: str | None = None
    variable_type: VariableType = Field(VariableType.STRING, **_key("type", "variable_type"))
    scope: VariableScope = VariableScope.INPUT
    is_required: bool = Field(False, **_key("required", "is_required"))
    is_sensitive: bool = Field(
        False, **_key("sensitive", "is_sensitive", "Never shown, logged or exported")
    )
    default_value: Any = Field(None, **_key("default", "default_value"))
    min_value: float | None = Field(None, allow_inf_nan=False)
    max_value: float | None = Field(None, allow_inf_nan=False)
    min_length: int | None = Field(None, **_count())
    max_length: int | None = Field(None, **_count())
    pattern: str | None = Field(None, max_length=500, description="A regular expression")
    enum_values: list[Any] = Field(
        default_factory=list,
        **_key("options", "enum_values", "The choices of a select or multi_select"),
    )

    _display_name = field_validator("display_name")(_checked_name)

    @model_validator(mode="after")
    def _check_constraints(self) -> VariableDefinition:
        problems = variable_problems(self.spec(), self.default_value, sensitive=self.is_sensitive)
        raise_problems(type(self).__name__, [], problems)
        self.default_value = normalise(self.spec(), self.default_value)
        return self

    @field_serializer("default_value")
    def _mask_sensitive_default(self, value: Any, info: SerializationInfo) -> Any:
        """Every dump masks a sensitive default unless the caller asks, by name, to see it
        (``context={"reveal_secrets": True}``)."""
        if self.is_sensitive and value is not None and not reveals_secrets(info):
            return REDACTED
        return value

    def spec(self) -> VariableSpec:
        return VariableSpec(
            name=self.variable_name,
            variable_type=self.variable_type,
            is_required=self.is_required,
            min_value=self.min_value,
            max_value=self.max_value,
            min_length=self.min_length,
            max_length=self.max_length,
            pattern=self.pattern,
            enum_values=tuple(self.enum_values),
        )


def _normalise_tag(tag: str) -> str:
    normalised = tag.strip().lower()
    if not normalised:
        raise PydanticCustomError("blank_tag", "tags must not be blank")
    if (reason := name_problem(normalised)) is not None:
        raise PydanticCustomError("invalid_name_character", "a tag {reason}", {"reason": reason})
    return normalised


class PlaybookDefinition(_Document):
    """A playbook as a document (a YAML or JSON file, template data, a snapshot)."""

    model_config = ConfigDict(
        title="Playbook definition",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    name: str | None = Field(None, max_length=255, description="Required to import a playbook")
    description: str | None = None
    category: PlaybookCategory | None = Field(None, description="Required to import a playbook")
    purpose: str | None = None
    strategy: str | None = None
    tags: list[str] = Field(default_factory=list)
    success_criteria: list[str] = Field(default_factory=list)
    configuration: dict[str, Any] = Field(default_factory=dict)
    timeout_minutes: int | None = Field(DEFAULT_PLAYBOOK_TIMEOUT_MINUTES, **_count(minimum=1))
    retry_attempts: int = Field(0, ge=0, le=10)
    max_concurrent_executions: int = Field(1, **_count(minimum=1))
    steps: list[StepDefinition] = Field(default_factory=list)
    variables: list[VariableDefinition] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, name: str | None) -> str | None:
        if name is not None and not name.strip():
            raise PydanticCustomError("blank_name", "name must not be blank")
        return _checked_name(None if name is None else name.strip(), path_name_problem)

    @field_validator("tags")
    @classmethod
    def _normalise_tags(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(_normalise_tag(tag) for tag in tags))

    @field_validator("success_criteria")
    @classmethod
    def _dedupe_criteria(cls, criteria: list[str]) -> list[str]:
        return list(dict.fromkeys(criteria))

    @model_validator(mode="wrap")
    @classmethod
    def _check_whole(
        cls, data: Any, handler: ModelWrapValidatorHandler[PlaybookDefinition]
    ) -> PlaybookDefinition:
        """Field errors and cross-field problems, all in one ``ValidationError``.

        The limits are checked first, on the raw data: a document over them is refused
        before Pydantic or any cross-field check walks it.
        """
        raise_problems(cls.__name__, [], limit_problems(data))
        try:
            definition = handler(data)
        except ValidationError as error:
            raw = data if isinstance(data, dict) else {}
            raw_steps = raw.get("steps")
            raw_variables = raw.get("variables")
            steps = [
                raw_step_facts(index, step)
                for index, step in enumerate(raw_steps if isinstance(raw_steps, list) else [])
            ]
            names = [
                raw_variable_name(variable)
                for variable in (raw_variables if isinstance(raw_variables, list) else [])
            ]
            raise_problems(cls.__name__, error.errors(), structure_problems(steps, names))
            raise
        steps = [
            StepFacts(
                index,
                step.step_name,
                index + 1 if step.step_order is None else step.step_order,
                tuple(step.depends_on),
                step.parameters,
                step.conditions,
            )
            for index, step in enumerate(definition.steps)
        ]
        names = [variable.variable_name for variable in definition.variables]
        raise_problems(cls.__name__, [], structure_problems(steps, names))
        definition._normalise()
        return definition

    def _normalise(self) -> None:
        for index, step in enumerate(self.steps):
            if step.step_order is None:
                step.step_order = index + 1
        self.steps = sorted(self.steps, key=lambda step: step.order)
        position = {step.step_name: step.order for step in self.steps}
        for step in self.steps:
            step.depends_on = sorted(dict.fromkeys(step.depends_on), key=position.__getitem__)

    def ordered_steps(self) -> list[tuple[int, StepDefinition]]:
        """Each step with its order, in order."""
        return [(step.order, step) for step in self.steps]

    def step(self, name: str) -> StepDefinition:
        """The step called ``name`` (``KeyError`` if there is none)."""
        for step in self.steps:
            if step.step_name == name:
                return step
        raise KeyError(name)

    def to_document(self, *, redact: bool = True) -> dict[str, Any]:
        """The definition as a JSON-ready dict in file form: short keys, defaults left out.

        Keys come in a fixed order: the fields' order, and sorted keys inside free-form
        dicts (parameters, configuration...), so an export does not depend on the database
        it was read from (PostgreSQL's JSONB reorders keys). With ``redact`` (the default),
        sensitive defaults become ``REDACTED``.
        """
        document: dict[str, Any] = self.model_dump(
            mode="json",
            by_alias=True,
            exclude_defaults=True,
            context={REVEAL_SECRETS: not redact},
        )
        _sort_free_dicts(document, ("configuration",))
        for step in document.get("steps", []):
            _sort_free_dicts(step, _STEP_FREE_DICTS)
        for exported in document.get("variables", []):
            _sort_free_dicts(exported, ("default",))
        return document

    def to_yaml(self) -> str:
        """Deterministic YAML: the same definition always gives the same text."""
        return dump_yaml(self.to_document())

    def to_json(self) -> str:
        """Deterministic, indented JSON with the same keys and order as ``to_yaml``."""
        return dump_json(self.to_document())

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of the (redacted) document."""
        return document_hash(self.to_document())


_STEP_FREE_DICTS = ("parameters", "conditions", "configuration", "verification_criteria")


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


def _sort_free_dicts(document: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in document:
            document[key] = _sorted_keys(document[key])


def document_hash(document: dict[str, Any]) -> str:
    """SHA-256 hex digest of a document's canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
