"""One worker process of ``test_worker_processes``: ``python -m tests.concurrency.worker_process
URL WORKER_ID MARKER_FOLDER``. Runs until SIGTERM.

Every output and failure message says which worker and attempt produced it, so the test
can check it against the row's ``claimed_by`` and ``attempt``.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

from agentical.db.session import create_engine, session_factory
from agentical.db.worker import Handler, StepFailed, Worker, current_lease

LEASE_SECONDS = 2.0
STEP_SECONDS = 0.05


def _signature() -> str:
    lease = current_lease()
    return f"by {lease.worker_id} attempt {lease.token}"


def _done(_: dict[str, Any]) -> dict[str, Any]:
    time.sleep(STEP_SECONDS)
    lease = current_lease()
    return {"worker": lease.worker_id, "attempt": lease.token}


def handlers(markers: Path) -> dict[str, Handler]:
    def left(parameters: dict[str, Any]) -> dict[str, Any]:
        if parameters["doomed"] == "yes":
            raise StepFailed(f"doomed {_signature()}")
        return _done(parameters)

    def flaky(parameters: dict[str, Any]) -> dict[str, Any]:
        """Fails the first time any worker runs it (a marker file per step run)."""
        try:
            (markers / str(current_lease().step_run_id)).touch(exist_ok=False)
        except FileExistsError:
            return _done(parameters)
        raise RuntimeError(f"first attempt fails {_signature()}")

    def optional(_: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError(f"optional fails {_signature()}")

    return {
        "start": _done,
        "left": left,
        "right": _done,
        "flaky": flaky,
        "optional": optional,
        "join": _done,
    }


def main(url: str, worker_id: str, markers: str) -> None:
    engine = create_engine(url)
    try:
        worker = Worker(
            session_factory(engine),
            handlers(Path(markers)),
            worker_id=worker_id,
            lease_seconds=LEASE_SECONDS,
            poll_interval=0.05,
            max_poll_interval=0.2,
        )
        # SIGTERM stops the worker from here on (run() installs its own meanwhile); the
        # test waits for this file before it sends one.
        signal.signal(signal.SIGTERM, lambda _number, _frame: worker.stop())
        (Path(markers).parent / f"{worker_id}.ready").touch()
        worker.run()
    finally:
        engine.dispose()


if __name__ == "__main__":
    main(*sys.argv[1:4])
