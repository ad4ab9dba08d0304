"""ORM instances from the rows of a Core statement, as a query would have returned them.

A worker's claim is one ``UPDATE ... RETURNING`` (MariaDB: one locking ``SELECT``) per
step, the hot path of every deployment. Loaded through the ORM
(``select(Model).from_statement(...)``), SQLAlchemy builds its loader's row processor for
every column at every execution, because it keeps the column getters only for statements
it compiled itself: on SQLite that was a quarter of a claim's time (about 95 of 355 µs).
Here the statement runs on Core, whose result rows are already converted by the columns'
types, and a row the session does not hold becomes an instance the way SQLAlchemy's
loading makes one: keyed and placed in the identity map, then the ``load`` event (with no
query context, as ``Session.merge`` fires it: that is how JSON values start tracking
in-place changes) and the session's ``loaded_as_persistent``.

A row whose instance the session already holds is read again through the ORM with
``populate_existing``, as the claim did before: one more statement, for a case a worker's
session seldom meets (it holds a run it claims again), in exchange for every detail of a
refresh (relationships reset, ``refresh`` events with their context).

Not supported: sessions that key identities with a token (``ShardedSession``); the keys
made here have none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Column, inspect, select, tuple_
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import instance_state

M = TypeVar("M")


@cache
def _layout(mapper: Mapper[Any]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Attribute keys in the table's column order, and where the primary key sits."""
    columns = list(mapper.local_table.c)
    keys = tuple(mapper.get_property_by_column(column).key for column in columns)
    position = {id(column): index for index, column in enumerate(columns)}
    return keys, tuple(position[id(column)] for column in mapper.primary_key)


def row_columns(model: type[Any]) -> list[Column[Any]]:
    """The columns a statement must return, in this order, for ``persistent_from_rows``."""
    return list(inspect(model).local_table.c)


def persistent_from_rows(
    session: Session, model: type[M], rows: Iterable[Sequence[Any]]
) -> list[M]:
    """The instances of ``model`` whose rows are ``rows`` (``row_columns`` order, converted
    by the columns' types), persistent in ``session``, in the order of ``rows``."""
    mapper: Mapper[M] = inspect(model)
    keys, primary_key = _layout(mapper)
    instances: list[M] = []
    held: list[tuple[Any, ...]] = []
    for values in rows:
        identity_values = tuple(values[index] for index in primary_key)
        identity = mapper.identity_key_from_primary_key(identity_values)
        instance = session.identity_map.get(identity)
        if instance is None:
            instance = _loaded(session, mapper, identity, zip(keys, values, strict=True))
        else:
            held.append(identity_values)
        instances.append(instance)
    if held:
        _read_again(session, mapper, held)
    return instances


def _loaded(
    session: Session,
    mapper: Mapper[M],
    identity: Any,
    values: Iterable[tuple[str, Any]],
) -> M:
    """A new persistent instance, made and announced as ``sqlalchemy.orm.loading`` does."""
    instance = mapper.class_manager.new_instance()
    state = instance_state(instance)
    state.dict.update(values)
    state.key = identity
    state.identity_token = identity[2]
    state.session_id = session.hash_key
    session.identity_map.add(state)
    state.manager.dispatch.load(state, None)
    session.dispatch.loaded_as_persistent(session, state)
    return instance


def _read_again(session: Session, mapper: Mapper[Any], identities: list[tuple[Any, ...]]) -> None:
    """Refresh the instances the session holds for ``identities`` from their stored rows.

    Through ``from_statement``, as the claims loaded them before: the session's default
    criteria and options (``with_loader_criteria``) do not drop a row the caller needs. A
    locking read, which reads the latest row at any isolation level (MariaDB's claim has
    locked the rows already; a plain read at REPEATABLE READ could see an older one)."""
    key = mapper.primary_key
    where = (
        key[0].in_([values[0] for values in identities])
        if len(key) == 1
        else tuple_(*key).in_(identities)
    )
    rows = select(*row_columns(mapper.class_)).where(where).with_for_update()
    session.execute(
        select(mapper).from_statement(rows),
        execution_options={"populate_existing": True, "autoflush": False},
    ).all()
