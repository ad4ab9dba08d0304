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


def instrument(*engines: Engine | AsyncEngine) -> bool:
    """Trace every query of ``engines`` with Logfire.

    OpenTelemetry's SQLAlchemy instrumentation is switched on once per process: call this
    once, with the engines made so far. Engines made afterwards through
    ``sqlalchemy.create_engine`` (which ``agentical.db.session`` calls) are traced too.
    Returns ``False`` and does nothing when the full SDK or its SQLAlchemy integration
    (extra ``logfire``) is not installed, or when the instrumentation is already on.
    Configuring Logfire stays the application's job; until it does, spans go nowhere.
    """
    try:
        import logfire
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    except ImportError:
        return False
    if SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry:
        return False
    # The instrumentor declares SQLAlchemy < 2.1 although it works with 2.1.
    logfire.instrument_sqlalchemy(engines=engines, skip_dep_check=True)
    return True
