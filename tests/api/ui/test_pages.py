"""The run pages over HTTP: the list, one run's graph and table, the JSON view it polls."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import (
    NAME,
    app_on,
    client_of,
    finish_check,
    import_drill,
    start_drill,
)
from tests.api.test_query_counts import selects


def test_the_list_links_each_run_with_its_playbook_and_status(client: TestClient) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]

    page = client.get("/ui/executions")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"{NAME} v1" in page.text
    assert f'href="http://test/api/ui/executions/{execution_id}"' in page.text
    assert 'class="pill status-running"' in page.text


def test_the_list_costs_three_selects_for_any_number_of_runs(
    client: TestClient, session: Session
) -> None:
    import_drill(client, max_concurrent_executions=20)
    import_drill(client, name="Other")
    for _ in range(5):
        start_drill(client)
    client.post("/playbooks/Other/executions", json={"inputs": {"token": "x"}})

    assert selects(session, client, "/ui/executions") == 3


def test_a_run_page_draws_each_step_as_a_node_with_its_status(
    client: TestClient, session: Session
) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]
    finish_check(session, execution_id)

    page = client.get(f"/ui/executions/{execution_id}").text

    found = re.findall(r'<g class="node ([^"]+)"\s+data-step="(\w+)"', page)
    assert found == [
        ("status-completed", "check"),
        ("status-pending waiting", "confirm"),
        ("status-pending", "approve"),
    ]
    assert page.count('class="edge"') == 2
    buttons = r'<span class="actions"( hidden)?>\s*<button[^>]*data-action="(\w+)"'
    actions = re.findall(buttons, page)
    assert actions == [("", "complete"), (" hidden", "approve")]
    assert "<script src" not in page  # everything inline: no CDN, no build step
    assert '<link rel="stylesheet"' not in page


def test_names_are_escaped_in_the_page(client: TestClient) -> None:
    import_drill(client, name="<em>x & co")
    execution_id = client.post(
        "/playbooks/<em>x & co/executions", json={"inputs": {"token": "t"}}
    ).json()["execution_id"]

    page = client.get(f"/ui/executions/{execution_id}").text

    assert "&lt;em&gt;x &amp; co" in page
    assert "<em>" not in page


def test_the_view_says_which_step_waits_for_a_person_and_times_finished_ones(
    client: TestClient, session: Session
) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]
    finish_check(session, execution_id)
    client.post(f"/executions/{execution_id}/steps/confirm/complete", json={"by": "bob"})

    view = client.get(f"/ui/executions/{execution_id}/view").json()

    steps = {step["name"]: step for step in view["steps"]}
    assert (view["status"], view["finished"]) == ("running", False)
    assert [name for name, step in steps.items() if step["waiting"]] == ["approve"]
    assert steps["confirm"]["by"] == "bob"
    assert steps["check"]["timing"].endswith(" s")
    assert steps["approve"]["timing"] == ""


def test_an_unknown_run_is_a_404_page_and_a_bad_cursor_a_422(client: TestClient) -> None:
    assert client.get("/ui/executions/nope").status_code == 404
    assert client.get("/ui/executions/nope/view").status_code == 404
    bad = client.get("/ui/executions", params={"cursor": "zz"})
    assert bad.status_code == 422
    assert bad.json()["problems"][0]["field"] == "cursor"


def test_a_run_page_and_its_view_cost_five_selects_each_whatever_the_trail(
    client: TestClient, session: Session
) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]
    counts = [
        selects(session, client, f"/ui/executions/{execution_id}"),
        selects(session, client, f"/ui/executions/{execution_id}/view"),
    ]
    for _ in range(3):  # three more trail entries each time round
        client.post(f"/executions/{execution_id}/pause")
        client.post(f"/executions/{execution_id}/resume")
        client.post(f"/executions/{execution_id}/pause", headers={"X-Request-ID": "again"})
        client.post(f"/executions/{execution_id}/resume")

    # the execution, its step runs, its playbook, its snapshot, its newest trail entries
    assert counts == [5, 5]
    assert selects(session, client, f"/ui/executions/{execution_id}") == 5
    assert selects(session, client, f"/ui/executions/{execution_id}/view") == 5


def test_the_trail_panel_shows_who_did_what_newest_first_in_the_page_and_its_view(
    session: Session,
) -> None:
    with client_of(app_on(session, actor="<b>ops</b>")) as client:
        import_drill(client)
        execution_id = start_drill(client)["execution_id"]
        finish_check(session, execution_id)
        client.post(f"/executions/{execution_id}/steps/confirm/complete")
        client.post(f"/executions/{execution_id}/cancel", json={"reason": "drill over"})

        page = client.get(f"/ui/executions/{execution_id}").text
        view = client.get(f"/ui/executions/{execution_id}/view").json()

    assert [(e["actor"], e["action"], e["step"], e["change"]) for e in view["trail"]] == [
        ("<b>ops</b>", "cancel", None, "running → cancelled"),
        ("<b>ops</b>", "complete_step", "confirm", "pending → completed"),
        ("<b>ops</b>", "start", None, "pending → running"),
    ]
    assert view["trail"][0]["reason"] == "drill over"
    panel = page[page.index('<tbody id="trail">') :]
    rows = re.findall(r"<tr><td[^>]*>[\d:]+</td><td>([^<]*)</td><td>(\w+)</td>", panel)
    assert rows == [
        ("&lt;b&gt;ops&lt;/b&gt;", action) for action in ("cancel", "complete_step", "start")
    ]
    assert "<b>ops</b>" not in page


def test_a_run_page_without_trail_entries_says_so(client: TestClient, session: Session) -> None:
    import_drill(client)
    execution_id = client.post(
        f"/playbooks/{NAME}/executions", json={"inputs": {"token": "t"}, "start": False}
    ).json()["execution_id"]

    page = client.get(f"/ui/executions/{execution_id}").text

    assert '<p id="trail-empty" class="meta">nothing recorded yet</p>' in page


def test_a_service_that_names_the_actor_gets_a_page_that_asks_for_no_name(
    client: TestClient, session: Session
) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]

    anonymous = client.get(f"/ui/executions/{execution_id}").text
    with client_of(app_on(session, actor="<i>dave</i>")) as named:
        page = named.get(f"/ui/executions/{execution_id}").text

    assert '<input id="actor"' in anonymous
    assert '<input id="actor"' not in page
    assert "acting as <strong>&lt;i&gt;dave&lt;/i&gt;</strong>" in page
