"""``agentical playbook ...``: validate, import, export, list, show, run and measure."""

from __future__ import annotations

import typer

app = typer.Typer(help="Manage playbooks.", no_args_is_help=True)
