"""SQLAlchemy models. Importing this package registers every table on ``Base.metadata``."""

from agentical.db.models import audit, limits, playbook, user
from agentical.db.models.base import Base, BaseModel

metadata = Base.metadata

__all__ = ["Base", "BaseModel", "audit", "limits", "metadata", "playbook", "user"]
