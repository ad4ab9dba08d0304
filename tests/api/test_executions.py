"""``/executions``: create (idempotent), list by pages, show, cancel, pause, resume."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import PlaybookExecution
from tests.api.conftest import INPUTS, NAME, app_on, client_of, import_drill, start_drill, step


def test_create_starts_the_execution_with_its_step_runs_and_masks_the_secret(
    client: TestClient,
) -> None:
    import_drill(client)

    document = start_drill(client)

    assert document["status"] == "running"
    assert document["triggered_by"] == "api"
    assert document["input_variables"] == {"token": "********", "region": "us"}
    assert [run["step_name"] for run in document["step_executions"]] == [
        "check",
        "confirm",
        "approve",
    ]


def test_create_with_start_false_leaves_it_pending(client: TestClient) -> None:
    import_drill(client)

    assert start_drill(client, start=False)["status"] == "pending"


def test_the_same_idempotency_key_and_body_answers_200_with_the_same_execution(
    client: TestClient, session: Session
) -> None:
    import_drill(client)
    request = {"json": {"inputs": INPUTS}, "headers": {"Idempotency-Key": "req-1"}}

    first = client.post(f"/playbooks/{NAME}/executions", **request)  # type: ignore[arg-type]
    replay = client.post(f"/playbooks/{NAME}/executions", **request)  # type: ignore[arg-type]

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json()["execution_id"] == first.json()["execution_id"]
    assert replay.json()["status"] == "running"
    assert session.scalar(select(func.count()).select_from(PlaybookExecution)) == 1


def test_the_same_key_with_another_body_is_409_naming_the_key(client: TestClient) -> None:
    import_drill(client)
    headers = {"Idempotency-Key": "req-1"}
    client.post(f"/playbooks/{NAME}/executions", json={"inputs": INPUTS}, headers=headers)

    other = client.post(
        f"/playbooks/{NAME}/executions",
        json={"inputs": INPUTS | {"region": "eu"}},
        headers=headers,
    )

    assert other.status_code == 409
    (problem,) = other.json()["problems"]
    assert problem["field"] == "Idempotency-Key"
    assert "differing: region" in problem["reason"]


def test_bad_inputs_are_422_per_variable_and_nothing_is_stored(
    client: TestClient, session: Session
) -> None:
    import_drill(client)

    response = client.post(
        f"/playbooks/{NAME}/executions", json={"inputs": {"region": "mars", "extra": 1}}
    )

    assert response.status_code == 422
    fields = {problem["field"] for problem in response.json()["problems"]}
    assert {"inputs.token", "inputs.region"} <= fields
    assert session.scalar(select(func.count()).select_from(PlaybookExecution)) == 0


def test_json_input_text_nested_past_the_recursion_limit_is_422_naming_the_input(
    client: TestClient, session: Session
) -> None:
    import_drill(client, variables=[{"name": "cfg", "type": "json"}], steps=[{"name": "a"}])

    response = client.post(f"/playbooks/{NAME}/executions", json={"inputs": {"cfg": "[" * 100_000}})

    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"field": "inputs.cfg", "reason": "nested deeper than 32 levels"}
    ]
    assert session.scalar(select(func.count()).select_from(PlaybookExecution)) == 0


def test_an_unknown_body_field_is_422_naming_it(client: TestClient) -> None:
    import_drill(client)

    response = client.post(f"/playbooks/{NAME}/executions", json={"input": INPUTS})

    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"field": "input", "reason": "Extra inputs are not permitted"}
    ]


def test_a_start_over_the_concurrency_limit_is_429_and_stores_nothing(
    client: TestClient, session: Session
) -> None:
    import_drill(client, max_concurrent_executions=1)
    start_drill(client)

    refused = client.post(f"/playbooks/{NAME}/executions", json={"inputs": INPUTS})

    assert refused.status_code == 429
    assert refused.json()["error"] == "ConcurrencyLimitError"
    assert session.scalar(select(func.count()).select_from(PlaybookExecution)) == 1


def test_a_playbook_without_steps_cannot_run_409(client: TestClient) -> None:
    import_drill(client)
    client.post(f"/playbooks/{NAME}/archive")

    response = client.post(f"/playbooks/{NAME}/executions", json={"inputs": INPUTS})

    assert response.status_code == 409
    assert response.json()["error"] == "PlaybookNotExecutableError"


def test_pages_follow_the_cursor_newest_first_without_repeats(client: TestClient) -> None:
    import_drill(client, max_concurrent_executions=10)
    made = [start_drill(client, start=False)["execution_id"] for _ in range(5)]

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/executions", params=params).json()
        seen += [item["execution_id"] for item in page["items"]]
        assert all(item["input_variables"]["token"] == "********" for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == made[::-1]


def test_list_narrows_by_playbook_and_status(client: TestClient) -> None:
    playbook_id = import_drill(client, max_concurrent_executions=10)["id"]
    import_drill(client, name="Other")
    running = start_drill(client)["execution_id"]
    start_drill(client, start=False)
    client.post("/playbooks/Other/executions", json={"inputs": INPUTS})

    mine = client.get("/executions", params={"playbook_id": playbook_id}).json()["items"]
    mine_running = client.get(
        "/executions", params={"playbook_id": playbook_id, "status": "running"}
    ).json()["items"]

    assert len(mine) == 2
    assert [item["execution_id"] for item in mine_running] == [running]


def test_a_bad_cursor_or_limit_is_422_naming_it(client: TestClient) -> None:
    cursor = client.get("/executions", params={"cursor": "not-a-cursor"})
    limit = client.get("/executions", params={"limit": 0})

    assert cursor.status_code == 422
    assert cursor.json()["problems"][0]["field"] == "cursor"
    assert limit.status_code == 422
    assert limit.json()["problems"][0]["field"] == "limit"


def test_get_shows_the_step_runs_and_404_for_an_unknown_id(client: TestClient) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]

    found = client.get(f"/executions/{execution_id}")
    missing = client.get("/executions/nope")

    assert step(found.json(), "check")["status"] == "pending"
    assert missing.status_code == 404
    assert missing.json()["problems"][0]["reason"] == "no execution 'nope'"


def test_pause_resume_cancel_and_a_cancelled_run_cannot_resume(client: TestClient) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]

    paused = client.post(f"/executions/{execution_id}/pause")
    resumed = client.post(f"/executions/{execution_id}/resume")
    cancelled = client.post(f"/executions/{execution_id}/cancel", json={"reason": "drill over"})
    again = client.post(f"/executions/{execution_id}/resume")

    assert paused.json()["status"] == "paused"
    assert resumed.json()["status"] == "running"
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancellation_reason"] == "drill over"
    assert {run["status"] for run in cancelled.json()["step_executions"]} == {"skipped"}
    assert again.status_code == 409
    assert client.get(f"/executions/{execution_id}").json()["status"] == "cancelled"


def test_the_actor_is_recorded_as_who_started(session: Session) -> None:
    with client_of(app_on(session, actor="alice")) as client:
        import_drill(client)
        execution_id = start_drill(client)["execution_id"]

    started_by = select(PlaybookExecution.started_by).filter_by(execution_id=execution_id)
    assert session.scalar(started_by) == "alice"
