"""``/audit``, ``/executions/{id}/audit`` and ``/playbooks/{name}/audit``: the trail,
newest first, narrowed by subject, actor, action and time, in keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import NAME, app_on, client_of, import_drill, start_drill


def items(client: TestClient, url: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def test_an_executions_trail_says_who_did_each_transition_newest_first(
    session: Session,
) -> None:
    with client_of(app_on(session, actor="ops-bot")) as client:
        import_drill(client)
        execution_id = start_drill(client)["execution_id"]
        client.post(f"/executions/{execution_id}/pause", headers={"X-Request-ID": "r-7"})
        client.post(f"/executions/{execution_id}/cancel", json={"reason": "drill over"})
        trail = items(client, f"/executions/{execution_id}/audit")

    assert [(e["action"], e["from_status"], e["to_status"]) for e in trail] == [
        ("cancel", "paused", "cancelled"),
        ("pause", "running", "paused"),
        ("start", "pending", "running"),
    ]
    assert {e["actor"] for e in trail} == {"ops-bot"}
    assert (trail[0]["reason"], trail[1]["request_id"]) == ("drill over", "r-7")
    assert {e["execution_id"] for e in trail} == {execution_id}


def test_a_playbooks_trail_has_every_version_or_the_one_asked_for(client: TestClient) -> None:
    import_drill(client)
    import_drill(client)
    client.post(f"/playbooks/{NAME}/publish", params={"version": 1})

    every = items(client, f"/playbooks/{NAME}/audit")
    second = items(client, f"/playbooks/{NAME}/audit", version=2)

    assert [(e["action"], e["playbook_version"]) for e in every] == [
        ("publish", 1),
        ("import", 2),
        ("import", 1),
    ]
    assert [(e["action"], e["playbook_version"]) for e in second] == [("import", 2)]
    assert items(client, "/playbooks/Nothing here/audit") == []


def test_the_whole_trail_narrows_by_actor_action_and_time(session: Session) -> None:
    with client_of(app_on(session, actor="alice")) as client:
        import_drill(client)
    with client_of(app_on(session, actor="bob")) as client:
        execution_id = start_drill(client)["execution_id"]
        client.post(f"/executions/{execution_id}/pause")
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

        by_bob = items(client, "/audit", actor="bob")
        starts_and_imports = items(client, "/audit", action=["start", "import"])
        from_later = items(client, "/audit", since=later)

    assert [e["action"] for e in by_bob] == ["pause", "start"]
    assert [(e["action"], e["actor"]) for e in starts_and_imports] == [
        ("start", "bob"),
        ("import", "alice"),
    ]
    assert from_later == []


def test_pages_follow_the_cursor_without_repeats(client: TestClient) -> None:
    import_drill(client, max_concurrent_executions=10)
    for _ in range(4):
        start_drill(client)
    seen: list[int] = []
    cursor = None
    while True:
        page = client.get("/audit", params={"limit": 2} | ({"cursor": cursor} if cursor else {}))
        seen += [entry["id"] for entry in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break

    assert seen == [entry["id"] for entry in items(client, "/audit", limit=100)]
    assert len(seen) == len(set(seen)) == 5  # an import, four starts


def test_bad_filters_are_422_naming_the_field(client: TestClient) -> None:
    answers = {
        "actor": client.get("/audit", params={"actor": "a\tb"}),
        "action": client.get("/audit", params={"action": "explode"}),
        "since": client.get("/audit", params={"since": "2026-01-01T00:00:00"}),  # no zone
        "cursor": client.get("/audit", params={"cursor": "not-a-cursor"}),
        "limit": client.get("/executions/x/audit", params={"limit": 0}),
    }

    for field, answer in answers.items():
        assert answer.status_code == 422, field
        assert answer.json()["problems"][0]["field"].startswith(field), answer.json()


def test_a_since_past_the_calendars_end_in_utc_is_422_naming_it(client: TestClient) -> None:
    for edge in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        answer = client.get("/audit", params={"since": edge})
        assert answer.status_code == 422, edge
        assert answer.json()["problems"][0]["reason"].startswith("since: "), answer.json()


def test_a_subject_no_stored_text_can_name_has_an_empty_trail(client: TestClient) -> None:
    assert items(client, "/executions/a%00b/audit") == []
    assert items(client, "/playbooks/a%00b/audit") == []
