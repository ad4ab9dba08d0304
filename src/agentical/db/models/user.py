"""The user table that ownership columns point at."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from agentical.db.models.base import BaseModel, table_args
from agentical.db.schemas.user import UserRead


class User(BaseModel):
    __tablename__ = "users"
    __read_schema__ = UserRead
    __table_args__ = table_args()

    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(255), default=None)
