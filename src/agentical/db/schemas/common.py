"""Pieces shared by the read schemas."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, FieldSerializationInfo, SerializationInfo

SECRET_MASK = "********"
REVEAL_SECRETS = "reveal_secrets"
"""The serialisation context key that shows sensitive values: the only way to see one."""


def reveals_secrets(info: SerializationInfo | FieldSerializationInfo) -> bool:
    """Whether this dump was asked, by name, to show sensitive values
    (``model_dump(context={"reveal_secrets": True})``). Masking is the default."""
    context = info.context
    return isinstance(context, dict) and context.get(REVEAL_SECRETS) is True


class MaskedRepr(BaseModel):
    """``repr()`` and ``str()`` show what ``model_dump()`` shows: sensitive values masked."""

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        shown = self.model_dump()
        for key, _value in super().__repr_args__():
            yield key, shown.get(key) if key is not None else _value


class ORMRead(MaskedRepr):
    """Columns every table has; read straight from ORM attributes."""

    model_config = ConfigDict(from_attributes=True)

    id: int | None
    uuid: uuid.UUID | None
    created_at: datetime | None
    updated_at: datetime | None
    is_active: bool | None


def mask_secrets(values: dict[str, Any] | None, secret_names: Any) -> dict[str, Any]:
    """``values`` with every key named in ``secret_names`` replaced by the mask."""
    names = set(secret_names or ())
    return {key: SECRET_MASK if key in names else value for key, value in (values or {}).items()}


_SENSITIVE_KEYS = ("sensitive", "is_sensitive")
_VALUE_KEYS = ("default", "default_value", "current_value")


def mask_definition_secrets(document: dict[str, Any]) -> dict[str, Any]:
    """A playbook definition (template data) whose sensitive variables show only the mask.

    Definitions accept short and long keys alike, so both spellings are masked.
    """
    variables = document.get("variables")
    if not isinstance(variables, list):
        return document
    masked = []
    for variable in variables:
        secret = isinstance(variable, dict) and any(variable.get(k) for k in _SENSITIVE_KEYS)
        if secret:
            variable = {
                key: SECRET_MASK if key in _VALUE_KEYS and value is not None else value
                for key, value in variable.items()
            }
        masked.append(variable)
    return {**document, "variables": masked}


def definition_secret_names(document: Any) -> set[str] | None:
    """Names of the sensitive variables a definition document (an execution's snapshot)
    declares, in either spelling; ``None`` when it is not a document with variables."""
    variables = document.get("variables") if isinstance(document, dict) else None
    if not isinstance(variables, list):
        return None
    return {
        str(variable.get("name", variable.get("variable_name")))
        for variable in variables
        if isinstance(variable, dict) and any(variable.get(k) for k in _SENSITIVE_KEYS)
    }


def execution_secret_names(
    snapshot_names: set[str] | None, live_names: set[str] | None
) -> set[str] | None:
    """The secrets of an execution: sensitive in the definition it follows (its snapshot)
    or in its live playbook now. Un-marking or deleting a variable later never reveals
    what earlier runs were given as a secret; marking one later hides it in them too.
    ``None`` when neither is known (then a reader masks every value)."""
    if snapshot_names is None or live_names is None:
        return live_names if snapshot_names is None else snapshot_names
    return snapshot_names | live_names
