"""Read schema of ``User``. The password hash is never part of it."""

from __future__ import annotations

from agentical.db.schemas.common import ORMRead


class UserRead(ORMRead):
    username: str
    email: str
    full_name: str | None
