"""unique playbook name and version

Importing a definition whose name exists creates the next version; the database now
guarantees that two imports racing for the same name cannot both create it. The unique
index replaces the plain (name, version) index and keeps serving lookups by name.

MariaDB (and SQLite) commit each DDL statement on its own, so a failure halfway would leave
the plain index dropped and the unique one missing. Hence: the data is checked before
anything changes (duplicated versions are named, with what to do), and each step looks at
the schema first, so a run that failed for any reason can simply be run again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 17:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from alembic.util import CommandError

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_playbooks_name_version"
SHOWN_DUPLICATES = 20


def _refuse_duplicate_versions() -> None:
    playbooks = sa.table("playbooks", sa.column("name"), sa.column("version"))
    rows = sa.func.count().label("rows")
    duplicates = (
        op.get_bind()
        .execute(
            sa.select(playbooks.c.name, playbooks.c.version, rows)
            .group_by(playbooks.c.name, playbooks.c.version)
            .having(sa.func.count() > 1)
            .order_by(playbooks.c.name, playbooks.c.version)
        )
        .all()
    )
    if not duplicates:
        return
    listed = "; ".join(
        f"{name!r} version {version} ({count} rows)"
        for name, version, count in duplicates[:SHOWN_DUPLICATES]
    )
    more = len(duplicates) - SHOWN_DUPLICATES
    raise CommandError(
        f"migration 0002 needs each (name, version) of playbooks once, and "
        f"{len(duplicates)} pair(s) are duplicated: {listed}"
        + (f"; and {more} more" if more > 0 else "")
        + ". Nothing was changed. Give the extra rows new versions (UPDATE playbooks SET "
        "version = ... WHERE id = ...) or delete them, then upgrade again."
    )


def _index_is_unique() -> bool | None:
    """Whether the (name, version) index is unique; ``None`` when it does not exist."""
    for index in sa.inspect(op.get_bind()).get_indexes("playbooks"):
        if index["name"] == INDEX:
            return bool(index["unique"])
    return None


def _replace_index(unique: bool) -> None:
    if context.is_offline_mode():  # a SQL script: no schema to look at
        op.drop_index(INDEX, table_name="playbooks")
        op.create_index(INDEX, "playbooks", ["name", "version"], unique=unique)
        return
    current = _index_is_unique()
    if current is unique:
        return
    if current is not None:
        op.drop_index(INDEX, table_name="playbooks")
    # A unique index, not a constraint: SQLite then needs no table rebuild.
    op.create_index(INDEX, "playbooks", ["name", "version"], unique=unique)


def upgrade() -> None:
    if not context.is_offline_mode():
        _refuse_duplicate_versions()
    _replace_index(unique=True)


def downgrade() -> None:
    _replace_index(unique=False)
