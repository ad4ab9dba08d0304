"""What every command shares: the database URL chosen on the command line."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer
from sqlalchemy import Engine, make_url, pool
from sqlalchemy.orm import Session

from agentical.cli.output import hide

# Who acts when the operating system cannot say (no login name, no passwd entry).
UNKNOWN_USER = "cli"


@dataclass(frozen=True)
class Settings:
    database_url: str
    traced: bool = False

    @property
    def display_url(self) -> str:
        return make_url(self.database_url).render_as_string(hide_password=True)

    def engine(self) -> Engine:
        from agentical.db.observability import instrument
        from agentical.db.session import create_engine

        # One command, one short-lived connection: no pool to keep.
        engine = create_engine(self.database_url, poolclass=pool.NullPool)
        if self.traced:
            instrument(engine)
        return engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends without an error."""
        engine = self.engine()
        try:
            with Session(engine) as session, session.begin():
                yield session
        finally:
            engine.dispose()


def settings(ctx: typer.Context) -> Settings:
    found = ctx.find_object(Settings)
    if found is None:  # a command invoked without the app's callback (never from the CLI)
        raise RuntimeError("agentical settings are missing")
    return found


def make_settings(database_url: str, *, traced: bool = False) -> Settings:
    parsed = make_url(database_url)
    hide(parsed.password)
    return Settings(database_url=database_url, traced=traced)


def os_user() -> str:
    """The operating system's login name, the CLI's actor unless ``--as`` names one."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):
        return UNKNOWN_USER
    return name.strip() or UNKNOWN_USER
