"""Console output shared by the commands, and the one place user errors are reported.

A user error is one red line on stderr and exit status 1: no traceback, and never a
password from the database URL. Nothing printed through these consoles can send a control
sequence to the terminal: text from the data (names, descriptions, parameters, messages
that quote them) is shown with its escape and bidi characters escaped.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from alembic.util import CommandError
from rich.console import Console, ConsoleOptions, RenderableType
from rich.markup import escape
from rich.segment import Segment
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from agentical.db.errors import AgenticalError
from agentical.db.limits import visible

P = ParamSpec("P")
R = TypeVar("R")


class SafeConsole(Console):
    """A Rich console that escapes control characters in the text it renders.

    Rich's own control segments (cursor moves of a progress bar) are kept; styles become
    escape codes later, from the segments' styles, so they are unaffected.
    """

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterator[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and segment.text:
                yield Segment(visible(segment.text), segment.style)
            else:
                yield segment


console = SafeConsole(highlight=False, soft_wrap=True)  # the terminal wraps lines, not Rich
errors = SafeConsole(stderr=True, highlight=False, soft_wrap=True)

# Into a pipe or a file, a table is as wide as its rows: `| grep NAME` finds a whole row.
PIPE_WIDTH = 10_000

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout instead of text.")
]

# What a user can cause (bad input, an unreachable or unmigrated database) and can fix.
# (Pydantic's ValidationError is a ValueError; a bad URL's ArgumentError an SQLAlchemyError.)
USER_ERRORS: tuple[type[BaseException], ...] = (
    AgenticalError,  # every refusal of the library (a conflict, a limit, not found)
    ImportError,  # a database driver that is not installed
    ValueError,
    LookupError,
    OSError,
    SQLAlchemyError,
    CommandError,
)

_secrets: set[str] = set()


def hide(secret: str | None) -> None:
    """Never print ``secret`` (e.g. the database password), whatever message carries it."""
    if secret:
        _secrets.add(secret)


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


def fail(message: str) -> NoReturn:
    errors.print(f"[bold red]Error:[/] {escape(redact(message))}")
    raise typer.Exit(1)


def one_line(error: BaseException) -> str:
    driver_error = getattr(error, "orig", None)  # a DBAPIError's cause, without the SQL
    if isinstance(error, SQLAlchemyError) and isinstance(driver_error, BaseException):
        error = driver_error
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except USER_ERRORS as error:
        fail(one_line(error))


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the user errors a command raises into one line and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with user_errors():
            return command(*args, **kwargs)

    return wrapper


def success(message: str) -> None:
    console.print(f"[green]✓[/] {escape(redact(message))}")


def info(message: Any) -> None:
    console.print(message)


def table(*headers: str, **options: Any) -> Table:
    """A table whose cells never wrap: a long name stays on one line (cut with an ellipsis
    only on a terminal too narrow for it), so every row is one line of output."""
    grid = Table(**options)
    for header in headers:
        grid.add_column(header, no_wrap=True, overflow="ellipsis")
    return grid


def print_table(grid: Table) -> None:
    # Asked at print time: stdout is the terminal, a pipe, or a test runner's buffer.
    width = None if console.is_terminal else PIPE_WIDTH
    Console(highlight=False, width=width).print(grid)


def print_json(document: Any) -> None:
    """``document`` as one JSON document on stdout (for scripts: ``| jq``)."""
    typer.echo(redact(json.dumps(document, indent=2, ensure_ascii=False)))
