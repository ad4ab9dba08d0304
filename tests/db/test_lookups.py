"""``agentical.db.lookups``: what a name means on every surface (CLI and API)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from agentical.db.audit import AuditAction, acting_as
from agentical.db.errors import NotFoundError
from agentical.db.lookups import (
    PlaybookNameTakenError,
    find_playbook,
    find_template,
    instantiate_template,
    latest_versions,
)
from agentical.db.models.audit import AuditEntry
from agentical.db.models.playbook import Playbook
from agentical.db.testing.factories import make_playbook, make_template


def test_a_name_finds_its_latest_active_version_or_the_one_asked_for(session: Session) -> None:
    first = make_playbook(session, name="Failover", version=1)
    second = make_playbook(session, name="Failover", version=2)
    make_playbook(session, name="Failover", version=3, is_active=False)

    assert find_playbook(session, "Failover") is second
    assert find_playbook(session, "Failover", 1) is first
    with pytest.raises(NotFoundError, match="no playbook named 'Failover' version 3"):
        find_playbook(session, "Failover", 3)
    with pytest.raises(NotFoundError, match="no playbook named 'a\\\\x00b'"):
        find_playbook(session, "a\x00b")  # no query: PostgreSQL refuses a NUL


def test_latest_versions_keeps_one_row_per_name_and_the_callers_criteria(
    session: Session,
) -> None:
    make_playbook(session, name="Alpha", version=1)
    alpha = make_playbook(session, name="Alpha", version=2)
    beta = make_playbook(session, name="Beta", version=1)
    make_playbook(session, name="Beta", version=2, is_active=False)

    found = session.scalars(latest_versions().order_by(Playbook.name)).all()
    narrowed = session.scalars(latest_versions(select(Playbook).where(Playbook.name == "Beta")))

    assert found == [alpha, beta]
    assert narrowed.all() == [beta]


def test_a_template_becomes_a_playbook_only_under_a_new_name(session: Session) -> None:
    template = make_template(session, name="Rollout")
    make_playbook(session, name="Taken", version=1, is_active=False)

    with acting_as("alice"):
        made = instantiate_template(session, find_template(session, "Rollout"), " Deploy api ")
    with pytest.raises(PlaybookNameTakenError, match="a playbook named 'Taken' already exists"):
        instantiate_template(session, template, "Taken")

    assert (made.name, made.created_by, made.id is not None) == ("Deploy api", "alice", True)
    assert template.usage_count == 1
    (recorded,) = session.scalars(select(AuditEntry)).all()  # the refused name wrote nothing
    assert (recorded.action, recorded.actor, recorded.playbook_name) == (
        AuditAction.IMPORT,
        "alice",
        "Deploy api",
    )
    assert recorded.details == {"template_name": "Rollout", "template_version": template.version}
    with pytest.raises(NotFoundError, match=r"no template named 'Rollout' version '9\.9'"):
        find_template(session, "Rollout", "9.9")
