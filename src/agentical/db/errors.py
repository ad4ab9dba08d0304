"""Errors of the playbook data layer. Both are ``ValueError`` so callers can catch either."""

from __future__ import annotations


class InvalidTransitionError(ValueError):
    """A lifecycle method was called from a state that does not allow it."""

    def __init__(self, subject: str, current: str, target: str, allowed: list[str]) -> None:
        self.subject = subject
        self.current = current
        self.target = target
        self.allowed = allowed
        expected = ", ".join(allowed) if allowed else "none (final state)"
        super().__init__(
            f"{subject}: cannot move from '{current}' to '{target}'; "
            f"allowed from '{current}': {expected}"
        )


class VariableValidationError(ValueError):
    """A variable value (or a set of input values) failed its type or constraints.

    ``errors`` maps each variable name to its reasons. The offending value itself is never
    part of the message: it may be a secret.
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        parts = [f"variable '{name}': {'; '.join(reasons)}" for name, reasons in errors.items()]
        super().__init__("; ".join(parts))


class ConcurrencyLimitError(ValueError):
    """A playbook already has as many executions in flight as it allows."""

    def __init__(self, playbook_id: int, limit: int, active: int) -> None:
        self.playbook_id = playbook_id
        self.limit = limit
        self.active = active
        super().__init__(
            f"Playbook id={playbook_id}: {active} execution(s) already running or paused; "
            f"max_concurrent_executions is {limit}"
        )
