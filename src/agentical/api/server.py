"""A small FastAPI app serving the router on one database: what ``agentical serve`` runs."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agentical.api.routes import router
from agentical.db.session import create_engine


def create_app(database_url: str | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The API at ``/`` (``/playbooks``, ``/executions``...), the run pages at
    ``/ui/executions`` (where ``/`` redirects), on ``database_url`` or ``engine``."""
    bound = engine if engine is not None else create_engine(database_url)

    def session() -> Iterator[Session]:
        with Session(bound) as opened:
            yield opened

    app = FastAPI(title="agentical", summary="Playbooks, their runs and the people in them.")
    app.include_router(router(session))

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(app.url_path_for("run_list_page"))

    return app
