"""How an invalid playbook definition is reported: every problem, each with its location.

``PlaybookDefinition.model_validate`` raises Pydantic's ``ValidationError``, whose line
errors carry the locations (``("steps", 2, "depends_on", 0)``). The entry points that read
files or template data turn it into a :class:`DefinitionError`: a ``ValueError`` holding a
list of :class:`DefinitionProblem` with locations written the way a reader finds them in a
file (``steps[2].depends_on[0]``). Neither ever shows an input value: it may be a secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from agentical.db.errors import InvalidInputError
from agentical.db.rendering import Path, format_path


class DefinitionProblem(NamedTuple):
    """One problem: where (``steps[2].depends_on[0]``, empty for the whole document) and what."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class DefinitionError(InvalidInputError):
    """A playbook definition is invalid; ``problems`` lists every reason with its location."""

    def __init__(self, problems: Sequence[DefinitionProblem], subject: str = "playbook definition"):
        self.problems = list(problems)
        self.subject = subject
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid {subject} ({count} {noun}):\n{lines}")

    @classmethod
    def from_validation_error(
        cls,
        error: ValidationError,
        *,
        prefix: Path = (),
        subject: str = "playbook definition",
    ) -> DefinitionError:
        return cls(problems_of(error, prefix=prefix), subject)


class Problem(NamedTuple):
    """A problem found by a check, before it becomes a Pydantic line error."""

    path: Path
    kind: str
    message: str


def problems_of(error: ValidationError, *, prefix: Path = ()) -> list[DefinitionProblem]:
    """The problems of a ``ValidationError``, locations as ``steps[2].name``."""
    return [
        DefinitionProblem(format_path((*prefix, *detail["loc"])), detail["msg"])
        for detail in error.errors(include_url=False, include_input=False)
    ]


def line_error(problem: Problem) -> InitErrorDetails:
    # The input is never kept: a failing default may be a secret.
    return InitErrorDetails(
        type=PydanticCustomError(problem.kind, problem.message),
        loc=problem.path,
        input=None,
    )


def _carried(detail: ErrorDetails) -> InitErrorDetails:
    # Re-raised as a custom error: its type may be one of ours, unknown to pydantic-core.
    return line_error(Problem(tuple(detail["loc"]), detail["type"], detail["msg"]))


def raise_problems(
    title: str, existing: Iterable[ErrorDetails], problems: Iterable[Problem]
) -> None:
    """Raise one ``ValidationError`` with Pydantic's own errors plus ``problems``, if any."""
    details = [*map(_carried, existing), *map(line_error, problems)]
    if details:
        raise ValidationError.from_exception_data(title, details, hide_input=True)
