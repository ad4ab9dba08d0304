"""Errors of the playbook data layer, in four families a service can map one-to-one.

- ``InvalidInputError`` (HTTP 422): the caller's data is wrong; nothing was stored.
- ``ConflictError`` (409): the data is fine but the state moved (a transition not allowed
  now, a lease taken over, an idempotency key reused with other inputs, a playbook that
  cannot run now, an import that lost a race for its version).
- ``LimitReachedError`` (429): a limit holds (a playbook's concurrent executions).
- ``NotFoundError`` (404): the thing named does not exist.

All derive from ``AgenticalError``. The contract's errors also stay ``ValueError`` (and a
not-found is a ``LookupError``), so callers that caught those keep working.
"""

from __future__ import annotations


class AgenticalError(Exception):
    """Base class of every error the library raises on purpose."""


class InvalidInputError(AgenticalError, ValueError):
    """Bad input: the message names the field and the reason (never a secret value)."""


class ConflictError(AgenticalError):
    """The stored state does not allow this now; reload and decide again."""


class LimitReachedError(AgenticalError):
    """A configured limit is reached; retry later."""


class NotFoundError(AgenticalError, LookupError):
    """No such row."""


class InvalidTransitionError(ConflictError, ValueError):
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


class VariableValidationError(InvalidInputError):
    """A variable value (or a set of input values) failed its type or constraints.

    ``errors`` maps each variable name to its reasons. The offending value itself is never
    part of the message: it may be a secret.
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        parts = [f"variable '{name}': {'; '.join(reasons)}" for name, reasons in errors.items()]
        super().__init__("; ".join(parts))


class ConcurrencyLimitError(LimitReachedError, ValueError):
    """A playbook already has as many executions in flight as it allows."""

    def __init__(self, playbook_id: int, limit: int, active: int) -> None:
        self.playbook_id = playbook_id
        self.limit = limit
        self.active = active
        super().__init__(
            f"Playbook id={playbook_id}: {active} execution(s) already running or paused; "
            f"max_concurrent_executions is {limit}"
        )


class IdempotencyConflictError(ConflictError):
    """An idempotency key was reused with other inputs than the execution made with it.

    Replaying a request returns its execution; a different request under the same key is
    a caller's bug that must not pass for a replay. Names the differing variables only.
    """

    def __init__(self, key: str, execution_id: str, differing: list[str]) -> None:
        self.key = key
        self.execution_id = execution_id
        self.differing = differing
        super().__init__(
            f"idempotency_key {key!r} was used for execution {execution_id} with other "
            f"inputs (differing: {', '.join(differing)}); use a new key for a new request"
        )


class ImportConflictError(ConflictError):
    """Concurrent imports of one name kept taking the next version; retry the transaction."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"import of playbook '{name}': {reason}; retry the transaction")


class LeaseLostError(ConflictError):
    """A worker acted on a step run it no longer holds: its lease was taken over, it
    expired, or the run was cancelled. Nothing was changed; drop the work."""

    def __init__(self, step_name: str, step_run_id: int | None, token: int, reason: str) -> None:
        self.step_name = step_name
        self.step_run_id = step_run_id
        self.token = token
        self.reason = reason
        super().__init__(
            f"PlaybookStepExecution '{step_name}' (id={step_run_id}), attempt {token}: "
            f"lease lost: {reason}"
        )
