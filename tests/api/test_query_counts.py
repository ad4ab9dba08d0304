"""Lists and details cost a fixed number of SELECTs, whatever the number of rows (no N+1)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from agentical.db.testing.queries import count_queries
from tests.api.conftest import NAME, import_drill, start_drill


def selects(session: Session, client: TestClient, url: str) -> int:
    with count_queries(session.connection()) as log:
        response = client.get(url)
    assert response.status_code == 200, response.text
    return sum(statement.lstrip().upper().startswith("SELECT") for statement in log.statements)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/playbooks", 3),  # playbooks, steps with dependency ids, variables
        ("/playbooks?all_versions=true", 3),
        ("/executions?limit=100", 2),  # executions, their definition snapshots
        ("/templates", 1),
        (f"/playbooks/{NAME}", 3),
        ("/audit?limit=100", 1),  # the entries: nothing is loaded per entry
        (f"/playbooks/{NAME}/audit?limit=100", 1),
        ("/audit?action=start&actor=system&since=2000-01-01T00:00:00Z&limit=100", 1),
    ],
)
def test_a_list_costs_the_same_selects_for_2_or_6_rows(
    client: TestClient, session: Session, url: str, expected: int
) -> None:
    counts: list[int] = []
    for _round in range(2):
        for _ in range(2 if not counts else 4):
            import_drill(client, max_concurrent_executions=100)
            start_drill(client)
            client.post("/templates", json={"playbook": NAME, "name": f"t{len(counts)}{_}"})
        counts.append(selects(session, client, url))

    assert counts == [expected, expected]


def test_an_execution_with_its_step_runs_costs_four_selects(
    client: TestClient, session: Session
) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]

    assert selects(session, client, f"/executions/{execution_id}") == 4


def test_an_executions_audit_trail_costs_one_select(client: TestClient, session: Session) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]
    client.post(f"/executions/{execution_id}/pause")
    client.post(f"/executions/{execution_id}/resume")

    assert selects(session, client, f"/executions/{execution_id}/audit") == 1
