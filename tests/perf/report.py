"""Benchmark results: each one a figure, the baseline's figure from the same run, a target."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_FILE = Path(__file__).with_name("results.json")


@dataclass
class Result:
    benchmark: str
    database: str
    figure: float
    unit: str
    target: str
    met: bool
    baseline: float | None = None
    baseline_name: str = ""
    ratio: float | None = None
    note: str = ""


@dataclass
class Results:
    rows: list[Result]

    def add(self, result: Result) -> Result:
        self.rows.append(result)
        return result

    def table(self) -> str:
        """A Markdown table, one row per result."""
        lines = [
            "| benchmark | db | figure | baseline | ratio | target | met |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in self.rows:
            baseline = (
                "-"
                if row.baseline is None
                else f"{_number(row.baseline)} {row.unit} ({row.baseline_name})"
            )
            ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
            figure = f"{_number(row.figure)} {row.unit}"
            if row.note:
                figure += f" ({row.note})"
            lines.append(
                f"| {row.benchmark} | {row.database} | {figure} | {baseline} | {ratio} "
                f"| {row.target} | {'yes' if row.met else '**no**'} |"
            )
        return "\n".join(lines)

    def write(self, path: Path = RESULTS_FILE) -> None:
        path.write_text(json.dumps([asdict(row) for row in self.rows], indent=2) + "\n")


UNIT_SCALE = {"ms": 1e3, "µs": 1e6}


def timing(
    benchmark: str,
    database: str,
    seconds: tuple[float, float],
    baseline_name: str,
    *,
    limit: float | None,
    unit: str = "ms",
    note: str = "",
) -> Result:
    """A timing row from ``(project, baseline)`` seconds: met when the ratio is at most
    ``limit``; a row without a limit is shown for information."""
    project, baseline = seconds
    ratio = project / baseline
    target = "-" if limit is None else f"ratio <= {limit:g}"
    return Result(
        benchmark=benchmark,
        database=database,
        figure=project * UNIT_SCALE[unit],
        unit=unit,
        baseline=baseline * UNIT_SCALE[unit],
        baseline_name=baseline_name,
        ratio=ratio,
        target=f"{target} ({note})" if note else target,
        met=limit is None or ratio <= limit,
    )


def _number(value: float) -> str:
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def best_time(run: Callable[[], object], *, setup: Callable[[], object] | None = None) -> float:
    """Seconds ``run()`` took, after ``setup()`` (not timed) and a full collection."""
    if setup is not None:
        setup()
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def compare(
    project: Callable[[], float], baseline: Callable[[], float], *, repeat: int
) -> tuple[float, float]:
    """The best of ``repeat`` alternating runs of each (seconds): alternating keeps a
    busy machine's noise on both sides."""
    project_times, baseline_times = [], []
    for _ in range(repeat):
        project_times.append(project())
        baseline_times.append(baseline())
    return min(project_times), min(baseline_times)


def throughput(
    benchmark: str,
    database: str,
    rates: tuple[float, float],
    baseline_name: str,
    *,
    at_least: float,
    unit: str = "steps/s",
    note: str = "",
) -> Result:
    """A throughput row from ``(project, baseline)`` rates: met when the ratio is at least
    ``at_least``."""
    project, baseline = rates
    ratio = project / baseline
    return Result(
        benchmark=benchmark,
        database=database,
        figure=project,
        unit=unit,
        baseline=baseline,
        baseline_name=baseline_name,
        ratio=ratio,
        target=f"ratio >= {at_least:g}" + (f" ({note})" if note else ""),
        met=ratio >= at_least,
    )


def best_rates(
    project: Callable[[], float], baseline: Callable[[], float], *, repeat: int
) -> tuple[float, float]:
    """The best of ``repeat`` alternating runs of each (a rate: higher is better)."""
    project_rates, baseline_rates = [], []
    for _ in range(repeat):
        project_rates.append(project())
        baseline_rates.append(baseline())
    return max(project_rates), max(baseline_rates)
