"""``python -m agentical.cli``: the same as the ``agentical`` console script."""

from agentical.cli.main import app

app(prog_name="agentical")
