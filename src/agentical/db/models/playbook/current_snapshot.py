"""The snapshot a playbook's rows produce now, built once per session until they change.

Building a snapshot validates and serialises the whole definition (``snapshot_of``):
for 10,000 steps that costs more than writing the run. A session remembers the document
and hash it built for each stored playbook it holds, and forgets them when anything the
document is made of changes: the playbook's definition fields, its steps and variables
(their fields, added or removed ones) and the dependency edges, whether assigned,
mutated in place (``TrackedDict``) or reloaded (expired, refreshed, rolled back, detached).
Run counters and metrics are not part of a definition and change nothing here.

The listeners below are installed on the three model classes and act only on their
instances; rows changed with Core statements (``update(PlaybookStep)...``) are not seen:
expire the playbook (``session.expire(playbook)``) after such a change.

Why per session and not a stored link (a ``snapshot_id`` on ``playbooks``): a snapshot is
built from the rows the session has loaded, so what it remembers is right exactly as long
as those objects are unchanged, which the ORM tells it. A stored link would have to be
cleared by every writer of steps, variables and edges, in every process, Core statements
included, or a run would follow a definition its playbook no longer has.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import InstanceState, Session
from sqlalchemy.orm.attributes import instance_state

from agentical.db.models.playbook.builder import (
    PLAYBOOK_FIELDS,
    STEP_FIELDS,
    VARIABLE_FIELDS,
    snapshot_of,
)
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.step import PlaybookStep
from agentical.db.models.playbook.variable import PlaybookVariable

_MEMO = "agentical.current_snapshots"

# What ``playbook_document`` reads, and the links that make a step or variable part of
# a playbook.
DEFINITION_ATTRIBUTES: dict[type[Any], tuple[str, ...]] = {
    Playbook: (*PLAYBOOK_FIELDS, "steps", "variables"),
    PlaybookStep: (*STEP_FIELDS, "depends_on", "dependents", "playbook", "playbook_id"),
    PlaybookVariable: (*VARIABLE_FIELDS, "playbook", "playbook_id"),
}

Snapshot = tuple[dict[str, Any], str]
_Entry = tuple["weakref.ref[Playbook]", dict[str, Any], str]


def _memo(session: Session) -> dict[int, _Entry]:
    memo: dict[int, _Entry] = session.info.setdefault(_MEMO, {})
    return memo


def current_snapshot(playbook: Playbook) -> Snapshot:
    """``snapshot_of(playbook)``: built once per session for a stored playbook, and again
    only after its definition changed."""
    state = instance_state(playbook)
    session = state.session
    if session is None or state.key is None:
        return snapshot_of(playbook)
    memo = _memo(session)
    playbook_id = state.key[1][0]
    entry = memo.get(playbook_id)
    if entry is not None and entry[0]() is playbook:
        return entry[1], entry[2]
    document, digest = snapshot_of(playbook)
    memo[playbook_id] = (weakref.ref(playbook), document, digest)
    return document, digest


def _playbook_ids(state: InstanceState[Any], *values: Any) -> Iterable[Any]:
    """The playbooks whose definition includes the object of ``state`` (and ``values``,
    the playbooks or ids a link was moved between)."""
    if isinstance(state.obj(), Playbook):
        yield state.key[1][0] if state.key is not None else None
        return
    yield state.dict.get("playbook_id")
    parent = state.dict.get("playbook")
    if parent is not None:
        yield instance_state(parent).dict.get("id")
    for value in values:
        yield value.__dict__.get("id") if isinstance(value, Playbook) else value


def _drop(session: Session, state: InstanceState[Any], *values: Any) -> None:
    """Drop what ``session`` remembers of the playbook(s) the object of ``state`` belongs to."""
    memo = session.info.get(_MEMO)
    if memo:
        for playbook_id in _playbook_ids(state, *values):
            memo.pop(playbook_id, None)


def forget(target: Any, *values: Any) -> None:
    """Drop what the session remembers of the playbook(s) ``target`` belongs to."""
    state = instance_state(target)
    if state.session is not None:
        _drop(state.session, state, *values)


def _on_set(target: Any, _value: Any, _old: Any, _initiator: Any) -> None:
    forget(target)


def _on_move(target: Any, value: Any, old: Any, _initiator: Any) -> None:
    """A step or variable moved to another playbook: both forget."""
    forget(target, value, old)


def _on_change(target: Any, *_args: Any) -> None:
    forget(target)


COLLECTIONS = frozenset({"steps", "variables", "depends_on", "dependents"})
LINKS = frozenset({"playbook", "playbook_id"})


def _watch(class_: type[Any], names: Iterable[str]) -> None:
    for name in names:
        attribute = getattr(class_, name)
        if name in COLLECTIONS:
            for identifier in ("append", "remove", "bulk_replace"):
                event.listen(attribute, identifier, _on_change)
        else:
            event.listen(attribute, "set", _on_move if name in LINKS else _on_set)
            event.listen(attribute, "modified", _on_change)
    watched = frozenset(names)

    def reloaded(target: Any, attributes: Iterable[str] | None) -> None:
        # Counters expired after a run (``attributes`` given, none of them ours) keep it.
        if target is not None and (attributes is None or not watched.isdisjoint(attributes)):
            forget(target)

    event.listen(class_, "expire", reloaded)
    event.listen(
        class_, "refresh", lambda target, _context, attributes: reloaded(target, attributes)
    )


def _moved(session: Session, instance: Any) -> None:
    """An object entering or leaving the session: what its playbook remembered is void."""
    if isinstance(instance, tuple(DEFINITION_ATTRIBUTES)):
        _drop(session, instance_state(instance))


for _class, _names in DEFINITION_ATTRIBUTES.items():
    _watch(_class, _names)
for _identifier in ("persistent_to_detached", "persistent_to_deleted", "detached_to_persistent"):
    event.listen(Session, _identifier, _moved)


@event.listens_for(Session, "after_soft_rollback")
def _forget_all(session: Session, _previous: Any) -> None:
    session.info.pop(_MEMO, None)
