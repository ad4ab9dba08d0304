"""A worker process's loop over the run engine (``agentical.db.runs``).

``Worker(session_factory, handlers, worker_id=...).run()`` claims the ready steps it has
handlers for, runs them under heartbeated leases and finishes them; see ``loop``.
"""

from agentical.db.worker.handlers import Handler, StepFailed
from agentical.db.worker.loop import DEFAULT_LEASE_SECONDS, Worker, current_lease

__all__ = ["DEFAULT_LEASE_SECONDS", "Handler", "StepFailed", "Worker", "current_lease"]
