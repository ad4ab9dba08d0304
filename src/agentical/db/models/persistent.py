"""ORM instances from the rows of a Core statement, as a query would have returned them.

A worker's claim is one ``UPDATE ... RETURNING`` (MariaDB: one locking ``SELECT``) per
step, the hot path of every deployment. Loaded through the ORM
(``select(Model).from_statement(...)``), SQLAlchemy builds its loader's row processor for
every column at every execution, because it keeps the column getters only for statements
it compiled itself: on SQLite that was a quarter of a claim's time (about 95 of 355 µs).
Here the statement runs on Core, whose result rows are already converted by the columns'
types, and each row becomes an instance through the ORM's public calls.

The instance is what a query would have returned: persistent in the session, its JSON
values tracking in-place changes (the ``load`` event, fired as ``Session.merge`` fires it,
with no query context), its relationships loading on first access; an instance the session
already holds is refreshed in place, as ``populate_existing`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Column, inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value

M = TypeVar("M")


@cache
def _layout(mapper: Mapper[Any]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Attribute keys in the table's column order, and where the primary key sits."""
    columns = list(mapper.local_table.c)
    keys = tuple(mapper.get_property_by_column(column).key for column in columns)
    position = {id(column): index for index, column in enumerate(columns)}
    primary_key = tuple(position[id(column)] for column in mapper.primary_key)
    return keys, primary_key


def row_columns(model: type[Any]) -> list[Column[Any]]:
    """The columns a statement must return, in this order, for ``persistent_from_row``."""
    return list(inspect(model).local_table.c)


def persistent_from_row(session: Session, model: type[M], values: Sequence[Any]) -> M:
    """The instance of ``model`` whose row is ``values`` (``row_columns`` order, converted by
    the columns' types), persistent in ``session``.

    Held by the session already: refreshed in place with ``values`` (its unflushed changes
    are replaced, as ``populate_existing`` replaces them). Otherwise a new instance, as a
    query would have made it.
    """
    mapper: Mapper[M] = inspect(model)
    keys, primary_key = _layout(mapper)
    identity = mapper.identity_key_from_primary_key(tuple(values[index] for index in primary_key))
    held = session.identity_map.get(identity)
    if held is not None:
        for key, value in zip(keys, values, strict=True):
            set_committed_value(held, key, value)
        state = instance_state(held)
        state.manager.dispatch.refresh(state, None, keys)
        return held
    instance = mapper.class_manager.new_instance()
    state = instance_state(instance)
    state.dict.update(zip(keys, values, strict=True))
    make_transient_to_detached(instance)
    session.add(instance)
    state.manager.dispatch.load(state, None)
    return instance
