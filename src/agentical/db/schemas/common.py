"""Pieces shared by the read schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

SECRET_MASK = "********"


class ORMRead(BaseModel):
    """Columns every table has; read straight from ORM attributes."""

    model_config = ConfigDict(from_attributes=True)

    id: int | None
    uuid: uuid.UUID | None
    created_at: datetime | None
    updated_at: datetime | None
    is_active: bool | None


def mask_secrets(values: dict[str, Any] | None, secret_names: Any) -> dict[str, Any]:
    """``values`` with every key named in ``secret_names`` replaced by the mask."""
    names = set(secret_names or ())
    return {key: SECRET_MASK if key in names else value for key, value in (values or {}).items()}
