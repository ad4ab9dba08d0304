"""The OpenAPI schema, fuzzed: requests generated from it (valid and invalid) never get a
500, never see a secret, and are answered as the schema says (status, type, body).

Bounded: a few dozen examples per operation, so one database takes seconds. The database
holds a playbook with a sensitive default and a running execution with a secret input.
"""

from __future__ import annotations

import os
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from tests.api.conftest import DRILL, INPUTS, SECRET, app_on, client_of, import_drill, start_drill

EXAMPLES = int(os.environ.get("AGENTICAL_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_generated_requests_get_no_500_no_secret_and_schema_conforming_answers(
    session: Session, database: str, mode: schemathesis.GenerationMode
) -> None:
    if database == "mariadb":
        pytest.skip("the fuzz runs on SQLite and PostgreSQL; the API tests cover MariaDB")
    app = app_on(session)
    with client_of(app) as client:
        secret_default = DRILL["variables"][0] | {"required": False, "default": SECRET}
        import_drill(client, variables=[secret_default, DRILL["variables"][1]])
        start_drill(client, inputs=INPUTS)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)

    for operation in schema.get_all_operations():
        if isinstance(operation, Err):
            raise operation.err()  # a route whose schema cannot be read
        api_operation = operation.ok()

        @given(case=api_operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def answers_well(case: Any) -> None:
            response = case.call()
            assert SECRET not in response.text, case.as_curl_command()
            case.validate_response(response, checks=CHECKS)

        try:
            answers_well()
        except hypothesis.errors.Unsatisfiable:
            # Negative mode: an operation whose every possible request is valid.
            assert mode is schemathesis.GenerationMode.NEGATIVE, api_operation.label
