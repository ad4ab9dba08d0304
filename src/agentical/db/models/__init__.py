"""SQLAlchemy models. Importing this package registers every table on ``Base.metadata``."""

from agentical.db.models import limits, playbook, user
from agentical.db.models.base import Base, BaseModel

metadata = Base.metadata

__all__ = ["Base", "BaseModel", "limits", "metadata", "playbook", "user"]
