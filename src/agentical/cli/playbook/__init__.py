"""``agentical playbook ...``: one Typer group, its commands in small modules."""

from __future__ import annotations

import typer

from agentical.cli.playbook import browse, files, simulate

app = typer.Typer(help="Validate, import, export, inspect and run playbooks.", no_args_is_help=True)
app.command()(files.validate)
app.command("import")(files.import_file)
app.command()(files.export)
app.command("list")(browse.list_playbooks)
app.command()(browse.show)
app.command()(browse.stats)
app.command()(simulate.run)
