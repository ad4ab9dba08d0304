"""The FastAPI app of the README's "HTTP API" section runs as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agentical.db import migrate
from agentical.db.session import create_engine
from tests.readme import README, python_block, run_block


def test_the_readme_app_serves_the_router_under_its_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'readme.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        migrate.upgrade(connection)
    engine.dispose()
    monkeypatch.setenv("AGENTICAL_DATABASE_URL", url)
    namespace: dict[str, object] = {}

    run_block(python_block("## HTTP API"), namespace)

    with TestClient(namespace["app"]) as client:  # type: ignore[arg-type]
        imported = client.post(
            "/agentical/playbooks",
            content=README.with_name("examples").joinpath("incident_response.yaml").read_text(),
        )
        listed = client.get("/agentical/playbooks")
    assert imported.status_code == 201
    assert [playbook["name"] for playbook in listed.json()] == ["Database primary outage"]
    namespace["engine"].dispose()  # type: ignore[attr-defined]
