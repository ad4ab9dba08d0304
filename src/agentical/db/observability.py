"""Logfire events for lifecycle changes, through ``logfire-api``.

``logfire-api`` is a no-op shim until the application configures the full SDK: the library
never configures anything itself. Attributes are ids, names, states and durations, never
variable values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import logfire_api

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

_logfire = logfire_api.with_settings(custom_scope_suffix="playbooks", tags=["agentical"])


# Moves named for what happened rather than the state reached; others: after the new state.
_TRANSITION_EVENTS = {("pending", "running"): "started", ("paused", "running"): "resumed"}


def transition_event(kind: str, previous: str, target: str) -> str:
    """The event name of a move between states: ``execution.started``, ``step.failed``..."""
    return f"{kind}.{_TRANSITION_EVENTS.get((str(previous), str(target)), str(target))}"


def lifecycle_event(event: str, **attributes: Any) -> None:
    """Record one lifecycle event (``execution.started``...) as a Logfire log."""
    present = {key: value for key, value in attributes.items() if value is not None}
    _logfire.info(event, **present)


def instrument(engine: Engine | AsyncEngine) -> bool:
    """Trace every query of ``engine`` with Logfire; ``False`` (and nothing done) when the
    full SDK with its SQLAlchemy integration (extra ``logfire``) is not installed.

    The application still calls ``logfire.configure()``; until it does, spans go nowhere.
    """
    try:
        import logfire
    except ImportError:
        return False
    try:
        # The instrumentor declares SQLAlchemy < 2.1 although it works with 2.1.
        logfire.instrument_sqlalchemy(engine=engine, skip_dep_check=True)
    except RuntimeError:  # logfire without opentelemetry-instrumentation-sqlalchemy
        return False
    return True
