"""The FastAPI app of the README's "HTTP API" section runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agentical.db import migrate
from agentical.db.session import create_engine

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_app_code() -> str:
    section = README.read_text().split("## HTTP API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


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

    exec(compile(readme_app_code(), str(README), "exec"), namespace)

    with TestClient(namespace["app"]) as client:  # type: ignore[arg-type]
        imported = client.post(
            "/agentical/playbooks",
            content=README.with_name("examples").joinpath("incident_response.yaml").read_text(),
        )
        listed = client.get("/agentical/playbooks")
    assert imported.status_code == 201
    assert [playbook["name"] for playbook in listed.json()] == ["Database primary outage"]
    namespace["engine"].dispose()  # type: ignore[attr-defined]
