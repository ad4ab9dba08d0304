"""The ``agentical`` command line (Typer + Rich)."""
