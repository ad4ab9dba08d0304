"""Alembic environment for the agentical playbook tables.

The database URL comes from ``-x url=...``, then ``AGENTICAL_DATABASE_URL``, then the
ini file. A caller that already holds a connection passes it as
``config.attributes["connection"]`` (tests, the CLI, a downstream service).

Every command run through this environment addresses our branch (``agentical``) only:
revisions of other branches in the same version table are left alone.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine, inspect, pool

from agentical.db.models import metadata
from agentical.db.sqlite_migrations import sqlite_migration

config = context.config


# Logging is the application's business unless Alembic runs as a command-line tool.
if config.cmd_opts is not None and config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("AGENTICAL_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError(
            "no database URL: pass -x url=..., set AGENTICAL_DATABASE_URL "
            "or sqlalchemy.url in alembic.ini"
        )
    return url


def _our_tables_exist(connection: Connection | None) -> bool:
    return connection is not None and inspect(connection).has_table("playbooks")


def _own_branch_only(migration: MigrationContext) -> None:
    """Make ``migration`` see only the recorded heads of our tree.

    A service may keep its own branch in the same ``alembic_version`` table. Its revisions
    are not among our scripts, and Alembic would stop at them ("Can't locate revision"):
    hidden from every command run here, they are never moved or deleted. Alembic has no
    option for this; ``get_current_heads`` is where each command (and its bookkeeping of
    the version rows) reads the heads, so that method of this one context is narrowed.
    A database whose only revisions are unknown while our tables exist was migrated by a
    newer release of ours: refused rather than migrated again from the start.
    """
    known = {revision.revision for revision in context.script.walk_revisions()}
    recorded_heads = migration.get_current_heads

    def our_heads() -> tuple[str, ...]:
        heads = recorded_heads()
        ours = tuple(head for head in heads if head in known)
        if heads and not ours and _our_tables_exist(migration.connection):
            raise CommandError(
                f"the database is at {', '.join(heads)}, unknown to this release of "
                "agentical-playbooks: upgrade the package, or check the database URL"
            )
        return ours

    migration.get_current_heads = our_heads  # type: ignore[method-assign]


def _ours(name: str | None, type_: str, _parents: Any) -> bool:
    """Autogenerate and ``check`` look at our tables only: a service's share the database."""
    return type_ != "table" or name in metadata.tables


def _configure(**options: Any) -> None:
    settings: dict[str, Any] = {
        "target_metadata": metadata,
        "compare_type": True,
        "include_schemas": False,
        "include_name": _ours,
        **options,
    }
    context.configure(**settings)
    _own_branch_only(context.get_context())


def run_offline() -> None:
    url = database_url()
    _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def _run_with(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    # Before the transaction begins: SQLite ignores the foreign keys switch inside one.
    with sqlite_migration(connection), context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run_with(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
