"""``agentical serve``: the HTTP API and the live run pages on the configured database."""

from __future__ import annotations

from typing import Annotated

import typer

from agentical.cli.context import settings
from agentical.cli.output import fail, info


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
) -> None:
    """Serve the HTTP API and the run pages (needs the API extra) until Ctrl-C."""
    try:
        import uvicorn

        from agentical.api.server import create_app
    except ImportError:
        fail('agentical serve needs the API extra: pip install "agentical-playbooks[api]"')
    found = settings(ctx)
    app = create_app(found.database_url)
    info(f"runs: http://{host}:{port}/ui/executions   API: http://{host}:{port}/docs")
    info(f"database: {found.display_url}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
