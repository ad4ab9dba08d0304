"""Which handler runs a claimed step: by its name first, else by its type.

A worker is given one mapping of step types and step names to callables. Keys equal to a
step type's value are types (``StepType`` is a ``StrEnum``: ``"automated"`` and
``StepType.AUTOMATED`` are one key); every other key is a step name. The same table says
what the worker claims, so it never takes a step it has no handler for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentical.db.enums import StepType
from agentical.db.plan import PERSON_STEP_TYPES

Handler = Callable[[dict[str, Any]], Mapping[str, Any] | None]


class StepFailed(Exception):
    """Raised by a handler to fail its step for good, without the attempts it has left:
    for errors a retry cannot fix (bad input, a refused request). Any other exception
    fails the attempt and the step's retries apply."""


@dataclass(frozen=True)
class HandlerTable:
    by_type: Mapping[StepType, Handler]
    by_name: Mapping[str, Handler]

    @classmethod
    def of(cls, handlers: Mapping[StepType | str, Handler]) -> HandlerTable:
        if not isinstance(handlers, Mapping) or not handlers:
            raise ValueError("handlers must map step types or step names to callables")
        by_type: dict[StepType, Handler] = {}
        by_name: dict[str, Handler] = {}
        for key, handler in handlers.items():
            if not callable(handler):
                raise ValueError(f"handlers['{key}'] is not callable")
            if not isinstance(key, str) or not key.strip():
                raise ValueError("handler keys must be step types or step names")
            if key in StepType.__members__.values():
                step_type = StepType(key)
                if step_type in PERSON_STEP_TYPES:
                    raise ValueError(
                        f"handlers: {step_type} steps are finished by people, not workers"
                    )
                by_type[step_type] = handler
            else:
                by_name[key] = handler
        return cls(by_type, by_name)

    def for_step(self, step_name: str, step_type: StepType) -> Handler | None:
        """The handler of a step: the one for its name wins over the one for its type."""
        return self.by_name.get(step_name) or self.by_type.get(step_type)

    def claim_scope(self) -> dict[str, Any]:
        """The ``claim_ready_steps`` arguments that hand out only steps with a handler."""
        return {"step_types": sorted(self.by_type), "step_names": sorted(self.by_name)}
