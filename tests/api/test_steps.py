"""``/executions/{id}/steps/{name}/...``: complete a manual step, approve or reject an
approval step; who acted is kept."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import (
    app_on,
    client_of,
    fail_probe,
    finish_check,
    import_drill,
    start_drill,
    step,
)


def ready_for_approval(client: TestClient, session: Session, by: str | None = "bob") -> str:
    import_drill(client)
    execution_id: str = start_drill(client)["execution_id"]
    finish_check(session, execution_id)
    completed = client.post(
        f"/executions/{execution_id}/steps/confirm/complete",
        json={} if by is None else {"by": by},
    )
    assert completed.status_code == 200, completed.text
    return execution_id


def test_a_person_completes_a_ready_manual_step_with_its_output(
    client: TestClient, session: Session
) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]
    finish_check(session, execution_id)

    response = client.post(
        f"/executions/{execution_id}/steps/confirm/complete",
        json={"by": "bob", "output": {"checked": "yes"}},
    )

    assert response.status_code == 200
    confirm = step(response.json(), "confirm")
    assert (confirm["status"], confirm["output_data"]) == ("completed", {"checked": "yes"})


def test_a_manual_step_whose_dependency_is_not_done_is_409_and_unchanged(
    client: TestClient,
) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]

    response = client.post(f"/executions/{execution_id}/steps/confirm/complete", json={"by": "bob"})

    assert response.status_code == 409
    assert "1 dependencies not finished" in response.json()["problems"][0]["reason"]
    document = client.get(f"/executions/{execution_id}").json()
    assert step(document, "confirm")["status"] == "pending"


def test_an_output_no_json_column_can_hold_is_422_and_changes_nothing(
    client: TestClient, session: Session
) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]
    finish_check(session, execution_id)
    path = f"/executions/{execution_id}/steps/confirm/complete"
    deep = "[" * 40 + "]" * 40
    bodies = [
        '{"by": "bob", "output": {"ratio": NaN}}',
        '{"by": "bob", "output": {"big": 123456789012345678901234567890}}',
        '{"by": "bob", "output": {"text": "a\\u0000b"}}',
        f'{{"by": "bob", "output": {{"deep": {deep}}}}}',
    ]
    for body in bodies:
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, (body, response.text)
        assert "output_data" in response.json()["problems"][0]["reason"]
    assert step(client.get(f"/executions/{execution_id}").json(), "confirm")["status"] == "pending"


def test_a_body_that_is_not_json_is_422_on_the_body(client: TestClient) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]
    response = client.post(
        f"/executions/{execution_id}/steps/confirm/complete",
        content='{"by": "bob",',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    (problem,) = response.json()["problems"]
    assert problem["field"] == "body"
    assert problem["reason"].startswith("JSON decode error")


def test_approve_completes_the_step_and_the_run(client: TestClient, session: Session) -> None:
    execution_id = ready_for_approval(client, session)

    response = client.post(
        f"/executions/{execution_id}/steps/approve/approve",
        json={"by": "carol", "comment": "lag is fine"},
    )

    assert response.status_code == 200
    approve = step(response.json(), "approve")
    assert approve["status"] == "completed"
    assert approve["output_data"] == {
        "approved": True,
        "approver": "carol",
        "comment": "lag is fine",
    }
    assert response.json()["status"] == "completed"


def test_reject_fails_the_step_with_the_reason(client: TestClient, session: Session) -> None:
    execution_id = ready_for_approval(client, session)

    response = client.post(
        f"/executions/{execution_id}/steps/approve/reject", json={"by": "carol", "reason": "lag"}
    )

    assert response.status_code == 200
    assert step(response.json(), "approve")["error_message"] == "rejected by carol: lag"
    assert response.json()["status"] == "failed"


def test_a_decision_names_the_missing_person_or_reason_in_422(
    client: TestClient, session: Session
) -> None:
    execution_id = ready_for_approval(client, session)
    url = f"/executions/{execution_id}/steps/approve"

    nobody = client.post(f"{url}/approve", json={})
    blank = client.post(f"{url}/approve", json={"by": "   "})
    no_reason = client.post(f"{url}/reject", json={"by": "carol"})

    assert nobody.status_code == 422
    assert nobody.json()["problems"][0]["field"] == "by"
    assert blank.status_code == 422
    assert blank.json()["problems"][0]["field"] == "by"
    assert no_reason.status_code == 422
    assert no_reason.json()["problems"][0]["field"] == "reason"
    assert step(client.get(f"/executions/{execution_id}").json(), "approve")["status"] == "pending"


def test_approving_a_step_that_is_not_an_approval_or_not_waiting_is_409(
    client: TestClient, session: Session
) -> None:
    execution_id = ready_for_approval(client, session)
    url = f"/executions/{execution_id}/steps"

    wrong_type = client.post(f"{url}/confirm/approve", json={"by": "carol"})
    client.post(f"{url}/approve/approve", json={"by": "carol"})
    twice = client.post(f"{url}/approve/approve", json={"by": "carol"})

    assert wrong_type.status_code == 409
    assert "not an approval" in wrong_type.json()["problems"][0]["reason"]
    assert twice.status_code == 409


def test_an_unknown_step_is_404_naming_it(client: TestClient) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]

    response = client.post(f"/executions/{execution_id}/steps/ghost/approve", json={"by": "x"})

    assert response.status_code == 404
    assert response.json()["problems"][0]["reason"] == (
        f"no step 'ghost' in execution '{execution_id}'"
    )


def test_the_services_actor_decides_and_a_body_may_stay_empty(session: Session) -> None:
    with client_of(app_on(session, actor="dave")) as client:
        execution_id = ready_for_approval(client, session, by=None)
        response = client.post(f"/executions/{execution_id}/steps/approve/approve")

    assert step(response.json(), "approve")["output_data"]["approver"] == "dave"


def branches(client: TestClient) -> str:
    """A running execution of two independent steps, an automated one and a manual one."""
    steps = [
        {"name": "probe", "order": 1, "type": "automated"},
        {"name": "note", "order": 2, "type": "manual"},
    ]
    import_drill(client, steps=steps)
    execution_id: str = start_drill(client)["execution_id"]
    return execution_id


def test_retry_runs_a_failed_step_again_in_a_running_execution(
    client: TestClient, session: Session
) -> None:
    execution_id = branches(client)
    fail_probe(session, execution_id)

    response = client.post(f"/executions/{execution_id}/steps/probe/retry")

    assert response.status_code == 200
    assert step(response.json(), "probe")["status"] == "pending"
    assert response.json()["failed_steps"] == 0
    assert response.json()["status"] == "running"


def test_retrying_a_step_that_did_not_fail_or_in_an_ended_run_is_409_unknown_404(
    client: TestClient, session: Session
) -> None:
    execution_id = branches(client)

    not_failed = client.post(f"/executions/{execution_id}/steps/probe/retry")
    unknown = client.post(f"/executions/{execution_id}/steps/ghost/retry")
    client.post(f"/executions/{execution_id}/cancel")
    ended = client.post(f"/executions/{execution_id}/steps/probe/retry")

    assert not_failed.status_code == 409
    assert ended.status_code == 409
    assert "only a running or paused run retries steps" in ended.json()["problems"][0]["reason"]
    assert unknown.status_code == 404
