"""Read schema of an audit entry (``AuditEntry.to_dict()``, ``agentical audit --json``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentical.db.audit import AuditAction


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int | None
    created_at: datetime | None
    actor: str
    action: AuditAction
    playbook_uuid: uuid.UUID | None
    playbook_name: str | None
    playbook_version: int | None
    execution_id: str | None
    step_name: str | None
    from_status: str | None
    to_status: str | None
    reason: str | None
    request_id: str | None
    details: dict[str, Any]
