"""The session's connection for one model's table.

A service may bind its sessions per model (``sessionmaker(binds={Base: engine})``) and
give them no default bind, so ``session.connection()`` alone cannot pick an engine. The
statements the library runs on the connection itself (``session.execute`` would autoflush
first) and its dialect checks ask for the connection of the model they concern.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, Table, inspect
from sqlalchemy.orm import Mapper, Session, SessionTransaction

from agentical.db.models.base import Base


@cache
def _mapper_of(table: Table) -> Mapper[Any]:
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return mapper
    raise LookupError(f"table {table.name} is not mapped by agentical's models")


def _mapper(model: type[Any] | Table) -> Mapper[Any]:
    return _mapper_of(model) if isinstance(model, Table) else inspect(model)


def connection_for(
    session: Session, model: type[Any] | Table, **execution_options: Any
) -> Connection:
    """The connection ``session`` uses for ``model`` (a mapped class or its table).

    Remembered for the session's transaction: a worker's claim and finish ask for it a
    dozen times, and ``session.connection()`` walks the transaction's state machine each
    time. A new transaction, or one that can no longer be used, asks the session again.
    """
    mapper = _mapper(model)
    transaction = session.get_transaction()
    if execution_options or transaction is None or not transaction.is_active:
        return session.connection(
            bind_arguments={"mapper": mapper}, execution_options=execution_options or None
        )
    remembered: tuple[SessionTransaction, dict[Mapper[Any], Connection]] | None
    remembered = session.info.get(_CONNECTIONS)
    if remembered is None or remembered[0] is not transaction:
        remembered = (transaction, {})
        session.info[_CONNECTIONS] = remembered
    connections = remembered[1]
    connection = connections.get(mapper)
    if connection is None:
        connection = connections[mapper] = session.connection(bind_arguments={"mapper": mapper})
    return connection


_CONNECTIONS = "agentical.connections"


def bind_for(session: Session, model: type[Any] | Table) -> Engine | Connection:
    """The engine (or connection) ``session`` is bound to for ``model``."""
    return session.get_bind(mapper=_mapper(model))
