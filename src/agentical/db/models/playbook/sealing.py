"""Which stored values are sealed (encrypted at rest), and when: just before each flush.

When ``AGENTICAL_SECRET_KEY`` is set (see ``agentical.db.encryption``), the row written
for a sensitive variable carries its ``default_value`` and ``current_value`` sealed, and
the row of an execution carries the values of its sensitive ``input_variables`` and
``output_variables`` sealed. The objects in memory keep the plaintext: the listeners
below swap the sealed values in for the INSERT or UPDATE and put the plaintext back right
after it, and the ``SealedJSON`` column type opens sealed values as they are loaded. So
only the database rows change; every reader of the library sees the values as before.

The listeners act only on ``PlaybookVariable`` and ``PlaybookExecution`` and do nothing
without a key. ``rotate_secrets`` re-encrypts every stored sensitive value with the
newest key (and seals those stored before a key was set).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, event, select, type_coerce, update
from sqlalchemy.orm import Mapper, Session

from agentical.db.encryption import configured_keys, is_sealed, reseal, seal
from agentical.db.models.base import table_of
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.secret_names import StoredSecretNames
from agentical.db.models.playbook.snapshot import DefinitionSnapshot
from agentical.db.models.playbook.variable import PlaybookVariable
from agentical.db.schemas.common import definition_secret_names, execution_secret_names
from agentical.db.types import json_type

_VARIABLE_VALUES = ("default_value", "current_value")
_EXECUTION_VALUES = ("input_variables", "output_variables")
_BATCH = 500

_plaintext: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _swap_in(target: Any, sealed: dict[str, Any]) -> None:
    """Put ``sealed`` in the object's state for this statement; remember the plaintext."""
    if sealed:
        _plaintext[target] = {key: target.__dict__.get(key) for key in sealed}
        target.__dict__.update(sealed)


def _restore(_mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    target.__dict__.update(_plaintext.pop(target, {}))


def _written(target: Any, keys: Iterable[str], inserting: bool) -> list[str]:
    """The keys the statement writes: all on INSERT, the changed ones on UPDATE."""
    changed = target._sa_instance_state.committed_state
    return [key for key in keys if inserting or key in changed]


def _seal_variable(inserting: bool) -> Callable[[Mapper[Any], Connection, Any], None]:
    def before(_mapper: Mapper[Any], _connection: Connection, target: PlaybookVariable) -> None:
        if configured_keys() is None or not target.is_sensitive:
            return
        keys = _written(target, _VARIABLE_VALUES, inserting)
        _swap_in(target, {key: seal(target.__dict__.get(key)) for key in keys})

    return before


def _secret_names(connection: Connection, execution: PlaybookExecution) -> set[str] | None:
    """The execution's secrets (``execution_secret_names``): from its loaded snapshot and
    playbook, else a query for each that is not loaded."""
    snapshot = execution.__dict__.get("snapshot")
    if snapshot is None and execution.snapshot_id is not None:
        document = connection.scalar(
            select(DefinitionSnapshot.document).where(
                DefinitionSnapshot.id == execution.snapshot_id
            )
        )
        snapshot_names = definition_secret_names(document)
    else:
        snapshot_names = None if snapshot is None else definition_secret_names(snapshot.document)
    playbook = execution.__dict__.get("playbook")
    if playbook is not None and "variables" in playbook.__dict__:
        live_names: set[str] | None = set(playbook.secret_variable_names())
    elif execution.playbook_id is None:
        live_names = None
    else:
        query = select(PlaybookVariable.variable_name).where(
            PlaybookVariable.playbook_id == execution.playbook_id,
            PlaybookVariable.is_sensitive.is_(True),
        )
        live_names = set(connection.scalars(query))
    return execution_secret_names(snapshot_names, live_names)


def _sealed_entries(values: Any, names: set[str] | None) -> Any:
    """A copy of ``values`` with the named entries sealed (every entry when unknown)."""
    if not isinstance(values, dict):
        return values
    return {
        key: seal(value) if names is None or key in names else value
        for key, value in values.items()
    }


def _seal_execution(inserting: bool) -> Callable[[Mapper[Any], Connection, Any], None]:
    def before(_mapper: Mapper[Any], connection: Connection, target: PlaybookExecution) -> None:
        if configured_keys() is None:
            return
        keys = _written(target, _EXECUTION_VALUES, inserting)
        if not keys:
            return
        names = _secret_names(connection, target)
        _swap_in(target, {key: _sealed_entries(target.__dict__.get(key), names) for key in keys})

    return before


for _model, _seal in ((PlaybookVariable, _seal_variable), (PlaybookExecution, _seal_execution)):
    event.listen(_model, "before_insert", _seal(True))
    event.listen(_model, "before_update", _seal(False))
    event.listen(_model, "after_insert", _restore)
    event.listen(_model, "after_update", _restore)


def _rotate_rows(
    session: Session,
    model: type[Any],
    columns: tuple[str, ...],
    reseal_row: Callable[[Any, dict[str, Any]], dict[str, Any]],
) -> int:
    """Reseal ``columns`` of every row of ``model``, ``_BATCH`` rows at a time, with Core
    statements (no row version bump: a worker holding the row is not made stale)."""
    table = table_of(model)
    connection = connection_for(session, model)
    raw = [type_coerce(table.c[name], json_type()).label(name) for name in columns]
    ids = list(connection.scalars(select(table.c.id).order_by(table.c.id)))
    changed = 0
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        rows = connection.execute(select(table, *raw).where(table.c.id.in_(batch))).all()
        for row in rows:
            stored = {name: row._mapping[raw[index]] for index, name in enumerate(columns)}
            values = reseal_row(row, stored)
            if values != stored:
                new = {table.c[key]: type_coerce(item, json_type()) for key, item in values.items()}
                connection.execute(update(table).where(table.c.id == row.id).values(new))
                changed += 1
    return changed


def rotate_secrets(session: Session) -> tuple[int, int]:
    """Re-encrypt every stored sensitive value with the newest key of
    ``AGENTICAL_SECRET_KEY``; values stored in plaintext are sealed. Returns the number of
    variables and of executions rewritten. Objects already loaded in ``session`` are
    expired, so they read the new rows."""
    if configured_keys() is None:
        reseal(None)  # raises the SecretKeyError that says to set the key
    secret_names = StoredSecretNames.read(connection_for(session, PlaybookExecution))

    def variable(row: Any, stored: dict[str, Any]) -> dict[str, Any]:
        if not row.is_sensitive:
            return stored
        return {name: None if value is None else reseal(value) for name, value in stored.items()}

    def execution(row: Any, stored: dict[str, Any]) -> dict[str, Any]:
        names = secret_names.of(row.playbook_id, row.snapshot_id)
        return {
            column: {
                key: reseal(value) if key in names or is_sealed(value) else value
                for key, value in (values or {}).items()
            }
            for column, values in stored.items()
        }

    variables = _rotate_rows(session, PlaybookVariable, _VARIABLE_VALUES, variable)
    executions = _rotate_rows(session, PlaybookExecution, _EXECUTION_VALUES, execution)
    session.expire_all()
    return variables, executions
