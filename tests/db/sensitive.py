"""A playbook with one sensitive and one plain variable, for the tests of secrets."""

from __future__ import annotations

from sqlalchemy.orm import Session

from agentical.db.enums import VariableType
from agentical.db.models.playbook import Playbook, PlaybookVariable
from agentical.db.testing.factories import make_playbook


def sensitive_playbook(session: Session, secret: str) -> Playbook:
    """One step; ``api_key`` (sensitive, default ``secret``) and ``region`` (plain)."""
    variables = [
        PlaybookVariable(
            variable_name="api_key",
            variable_type=VariableType.STRING,
            is_sensitive=True,
            default_value=secret,
        ),
        PlaybookVariable(variable_name="region", variable_type=VariableType.STRING),
    ]
    return make_playbook(session, steps=1, variables=variables)
