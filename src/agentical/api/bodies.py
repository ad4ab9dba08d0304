"""Request bodies: closed schemas (``extra="forbid"``), so a misspelt field is a 422 that
names it rather than a value silently ignored."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from agentical.db.models.playbook.step_execution import PERSON_MAX_LENGTH

Person = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=PERSON_MAX_LENGTH)
]
Text = Annotated[str, StringConstraints(max_length=65_535)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActingBody(Body):
    by: Person | None = Field(
        default=None,
        description="Who acts, when the service's actor dependency names nobody.",
    )


class ExecutionCreate(Body):
    inputs: dict[str, Any] = Field(default_factory=dict, description="Input variables.")
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The playbook's version (default: latest)."
    )
    start: bool = Field(default=True, description="Start the execution once it is created.")
    by: Person | None = Field(default=None, description="Who starts it (see ActingBody.by).")


class CancelBody(Body):
    reason: Text | None = None


class ApproveBody(ActingBody):
    comment: Text | None = None


class RejectBody(ActingBody):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=65_535)]


class CompleteBody(ActingBody):
    output: dict[str, Any] | None = None


class TemplateCreate(Body):
    playbook: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    playbook_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    version: Annotated[str, StringConstraints(min_length=1, max_length=50)] = "1.0.0"


class TemplateInstantiate(ActingBody):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="The new playbook's name."
    )
