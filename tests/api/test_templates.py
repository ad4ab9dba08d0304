"""``/templates``: save a playbook as a template, list, show, instantiate."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import DRILL, NAME, SECRET, import_drill


def test_save_list_show_and_instantiate_a_template(client: TestClient) -> None:
    secret_default = [DRILL["variables"][0] | {"required": False, "default": SECRET}]
    import_drill(client, variables=[*secret_default, DRILL["variables"][1]])

    saved = client.post("/templates", json={"playbook": NAME, "name": "drill", "version": "2.0"})
    listed = client.get("/templates")
    shown = client.get("/templates/drill")
    made = client.post("/templates/drill/instantiate", json={"name": "Drill (eu)", "by": "erin"})

    assert saved.status_code == 201
    assert [t["name"] for t in listed.json()] == ["drill"]
    assert shown.json()["version"] == "2.0"
    assert made.status_code == 201
    assert (made.json()["name"], made.json()["created_by"]) == ("Drill (eu)", "erin")
    assert [s["step_name"] for s in made.json()["steps"]] == ["check", "confirm", "approve"]
    assert client.get("/templates/drill").json()["usage_count"] == 1


def test_instantiating_under_a_taken_name_is_409_naming_it(client: TestClient) -> None:
    import_drill(client)
    client.post("/templates", json={"playbook": NAME, "name": "drill"})

    response = client.post("/templates/drill/instantiate", json={"name": NAME})

    assert response.status_code == 409
    assert response.json()["problems"] == [
        {"field": "name", "reason": f"a playbook named {NAME!r} already exists"}
    ]


def test_saving_a_template_name_and_version_twice_is_409_and_keeps_the_first(
    client: TestClient,
) -> None:
    import_drill(client)
    client.post("/templates", json={"playbook": NAME, "name": "drill", "version": "1"})

    again = client.post("/templates", json={"playbook": NAME, "name": "drill", "version": "1"})

    assert again.status_code == 409
    assert again.json()["problems"] == [{"field": "name", "reason": "template 'drill' '1' exists"}]
    assert len(client.get("/templates").json()) == 1


def test_unknown_template_or_playbook_is_404(client: TestClient) -> None:
    assert client.get("/templates/nope").status_code == 404
    assert client.post("/templates/nope/instantiate", json={"name": "x"}).status_code == 404
    assert client.post("/templates", json={"playbook": "nope", "name": "t"}).status_code == 404
