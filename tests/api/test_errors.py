"""Errors to answers: a database that gave way to another transaction is a 409 to send
again, with nothing changed."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg.errors
import pymysql.err
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from agentical.api.errors import transient
from tests.api.conftest import import_drill, start_drill

GIVING_WAY = {
    "postgresql deadlock": psycopg.errors.DeadlockDetected("deadlock detected"),
    "postgresql serialization": psycopg.errors.SerializationFailure("could not serialize"),
    "mariadb deadlock": pymysql.err.OperationalError(1213, "Deadlock found"),
    "mariadb lock wait": pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"),
    "sqlite busy": sqlite3.OperationalError("database is locked"),
}


@pytest.mark.parametrize("cause", GIVING_WAY.values(), ids=list(GIVING_WAY))
def test_a_database_giving_way_is_transient(cause: Exception) -> None:
    assert transient(OperationalError("UPDATE ...", {}, cause))


@pytest.mark.parametrize(
    "cause",
    [
        psycopg.errors.UndefinedTable("no such table"),
        pymysql.err.OperationalError(2003, "Can't connect"),
        sqlite3.OperationalError("no such table: playbooks"),
    ],
)
def test_other_database_errors_are_not(cause: Exception) -> None:
    assert not transient(OperationalError("SELECT ...", {}, cause))


def test_a_request_the_database_rolled_back_is_409_to_send_again_and_changes_nothing(
    client: TestClient, session: Session
) -> None:
    import_drill(client)
    execution_id = start_drill(client)["execution_id"]

    def give_way(*_: Any) -> None:
        raise OperationalError("COMMIT", {}, GIVING_WAY["postgresql deadlock"])

    event.listen(session, "before_commit", give_way)
    try:
        refused = client.post(f"/executions/{execution_id}/cancel", json={"reason": "stop"})
    finally:
        event.remove(session, "before_commit", give_way)

    assert refused.status_code == 409
    assert refused.json()["error"] == "TransactionConflict"
    assert "send it again" in refused.json()["problems"][0]["reason"]
    assert client.get(f"/executions/{execution_id}").json()["status"] == "running"
    again = client.post(f"/executions/{execution_id}/cancel", json={"reason": "stop"})
    assert (again.status_code, again.json()["status"]) == (200, "cancelled")
