"""``agentical worker``: run the worker with handlers imported from the user's code.

``--handlers package.module:attribute`` names a mapping of step types and step names to
callables, as ``agentical.db.worker.Worker`` takes it. The current folder is importable,
as for ``python -m``. The worker runs until SIGTERM or SIGINT, then finishes the step in
hand, gives back the others and exits 0.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.text import Text

from agentical.cli.context import settings
from agentical.cli.output import JsonOption, errors, info, print_json, reports_errors, success
from agentical.db.session import session_factory
from agentical.db.worker import DEFAULT_LEASE_SECONDS, Worker


def load_handlers(reference: str) -> Mapping[Any, Any]:
    """The mapping ``reference`` (``package.module:attribute``) names."""
    module_name, _, attribute = reference.partition(":")
    if not module_name.strip() or not attribute.strip():
        raise ValueError(f"--handlers expects package.module:attribute, got '{reference}'")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name.strip())
    handlers = getattr(module, attribute.strip(), None)
    if handlers is None:
        raise ValueError(f"--handlers: module '{module_name}' has no attribute '{attribute}'")
    if not isinstance(handlers, Mapping):
        raise ValueError(
            f"--handlers: {reference} is a {type(handlers).__name__}, not a mapping of "
            "step types or step names to callables"
        )
    return handlers


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@reports_errors
def worker(
    ctx: typer.Context,
    handlers: Annotated[
        str,
        typer.Option(
            help="package.module:attribute, a mapping of step types or names to callables."
        ),
    ],
    worker_id: Annotated[
        str | None, typer.Option(help="Recorded on the steps it claims (default: host-pid).")
    ] = None,
    lease_seconds: Annotated[
        float, typer.Option(help="How long a claim holds without a heartbeat.")
    ] = DEFAULT_LEASE_SECONDS,
    poll_interval: Annotated[
        float, typer.Option(help="Seconds between claims when idle (doubling up to 5 s).")
    ] = 0.5,
    as_json: JsonOption = False,
) -> None:
    """Run steps with your handlers until SIGTERM or Ctrl-C (with ``--json``, the start
    line goes to stderr and one JSON document is printed when the worker stops)."""
    table = load_handlers(handlers)
    identity = worker_id or _default_worker_id()
    engine = settings(ctx).engine()
    try:
        loop = Worker(
            session_factory(engine),
            table,
            worker_id=identity,
            lease_seconds=lease_seconds,
            poll_interval=poll_interval,
            max_poll_interval=max(poll_interval, 5.0),
        )
        keys = sorted(str(key) for key in table)
        started = Text(
            f"worker {identity} on {settings(ctx).display_url}: handles {', '.join(keys)}"
        )
        if as_json:
            errors.print(started)
        else:
            info(started)
        loop.run()
    finally:
        engine.dispose()
    if as_json:
        print_json({"worker_id": identity, "handles": keys, "status": "stopped"})
    else:
        success(f"worker {identity} stopped")
