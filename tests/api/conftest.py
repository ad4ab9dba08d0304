"""An app with the API router on the test's rolled-back session, and a playbook to run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from agentical.api import router

PREFIX = "/api"


def app_on(session: Session, actor: str | None = None) -> FastAPI:
    app = FastAPI()
    app.include_router(
        router(lambda: session, actor_dependency=(lambda: actor) if actor else None),
        prefix=PREFIX,
    )
    return app


@pytest.fixture
def client(session: Session) -> Iterator[TestClient]:
    with TestClient(app_on(session), base_url="http://test" + PREFIX) as test_client:
        yield test_client
