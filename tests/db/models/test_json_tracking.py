"""JSON column values persist in-place changes, with one cheap link to their parent."""

from __future__ import annotations

import copy
import gc
import pickle
from collections.abc import Callable

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from agentical.db.models.json_tracking import TrackedDict, TrackedList
from agentical.db.models.playbook import Playbook
from agentical.db.testing.factories import make_playbook


def _reloaded(fresh_session: Callable[[], Session], playbook_id: int) -> Playbook:
    with fresh_session() as other:
        return other.scalars(select(Playbook).where(Playbook.id == playbook_id)).one()


def test_loaded_values_are_tracked_and_in_place_changes_persist(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook_id = make_playbook(session, steps=1, tags=["a"], configuration={"k": 1}).id
    session.commit()
    session.expunge_all()
    playbook = session.scalars(select(Playbook).where(Playbook.id == playbook_id)).one()
    assert isinstance(playbook.tags, TrackedList)
    assert isinstance(playbook.configuration, TrackedDict)

    playbook.tags.append("b")
    playbook.configuration["k"] = 2
    assert inspect(playbook).modified
    session.commit()

    again = _reloaded(fresh_session, playbook_id)
    assert again.tags == ["a", "b"]
    assert again.configuration == {"k": 2}


def test_a_value_shared_by_two_objects_flags_both(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    first, second = make_playbook(session, steps=1), make_playbook(session, steps=1)
    session.commit()
    second.configuration = first.configuration
    session.flush()  # written, and not expired: both still hold the one value
    assert second.configuration is first.configuration

    first.configuration["shared"] = True
    assert inspect(first).modified
    assert inspect(second).modified
    session.commit()

    assert _reloaded(fresh_session, first.id).configuration == {"shared": True}
    assert _reloaded(fresh_session, second.id).configuration == {"shared": True}


def test_a_replaced_value_no_longer_flags_its_old_parent(session: Session) -> None:
    playbook = make_playbook(session, steps=1, tags=["old"])
    session.commit()
    old = playbook.tags
    playbook.tags = ["new"]
    session.commit()

    old.append("ignored")
    assert not inspect(playbook).modified
    assert playbook.tags == ["new"]


def test_a_value_outliving_its_object_changes_without_error(session: Session) -> None:
    playbook = make_playbook(session, steps=1, configuration={"k": 1})
    session.commit()
    kept = playbook.configuration
    session.expunge_all()
    del playbook
    gc.collect()

    kept["k"] = 2  # its parent is gone: nothing to flag, nothing raised
    assert kept == {"k": 2}


def test_copied_and_unpickled_values_keep_their_content_and_no_parent(session: Session) -> None:
    playbook = make_playbook(session, steps=1, configuration={"k": [1]}, tags=["a"])
    session.commit()
    for value in (playbook.configuration, playbook.tags):
        for clone in (copy.copy(value), copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
            assert type(clone) is type(value)
            assert clone == value
            clone.clear()  # a change reaches no parent
    assert not inspect(playbook).modified
    assert playbook.configuration == {"k": [1]}
    assert playbook.tags == ["a"]


def test_an_unpickled_object_merged_back_persists_in_place_changes(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook = make_playbook(session, steps=1, configuration={"k": 1})
    session.commit()
    assert playbook.configuration == {"k": 1}  # loaded before pickling
    blob = pickle.dumps(playbook)
    session.expunge_all()

    merged = session.merge(pickle.loads(blob), load=False)
    merged.configuration["k"] = 2
    assert inspect(merged).modified
    session.commit()

    assert _reloaded(fresh_session, merged.id).configuration == {"k": 2}
