"""``agentical db clean``: delete finished executions older than an age, in batches."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy.orm import Session

from agentical.cli.context import settings
from agentical.cli.output import JsonOption, console, print_json, reports_errors, success
from agentical.db.history import PurgeResult, purge_executions
from agentical.db.types import utc_now

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
AGE = re.compile(r"(\d+)([smhdw])")


def moment_ago(text: str, option: str = "--older-than") -> datetime:
    """``90d`` -> the moment 90 days ago; a positive whole number and one unit of
    ``s m h d w``, no further back than the calendar goes (year 1)."""
    match = AGE.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise typer.BadParameter(
            f"expected a positive whole number and a unit (s, m, h, d, w), e.g. 90d; got {text!r}",
            param_hint=option,
        )
    try:
        return utc_now() - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise typer.BadParameter(
            f"{text.strip()} ago is before the year 1", param_hint=option
        ) from None


@contextmanager
def _archive(path: Path | None) -> Iterator[IO[str] | None]:
    # Appended to, never truncated: after a stopped purge the lines of the runs it deleted
    # stay, and the re-run adds the rest.
    with path.open("a", encoding="utf-8") if path is not None else nullcontext() as out:
        yield out


def _summary(result: PurgeResult) -> dict[str, int | bool]:
    return {
        "dry_run": result.dry_run,
        "matched_executions": result.matched,
        "matched_step_executions": result.matched_step_executions,
        "deleted_executions": result.executions,
        "deleted_step_executions": result.step_executions,
        "archived": result.archived,
        "batches": result.batches,
        "deleted_snapshots": result.snapshots,
    }


@reports_errors
def clean(
    ctx: typer.Context,
    older_than: Annotated[
        str, typer.Option(help="Delete runs that finished longer ago than this: 90d, 12h, 2w.")
    ],
    keep_last: Annotated[
        int | None, typer.Option(min=0, help="Keep each playbook's N most recent runs.")
    ] = None,
    playbook: Annotated[
        str | None, typer.Option(help="Only the runs of this playbook (every version).")
    ] = None,
    archive: Annotated[
        Path | None,
        typer.Option(help="Append each batch as JSON lines (secrets masked) before deleting it."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Count what would go; delete nothing.")] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Executions per batch (one transaction each).")
    ] = 1000,
    pause: Annotated[
        float, typer.Option(min=0, help="Seconds to wait after each batch, for busy workers.")
    ] = 0.0,
    as_json: JsonOption = False,
) -> None:
    """Delete finished executions (completed, failed, cancelled) and their step runs.

    Each batch is committed on its own: stopped at any point, run it again. On a busy
    database, ``--pause`` leaves the workers room between batches.
    """
    finished_before = moment_ago(older_than)
    engine = settings(ctx).engine()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    try:
        with (
            _archive(archive) as out,
            Session(engine) as session,
            Progress(*columns, console=console, transient=True, disable=as_json) as progress,
        ):
            task = progress.add_task("deleting executions", total=None)

            def on_batch(so_far: PurgeResult) -> None:
                progress.update(task, total=so_far.matched, completed=so_far.executions)
                if pause and so_far.batches:
                    time.sleep(pause)

            result = purge_executions(
                session,
                finished_before=finished_before,
                keep_last=keep_last,
                playbook=playbook,
                batch_size=batch_size,
                dry_run=dry_run,
                archive=out,
                on_batch=on_batch,
            )
    finally:
        engine.dispose()
    if as_json:
        print_json(_summary(result))
    elif dry_run:
        success(
            f"would delete {result.matched} executions and {result.matched_step_executions} "
            f"step executions finished before {finished_before:%Y-%m-%d %H:%M} UTC"
        )
    else:
        archived = f"; {result.archived} archived to {archive}" if archive is not None else ""
        success(
            f"deleted {result.executions} executions and {result.step_executions} step "
            f"executions in {result.batches} batches{archived}; {result.snapshots} definition "
            "snapshots no run used any more"
        )
