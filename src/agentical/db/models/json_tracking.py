"""JSON column values that persist in-place changes, at a fraction of ``MutableDict``'s cost.

``MutableDict`` and ``MutableList`` (``sqlalchemy.ext.mutable``) flag their parent object
modified when changed in place, and ``TrackedDict`` and ``TrackedList`` behave exactly the
same: same listeners, same methods, every change flags the parent. What differs is how a
value remembers its parent. ``Mutable`` gives every loaded value a ``WeakKeyDictionary``
(about eight garbage-collected objects: the mapping, its dict, list, set, closure and weak
references) although a value almost always has one parent. Loading 1,000 playbooks with
their steps and variables makes 30,000 such values, and the collector's passes over them
took half the load's time. Here the first parent is one weak reference held in a slot of
the value; a second parent (``a.tags = b.tags``) gets a ``WeakKeyDictionary`` as before.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy.ext.mutable import MutableDict, MutableList
from sqlalchemy.orm import InstanceState
from sqlalchemy.orm.attributes import flag_modified


class _ParentLinks:
    """A value's parents (``InstanceState`` -> attribute key) as the mapping ``Mutable``'s
    listeners use (``links[state] = key``, ``pop``, ``items``); a short-lived view of the
    value's own slots, so a loaded value costs no object beyond itself."""

    __slots__ = ("_value",)

    def __init__(self, value: _TrackedValue) -> None:
        self._value = value

    def __setitem__(self, state: InstanceState[Any], key: str) -> None:
        value = self._value
        first = value._parent() if value._parent is not None else None
        if first is None or first is state:
            value._parent, value._parent_key = weakref.ref(state), key
            return
        if value._more_parents is None:
            value._more_parents = weakref.WeakKeyDictionary()
        value._more_parents[state] = key

    def pop(self, state: InstanceState[Any], default: str | None = None) -> str | None:
        value = self._value
        if value._parent is not None and value._parent() is state:
            value._parent = None
            return value._parent_key
        if value._more_parents is None:
            return default
        return value._more_parents.pop(state, default)

    def items(self) -> Iterator[tuple[InstanceState[Any], str]]:
        value = self._value
        first = value._parent() if value._parent is not None else None
        if first is not None:
            yield first, value._parent_key
        if value._more_parents is not None:
            yield from list(value._more_parents.items())


class _TrackedValue:
    """What the two containers share: their parents kept in three slots, the first parent
    as one weak reference (shared by every value of the same object). The slots are
    declared by the two containers: a slotted mixin cannot join a ``dict``/``list`` base."""

    _parent: weakref.ref[InstanceState[Any]] | None
    _parent_key: str
    _more_parents: weakref.WeakKeyDictionary[InstanceState[Any], str] | None

    @property
    def _parents(self) -> _ParentLinks:
        try:
            self._parent  # noqa: B018  (unset in a new, copied or unpickled value)
        except AttributeError:
            self._parent, self._parent_key, self._more_parents = None, "", None
        return _ParentLinks(self)

    def changed(self) -> None:
        """Flag every live parent's attribute modified, so the next flush writes it."""
        for state, key in self._parents.items():
            instance = state.obj()
            if instance is not None:
                flag_modified(instance, key)


class TrackedDict(_TrackedValue, MutableDict[str, Any]):  # type: ignore[misc]
    """A JSON object column's value: a ``MutableDict`` with a cheap link to its parent."""

    __slots__ = ("_more_parents", "_parent", "_parent_key")


class TrackedList(_TrackedValue, MutableList[Any]):  # type: ignore[misc]
    """A JSON array column's value: a ``MutableList`` with a cheap link to its parent."""

    __slots__ = ("_more_parents", "_parent", "_parent_key")
