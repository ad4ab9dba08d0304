"""``/playbooks``: import, list, show, export, publish, archive."""

from __future__ import annotations

import json

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agentical.db.limits import MAX_DOCUMENT_BYTES, MAX_TEMPLATE_NESTING
from agentical.db.models.playbook import Playbook
from tests.api.conftest import DRILL, NAME, SECRET, import_drill


def test_import_of_a_json_body_answers_201_with_steps_and_variables(client: TestClient) -> None:
    document = import_drill(client)

    assert document["name"] == NAME
    assert document["version"] == 1
    assert document["status"] == "draft"
    assert [s["step_name"] for s in document["steps"]] == ["check", "confirm", "approve"]
    assert [v["variable_name"] for v in document["variables"]] == ["token", "region"]


def test_import_of_a_yaml_body_stores_the_next_version(client: TestClient) -> None:
    import_drill(client)
    response = client.post(
        "/playbooks?publish=true",
        content=yaml.safe_dump(DRILL),
        headers={"content-type": "application/yaml"},
    )

    assert response.status_code == 201
    assert (response.json()["version"], response.json()["status"]) == (2, "published")


def test_an_invalid_definition_is_422_with_each_location_and_nothing_stored(
    client: TestClient, session: Session
) -> None:
    broken = DRILL | {"steps": [{"name": "a", "order": 1, "depends_on": ["ghost"]}]}

    response = client.post("/playbooks", json=broken)

    assert response.status_code == 422
    assert response.json()["error"] == "DefinitionError"
    assert {"field": "steps[0].depends_on[0]", "reason": "unknown step 'ghost'"} in response.json()[
        "problems"
    ]
    assert session.scalar(select(func.count()).select_from(Playbook)) == 0


def test_a_template_nested_thousands_deep_is_422_naming_the_parameter(
    client: TestClient, session: Session
) -> None:
    deep = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    step = {"name": "s", "order": 1, "parameters": {"p": deep}}

    response = client.post("/playbooks", json=DRILL | {"steps": [step]})

    assert response.status_code == 422
    reason = f"invalid template: nested deeper than {MAX_TEMPLATE_NESTING} levels (line 1)"
    assert response.json()["problems"] == [{"field": "steps[0].parameters.p", "reason": reason}]
    assert session.scalar(select(func.count()).select_from(Playbook)) == 0


def test_a_name_no_url_path_can_carry_is_422_naming_it_and_nothing_stored(
    client: TestClient, session: Session
) -> None:
    response = client.post("/playbooks", json=DRILL | {"name": "ops/export"})

    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"field": "name", "reason": "the name contains '/', which a URL path cannot carry"}
    ]
    assert session.scalar(select(func.count()).select_from(Playbook)) == 0


def test_a_body_that_is_not_yaml_or_utf8_is_422_naming_the_body(client: TestClient) -> None:
    syntax = client.post("/playbooks", content="steps: [", headers={"content-type": "text/plain"})
    binary = client.post("/playbooks", content=b"\xff\xfe", headers={"content-type": "text/plain"})

    assert syntax.status_code == 422
    assert "not valid YAML or JSON" in syntax.json()["problems"][0]["reason"]
    assert binary.status_code == 422
    assert binary.json()["problems"] == [{"field": "body", "reason": "not UTF-8 text (byte 0)"}]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("!!set {a, b}", "the tag !!set at line 7, column 15 has no JSON equivalent"),
        ("{[a]: 1}", "the key at line 7, column 16 is a list: keys must be strings"),
    ],
)
def test_a_yaml_value_json_cannot_hold_is_422_and_nothing_stored(
    client: TestClient, session: Session, value: str, reason: str
) -> None:
    body = (
        "name: Release\ncategory: deployment\nsteps:\n  - name: tag\n    order: 1\n"
        f"    parameters:\n      freeze: {value}\n"
    )
    response = client.post("/playbooks", content=body, headers={"content-type": "application/yaml"})

    assert response.status_code == 422
    assert [problem["reason"] for problem in response.json()["problems"]] == [reason]
    assert session.scalar(select(func.count()).select_from(Playbook)) == 0


