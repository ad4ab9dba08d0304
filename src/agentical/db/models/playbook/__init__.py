"""The playbook models, their enums, schemas and errors: the package's public contract."""

from agentical.db.enums import (
    ExecutionStatus,
    PlaybookCategory,
    PlaybookStatus,
    StepStatus,
    StepType,
    VariableScope,
    VariableType,
)
from agentical.db.errors import (
    AgenticalError,
    ConcurrencyLimitError,
    ConflictError,
    IdempotencyConflictError,
    ImportConflictError,
    InvalidInputError,
    InvalidTransitionError,
    LeaseLostError,
    LimitReachedError,
    NotFoundError,
    VariableValidationError,
)
from agentical.db.models.playbook.creation import create_execution
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.planning import PlaybookNotExecutableError
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.sealing import rotate_secrets
from agentical.db.models.playbook.step import PlaybookStep, step_dependencies
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.models.playbook.template import PlaybookTemplate
from agentical.db.models.playbook.variable import PlaybookVariable
from agentical.db.rendering import PlaceholderSyntaxError, RenderError
from agentical.db.runs import hooks as _run_rules  # noqa: F401  (the session listener)

# The run engine's functions, re-exported: they import the model modules above.
from agentical.db.runs.approvals import ApprovalError, approve_step, reject_step
from agentical.db.runs.claims import claim_ready_steps
from agentical.db.runs.control import start_execution
from agentical.db.runs.retries import RetryError
from agentical.db.runs.steps import heartbeat
from agentical.db.runs.timeouts import enforce_timeouts
from agentical.db.schemas.common import SECRET_MASK
from agentical.db.schemas.definition import (
    PlaybookDefinition,
    StepDefinition,
    VariableDefinition,
)
from agentical.db.schemas.definition_errors import DefinitionError, DefinitionProblem
from agentical.db.schemas.definition_io import load_definition, load_definition_file
from agentical.db.schemas.playbook import (
    ExecutionDetailRead,
    PlaybookDetailRead,
    PlaybookExecutionRead,
    PlaybookRead,
    PlaybookStepExecutionRead,
    PlaybookStepRead,
    PlaybookTemplateRead,
    PlaybookVariableRead,
)
from agentical.db.schemas.yaml_format import DocumentSyntaxError

__all__ = [
    "SECRET_MASK",
    "AgenticalError",
    "ApprovalError",
    "ConcurrencyLimitError",
    "ConflictError",
    "DefinitionError",
    "DefinitionProblem",
    "DocumentSyntaxError",
    "ExecutionDetailRead",
    "ExecutionStatus",
    "IdempotencyConflictError",
    "ImportConflictError",
    "InvalidInputError",
    "InvalidTransitionError",
    "LeaseLostError",
    "LimitReachedError",
    "NotFoundError",
    "PlaceholderSyntaxError",
    "Playbook",
    "PlaybookCategory",
    "PlaybookDefinition",
    "PlaybookDetailRead",
    "PlaybookExecution",
    "PlaybookExecutionRead",
    "PlaybookNotExecutableError",
    "PlaybookRead",
    "PlaybookStatus",
    "PlaybookStep",
    "PlaybookStepExecution",
    "PlaybookStepExecutionRead",
    "PlaybookStepRead",
    "PlaybookTemplate",
    "PlaybookTemplateRead",
    "PlaybookVariable",
    "PlaybookVariableRead",
    "RenderError",
    "RetryError",
    "StepDefinition",
    "StepStatus",
    "StepType",
    "VariableDefinition",
    "VariableScope",
    "VariableType",
    "VariableValidationError",
    "approve_step",
    "claim_ready_steps",
    "create_execution",
    "enforce_timeouts",
    "heartbeat",
    "load_definition",
    "load_definition_file",
    "reject_step",
    "rotate_secrets",
    "start_execution",
    "step_dependencies",
]
