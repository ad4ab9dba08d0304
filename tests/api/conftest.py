"""An app with the API router on the test's rolled-back session, a playbook to run, and a
check on every response that the secret input never leaves the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from agentical.api import router
from agentical.db import runs
from agentical.db.models.playbook import PlaybookExecution, claim_ready_steps

PREFIX = "/api"
SECRET = "tok-7f3e9c1d-never-shown"
NAME = "API drill"
DRILL: dict[str, Any] = {
    "name": NAME,
    "category": "incident_response",
    "max_concurrent_executions": 2,
    "steps": [
        {"name": "check", "order": 1, "type": "automated", "parameters": {"t": "{{ token }}"}},
        {"name": "confirm", "order": 2, "type": "manual", "depends_on": ["check"]},
        {"name": "approve", "order": 3, "type": "approval", "depends_on": ["confirm"]},
    ],
    "variables": [
        {"name": "token", "type": "string", "required": True, "sensitive": True},
        {"name": "region", "type": "select", "default": "eu", "options": ["eu", "us"]},
    ],
}
INPUTS = {"token": SECRET, "region": "us"}


def app_on(session: Session, actor: str | None = None) -> FastAPI:
    app = FastAPI()
    actor_dependency = (lambda: actor) if actor is not None else None
    app.include_router(router(lambda: session, actor_dependency=actor_dependency), prefix=PREFIX)
    return app


def no_secret(response: httpx2.Response) -> None:
    response.read()
    assert SECRET not in response.text, response.request.url


def client_of(app: FastAPI) -> TestClient:
    test_client = TestClient(app, base_url="http://test" + PREFIX)
    test_client.event_hooks["response"].append(no_secret)
    return test_client


@pytest.fixture
def client(session: Session) -> Iterator[TestClient]:
    with client_of(app_on(session)) as test_client:
        yield test_client


def import_drill(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/playbooks", json=DRILL | changes)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def start_drill(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post(f"/playbooks/{NAME}/executions", json={"inputs": INPUTS} | body)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def finish_check(session: Session, execution_id: str) -> None:
    """A worker runs the automated first step: what makes the manual step ready."""
    execution = session.query(PlaybookExecution).filter_by(execution_id=execution_id).one()
    (claimed,) = claim_ready_steps(session, worker_id="w", execution_ids=[execution.id])
    runs.complete_step(session, claimed, {"ok": True})
    session.commit()


def fail_probe(session: Session, execution_id: str) -> None:
    """A worker fails the automated step for good (it has no retries)."""
    execution = session.query(PlaybookExecution).filter_by(execution_id=execution_id).one()
    (claimed,) = claim_ready_steps(session, worker_id="w", execution_ids=[execution.id])
    runs.fail_step(session, claimed, "probe failed")
    session.commit()


def step(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        run for run in document["step_executions"] if run["step_name"] == name
    ]
    assert len(found) == 1, name
    return found[0]
