"""A downstream service with its own Alembic tree that adds ours through version_locations."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect

from agentical.db.migrate import migrations_directory
from agentical.db.testing.databases import temporary_database
from tests.conftest import require_server

ENV_PY = '''
"""The downstream service's env.py: runs its own revisions and agentical's alike."""

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config


def run(connection):
    context.configure(
        connection=connection, render_as_batch=connection.dialect.name == "sqlite"
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        run(connection)
    engine.dispose()
'''

SERVICE_REVISION = '''
"""incident links: the service's own table, pointing at agentical's playbooks"""

import sqlalchemy as sa
from alembic import op

revision = "svc0001"
down_revision = None
branch_labels = ("service",)
depends_on = "agentical"  # our tables exist before this revision runs


def upgrade():
    op.create_table(
        "incident_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "playbook_id",
            sa.Integer,
            sa.ForeignKey("playbooks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("ticket", sa.String(50), nullable=False),
    )


def downgrade():
    op.drop_table("incident_links")
'''


def write_downstream_project(root: Path, url: str, agentical_versions: str) -> Path:
    """Write the service's alembic.ini, env.py and one revision; return the ini path."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "migrations" / "env.py").write_text(ENV_PY)
    (versions / "svc0001_incident_links.py").write_text(SERVICE_REVISION)
    ini = root / "alembic.ini"
    ini.write_text(
        textwrap.dedent(
            f"""\
            [alembic]
            script_location = %(here)s/migrations
            path_separator = space
            version_locations = %(here)s/migrations/versions {agentical_versions}
            sqlalchemy.url = {url.replace("%", "%%")}
            """
        )
    )
    return ini


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def empty_url(database: str, tmp_path: Path) -> Iterator[str]:
    server = require_server(database)
    if server is None:
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    with temporary_database(server) as url:
        yield url


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_service_upgrades_heads_and_downgrades_both_branches(
    empty_url: str, tmp_path: Path
) -> None:
    ini = write_downstream_project(
        tmp_path / "service", empty_url, str(migrations_directory() / "versions")
    )
    upgrade = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "heads"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    assert {"playbooks", "playbook_steps", "incident_links"} <= tables(empty_url)
    engine = create_engine(empty_url)
    try:
        (foreign_key,) = inspect(engine).get_foreign_keys("incident_links")
    finally:
        engine.dispose()
    assert foreign_key["referred_table"] == "playbooks"
    assert foreign_key["referred_columns"] == ["id"]

    config = Config(str(ini))
    command.downgrade(config, "service@base")
    remaining = tables(empty_url)
    assert "incident_links" not in remaining
    assert "playbooks" in remaining

    command.upgrade(config, "heads")
    command.downgrade(config, "base")
    assert tables(empty_url) <= {"alembic_version"}
