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
    ConcurrencyLimitError,
    InvalidTransitionError,
    VariableValidationError,
)
from agentical.db.models.playbook.claiming import claim_ready_steps
from agentical.db.models.playbook.concurrency import start_execution
from agentical.db.models.playbook.creation import create_execution
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.planning import PlaybookNotExecutableError
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.sealing import rotate_secrets
from agentical.db.models.playbook.step import PlaybookStep, step_dependencies
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.models.playbook.template import PlaybookTemplate
from agentical.db.models.playbook.variable import PlaybookVariable
from agentical.db.rendering import RenderError
from agentical.db.schemas.common import SECRET_MASK
from agentical.db.schemas.definition import (
    PlaybookDefinition,
    StepDefinition,
    VariableDefinition,
)
from agentical.db.schemas.definition_errors import DefinitionError, DefinitionProblem
from agentical.db.schemas.definition_io import load_definition, load_definition_file
from agentical.db.schemas.playbook import (
    PlaybookExecutionRead,
    PlaybookRead,
    PlaybookStepExecutionRead,
    PlaybookStepRead,
    PlaybookTemplateRead,
    PlaybookVariableRead,
)

__all__ = [
    "SECRET_MASK",
    "ConcurrencyLimitError",
    "DefinitionError",
    "DefinitionProblem",
    "ExecutionStatus",
    "InvalidTransitionError",
    "Playbook",
    "PlaybookCategory",
    "PlaybookDefinition",
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
    "StepDefinition",
    "StepStatus",
    "StepType",
    "VariableDefinition",
    "VariableScope",
    "VariableType",
    "VariableValidationError",
    "claim_ready_steps",
    "create_execution",
    "load_definition",
    "load_definition_file",
    "rotate_secrets",
    "start_execution",
    "step_dependencies",
]
