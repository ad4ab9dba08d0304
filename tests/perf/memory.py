"""Peak memory of a streamed export, measured in a process of its own.

The bench process has run other benchmarks: memory they freed stays with it and would hide
an export's growth, and ``tracemalloc`` would slow the 100,000 rows threefold. A spawned
process starts clean, so the growth of its peak resident size over the export (Linux's
high-water mark, reset just before) is the export's own, C buffers (the drivers' result
sets) included. Measured so, 5,000 to 100,000 executions grew it by 7 to 8 MB on SQLite.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agentical.db.history import export_executions_jsonl
from agentical.db.models.playbook import PlaybookExecution
from agentical.db.session import create_engine


@dataclass(frozen=True)
class Export:
    written: int
    seconds: float
    peak_growth_mb: float


def _reset_peak() -> None:
    """Start the high-water mark of resident memory again from the current size (Linux:
    ``ru_maxrss`` cannot be used, it keeps the parent's size across ``fork`` and ``exec``)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _resident_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _export(url: str) -> Export:
    engine = create_engine(url)
    try:
        with Session(engine) as session, open(os.devnull, "w") as out:
            session.scalar(select(func.count(PlaybookExecution.id)))  # connected, warmed
            _reset_peak()
            before = _resident_kib("VmRSS")
            start = time.perf_counter()
            written = export_executions_jsonl(session, out)
            seconds = time.perf_counter() - start
            peak = _resident_kib("VmHWM")
    finally:
        engine.dispose()
    return Export(written, seconds, (peak - before) * 1024 / 1e6)


def export_in_a_fresh_process(url: str) -> Export:
    """``export_executions_jsonl`` of the database at ``url`` to ``/dev/null``, in a
    spawned process: rows written, seconds, and the growth of the peak resident size."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_export, (url,))
