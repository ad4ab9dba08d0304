"""``agentical execution ...``: inspect and operate runs; one Typer group, small modules."""

from __future__ import annotations

import typer

from agentical.cli.execution import actions, browse

app = typer.Typer(help="Inspect and operate playbook runs.", no_args_is_help=True)
app.command("list")(browse.list_executions)
app.command()(browse.show)
app.command()(actions.cancel)
app.command()(actions.pause)
app.command()(actions.resume)
app.command()(actions.approve)
app.command()(actions.reject)
app.command()(actions.complete)
app.command()(actions.retry)