def test_an_unquoted_yaml_date_is_stored_as_the_text_written(client: TestClient) -> None:
    body = "name: Release\ncategory: deployment\nsteps: [{name: tag, parameters: {at: 2024-12-20}}]"
    response = client.post("/playbooks", content=body, headers={"content-type": "application/yaml"})

    assert response.status_code == 201
    assert response.json()["steps"][0]["parameters"] == {"at": "2024-12-20"}


def test_a_body_over_the_document_limit_is_413_before_it_is_parsed(client: TestClient) -> None:
    response = client.post("/playbooks", content=b"#" * (MAX_DOCUMENT_BYTES + 1))

    assert response.status_code == 413
    assert response.json()["problems"][0]["field"] == "body"


def test_list_shows_the_latest_version_unless_all_versions_are_asked(client: TestClient) -> None:
    import_drill(client)
    import_drill(client)
    import_drill(client, name="Other", category="deployment")

    latest = client.get("/playbooks").json()
    every = client.get("/playbooks", params={"all_versions": True}).json()
    deployment = client.get("/playbooks", params={"category": "deployment"}).json()

    assert [(p["name"], p["version"]) for p in latest] == [(NAME, 2), ("Other", 1)]
    assert [(p["name"], p["version"]) for p in every] == [(NAME, 1), (NAME, 2), ("Other", 1)]
    assert [p["name"] for p in deployment] == ["Other"]


def test_get_shows_a_version_and_masks_the_sensitive_default(client: TestClient) -> None:
    secret_default = [DRILL["variables"][0] | {"required": False, "default": SECRET}]
    import_drill(client, variables=[*secret_default, DRILL["variables"][1]])
    import_drill(client, description="second")

    first = client.get(f"/playbooks/{NAME}", params={"version": 1}).json()
    latest = client.get(f"/playbooks/{NAME}").json()

    assert (first["version"], latest["version"]) == (1, 2)
    assert first["variables"][0]["default_value"] == "********"


def test_an_unknown_playbook_or_version_is_404_naming_it(client: TestClient) -> None:
    import_drill(client)

    missing = client.get("/playbooks/nope")
    no_version = client.get(f"/playbooks/{NAME}", params={"version": 9})

    assert missing.status_code == 404
    assert missing.json()["problems"][0]["reason"] == "no playbook named 'nope'"
    assert no_version.status_code == 404
    assert "version 9" in no_version.json()["problems"][0]["reason"]


def test_export_gives_yaml_or_json_that_imports_back(client: TestClient) -> None:
    import_drill(client)

    as_yaml = client.get(f"/playbooks/{NAME}/export")
    as_json = client.get(f"/playbooks/{NAME}/export", params={"format": "json"})

    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.text) == json.loads(as_json.text)
    again = client.post("/playbooks", content=as_yaml.text)
    assert again.status_code == 201
    assert again.json()["version"] == 2


def test_publish_then_archive_and_an_illegal_move_is_409(client: TestClient) -> None:
    import_drill(client)

    published = client.post(f"/playbooks/{NAME}/publish")
    archived = client.post(f"/playbooks/{NAME}/archive")
    again = client.post(f"/playbooks/{NAME}/publish")

    assert published.json()["status"] == "published"
    assert archived.json()["status"] == "archived"
    assert again.status_code == 409
    assert again.json()["error"] == "InvalidTransitionError"
    assert client.get(f"/playbooks/{NAME}").json()["status"] == "archived"


def test_the_importing_actor_is_recorded_as_the_author(session: Session) -> None:
    from tests.api.conftest import app_on, client_of

    with client_of(app_on(session, actor="alice")) as client:
        assert import_drill(client)["created_by"] == "alice"
