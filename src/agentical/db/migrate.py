"""Run the packaged Alembic migrations from Python (tests, the CLI, services).

The migration scripts ship inside the wheel as ``agentical/db/migrations``; in a source
checkout (editable install) they are the top-level ``migrations/`` folder. The revisions
use ``needs_the_database`` to refuse an offline script of a step that reads stored rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection

_PACKAGED = Path(__file__).resolve().parent / "migrations"
_SOURCE_CHECKOUT = Path(__file__).resolve().parents[3] / "migrations"


def migrations_directory() -> Path:
    for candidate in (_PACKAGED, _SOURCE_CHECKOUT):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("the agentical migration scripts are not installed")


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for our migrations, bound to ``url`` or to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "heads") -> None:
    command.upgrade(alembic_config(connection=connection), revision)


def downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection=connection), revision)


def needs_the_database(step: str, bind: Any) -> None:
    """Refuse to write ``step`` of a revision into an offline script (``alembic ... --sql``,
    where ``bind``, ``op.get_bind()``, is Alembic's mock connection): it reads what the
    database holds, which a script cannot, and a script without it would leave the stored
    rows unmigrated."""
    if not isinstance(bind, Connection):
        raise CommandError(
            f"{step} reads the database, so it cannot be written as a SQL script (--sql): "
            "run the migration against the database"
        )
