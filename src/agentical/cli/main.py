"""The ``agentical`` application: global options and the command groups."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from agentical.cli import audit, db, execution, playbook, template, worker
from agentical.cli.context import make_settings, os_user
from agentical.cli.output import user_errors
from agentical.cli.serve import serve
from agentical.db.audit import acting_as
from agentical.db.session import DATABASE_URL_VARIABLE, DEFAULT_DATABASE_URL

app = typer.Typer(
    name="agentical",
    help="Store, version, validate and run operational playbooks.",
    no_args_is_help=True,
    # A traceback with locals would print the database URL, password included.
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(playbook.app, name="playbook")
app.add_typer(template.app, name="template")
app.add_typer(execution.app, name="execution")
app.command()(worker.worker)
app.command()(serve)
app.command("audit")(audit.show_trail)


def _logfire() -> bool:
    """The CLI is an application, so it may configure Logfire: it sends its spans when
    ``LOGFIRE_TOKEN`` is set and otherwise stays silent (no "not configured" warning)."""
    if not os.environ.get("LOGFIRE_TOKEN"):
        os.environ.setdefault("LOGFIRE_IGNORE_NO_CONFIG", "1")
        return False
    try:
        import logfire
    except ImportError:  # only logfire-api: nothing to send with
        return False
    logfire.configure(service_name="agentical-cli", console=False)
    return True


@app.callback()
def main(
    ctx: typer.Context,
    database_url: Annotated[
        str,
        typer.Option(
            "--database-url",
            envvar=DATABASE_URL_VARIABLE,
            help="SQLAlchemy URL of the database (default: an SQLite file in this folder).",
            show_default=False,
        ),
    ] = DEFAULT_DATABASE_URL,
    acting_for: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Who acts, for the audit trail (default: the operating system's user).",
            show_default=False,
        ),
    ] = None,
) -> None:
    with user_errors():
        ctx.obj = make_settings(database_url, traced=_logfire())
        # Every command of this invocation acts as this person: the context ends with it.
        ctx.with_resource(acting_as(acting_for or os_user()))
