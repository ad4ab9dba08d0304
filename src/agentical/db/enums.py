"""The six enumerations of the playbook contract.

They are ``StrEnum`` so a member compares equal to its stored value and serialises as it.
"""

from enum import StrEnum


class PlaybookCategory(StrEnum):
    INCIDENT_RESPONSE = "incident_response"
    TROUBLESHOOTING = "troubleshooting"
    DEPLOYMENT = "deployment"
    MAINTENANCE = "maintenance"
    SECURITY = "security"
    CODE_REVIEW = "code_review"
    TESTING = "testing"
    RELEASE = "release"
    ONBOARDING = "onboarding"
    MONITORING = "monitoring"
    BACKUP = "backup"
    DISASTER_RECOVERY = "disaster_recovery"
    CAPACITY_PLANNING = "capacity_planning"


class PlaybookStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"
    DEPRECATED = "deprecated"


class ExecutionStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"


class StepType(StrEnum):
    MANUAL = "manual"
    AUTOMATED = "automated"
    CONDITIONAL = "conditional"
    PARALLEL = "parallel"
    SEQUENTIAL = "sequential"
    APPROVAL = "approval"
    NOTIFICATION = "notification"
    WEBHOOK = "webhook"
    SCRIPT = "script"
    API_CALL = "api_call"
    DATABASE = "database"
    FILE_OPERATION = "file_operation"
    EXTERNAL_TOOL = "external_tool"


class StepStatus(StrEnum):
    """Run states of a step execution, plus ``active`` for a step definition in use."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ACTIVE = "active"


class VariableType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    JSON = "json"
    SELECT = "select"
    MULTI_SELECT = "multi_select"
    DATE = "date"
    DATETIME = "datetime"
    FILE = "file"


class VariableScope(StrEnum):
    """Where a variable's value comes from or goes to (not part of the six contract enums)."""

    INPUT = "input"
    OUTPUT = "output"
    INTERNAL = "internal"
