"""Count the SQL statements a block of code sends, to pin loaders against N+1 regressions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event


@dataclass
class QueryLog:
    """The statements seen so far; an ``executemany`` counts once (one round of the DBAPI)."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_queries(bind: Engine | Connection) -> Iterator[QueryLog]:
    """Record every statement sent through ``bind`` while the block runs.

    Uses ``before_cursor_execute``, so statements sent by lazy loads, eager loaders and
    flushes are all counted::

        with count_queries(session.connection()) as log:
            session.scalars(Playbook.select_full()).all()
        assert log.count == 4
    """
    log = QueryLog()

    def record(
        _conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        log.statements.append(statement)

    event.listen(bind, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(bind, "before_cursor_execute", record)
