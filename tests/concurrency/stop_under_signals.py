"""One process of ``test_worker``'s signal test: ``python -m tests.concurrency.stop_under_signals
SECONDS``.

For ``SECONDS``, workers are made one after another, and each waits for work in the main
thread until a signal handler calls its ``stop()``. A second thread sends the signals
without pause, so that some of them land half-way through a wait. Prints how many workers
were stopped. If a ``stop()`` from a signal handler can block the wait it interrupted, the
process hangs, or dies of the handlers that pile up behind the blocked one.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType

from sqlalchemy.orm import sessionmaker

from agentical.db.enums import StepType
from agentical.db.worker import Worker


def _signal_main_thread(done: threading.Event) -> None:
    main = threading.main_thread().ident
    assert main is not None
    while not done.is_set():
        signal.pthread_kill(main, signal.SIGUSR1)
        time.sleep(0.0001)


def main(seconds: float) -> int:
    current: list[Worker] = []

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        if current:
            current[-1].stop()

    signal.signal(signal.SIGUSR1, on_signal)
    done = threading.Event()
    sender = threading.Thread(target=_signal_main_thread, args=(done,), daemon=True)
    sender.start()
    stopped = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            worker = Worker(sessionmaker(), {StepType.AUTOMATED: dict}, worker_id="w1")
            current[:] = [worker]
            while not worker.stopping:
                worker.wait_for_work(0.0)
            stopped += 1
    finally:
        done.set()
        sender.join()
    return stopped


if __name__ == "__main__":
    print(main(float(sys.argv[1])))
