"""One person acts per request: the service's actor (or the body's ``by``) is the one the
action names and the audit trail records, with the request's ``X-Request-ID``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from agentical.db import history
from agentical.db.models.audit import AuditEntry
from tests.api.conftest import app_on, client_of, finish_check, import_drill, start_drill, step


def trail_of(session: Session, execution_id: str) -> list[AuditEntry]:
    return list(session.scalars(history.audit_trail(execution=execution_id)))


def rows(entries: list[AuditEntry]) -> list[tuple[Any, ...]]:
    return [(e.action.value, e.step_name, e.actor, e.request_id) for e in reversed(entries)]


def test_the_services_actor_is_the_approver_and_the_trails_actor_with_the_request_id(
    session: Session,
) -> None:
    with client_of(app_on(session, actor="dave")) as client:
        import_drill(client)
        started = client.post(
            "/playbooks/API drill/executions",
            json={"inputs": {"token": "t"}},
            headers={"X-Request-ID": "req-start"},
        )
        execution_id = started.json()["execution_id"]
        finish_check(session, execution_id)
        url = f"/executions/{execution_id}/steps"
        client.post(f"{url}/confirm/complete", headers={"X-Request-ID": "req-confirm"})
        approved = client.post(f"{url}/approve/approve", headers={"X-Request-ID": "req-ok"})

    assert step(approved.json(), "approve")["completed_by"] == "dave"
    assert rows(trail_of(session, execution_id)) == [
        ("start", None, "dave", "req-start"),
        ("complete_step", "confirm", "dave", "req-confirm"),
        ("approve", "approve", "dave", "req-ok"),
        ("complete", None, "dave", "req-ok"),
    ]


def test_without_a_service_actor_the_bodys_by_acts(session: Session) -> None:
    with client_of(app_on(session)) as client:
        import_drill(client)
        execution_id = start_drill(client, by="erin")["execution_id"]
        finish_check(session, execution_id)
        url = f"/executions/{execution_id}/steps"
        client.post(f"{url}/confirm/complete", json={"by": "frank"})
        client.post(f"{url}/approve/reject", json={"by": "gina", "reason": "no"})

    assert rows(trail_of(session, execution_id)) == [
        ("start", None, "erin", None),
        ("complete_step", "confirm", "frank", None),
        ("reject", "approve", "gina", None),
        ("fail", None, "gina", None),
    ]


def test_a_by_that_is_not_the_services_actor_is_refused_and_changes_nothing(
    session: Session,
) -> None:
    with client_of(app_on(session, actor="dave")) as client:
        import_drill(client)
        execution_id = start_drill(client)["execution_id"]
        finish_check(session, execution_id)
        before = trail_of(session, execution_id)
        refused = client.post(
            f"/executions/{execution_id}/steps/confirm/complete", json={"by": "mallory"}
        )
        same = client.post(
            f"/executions/{execution_id}/steps/confirm/complete", json={"by": "dave"}
        )

    assert refused.status_code == 422
    assert refused.json()["problems"] == [
        {"field": "by", "reason": "the service acts as 'dave' here, not 'mallory'"}
    ]
    assert same.status_code == 200
    assert [e.action.value for e in trail_of(session, execution_id)] == [
        "complete_step",
        *[e.action.value for e in before],
    ]


def test_pause_resume_and_cancel_are_the_services_actor_or_system(session: Session) -> None:
    with client_of(app_on(session, actor="hal")) as client:
        import_drill(client)
        execution_id = start_drill(client)["execution_id"]
        client.post(f"/executions/{execution_id}/pause", headers={"X-Request-ID": "r1"})
    with client_of(app_on(session)) as client:
        client.post(f"/executions/{execution_id}/resume")
        client.post(f"/executions/{execution_id}/cancel", json={"reason": "drill over"})

    assert rows(trail_of(session, execution_id))[1:] == [
        ("pause", None, "hal", "r1"),
        ("resume", None, "system", None),
        ("cancel", None, "system", None),
    ]


def test_a_request_id_that_is_blank_or_too_long_is_422_and_nothing_is_done(
    session: Session,
) -> None:
    with client_of(app_on(session, actor="dave")) as client:
        import_drill(client)
        execution_id = start_drill(client)["execution_id"]
        answers = [
            client.post(f"/executions/{execution_id}/pause", headers={"X-Request-ID": value})
            for value in ("", "x" * 256)
        ]
        shown = client.get(f"/executions/{execution_id}")

    assert [answer.status_code for answer in answers] == [422, 422]
    assert {answer.json()["problems"][0]["field"] for answer in answers} == {"X-Request-ID"}
    assert shown.json()["status"] == "running"
