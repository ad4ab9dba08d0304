"""The run engine: the state machine of a playbook run, as functions of a session.

The models are data with in-memory transitions; everything a run's state means (which
step may run, who holds it, what a finished step releases, when the run ends, the
playbook's concurrency limit, timeouts) is decided here, once, and the model methods
reach the same code through ``hooks`` when their changes are flushed.
"""

import agentical.db.models.playbook  # noqa: F401  (the models first: they import this package's modules)
from agentical.db.errors import LeaseLostError
from agentical.db.runs import hooks  # noqa: F401  (installs the session listener)
from agentical.db.runs.approvals import ApprovalError, approve_step, reject_step
from agentical.db.runs.claims import DEFAULT_LEASE_SECONDS, claim_ready_steps
from agentical.db.runs.control import (
    cancel_execution,
    pause_execution,
    resume_execution,
    start_execution,
)
from agentical.db.runs.leases import Lease, lease_of
from agentical.db.runs.retries import RetryError, retry_step
from agentical.db.runs.steps import complete_step, fail_step, heartbeat, release_step
from agentical.db.runs.timeouts import TimeoutReport, enforce_timeouts
from agentical.db.runs.wakeup import ReadyListener

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "ApprovalError",
    "Lease",
    "LeaseLostError",
    "ReadyListener",
    "RetryError",
    "TimeoutReport",
    "approve_step",
    "cancel_execution",
    "claim_ready_steps",
    "complete_step",
    "enforce_timeouts",
    "fail_step",
    "heartbeat",
    "lease_of",
    "pause_execution",
    "reject_step",
    "release_step",
    "resume_execution",
    "retry_step",
    "start_execution",
]
