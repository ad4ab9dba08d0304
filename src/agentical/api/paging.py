"""Keyset pages for the routes that list history: ``limit`` and ``cursor`` in the query,
``next_cursor`` in the answer (``agentical.db.history.page_of``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from sqlalchemy import Select
from sqlalchemy.orm import Session

from agentical.api.errors import FieldError
from agentical.db import history
from agentical.db.errors import InvalidInputError
from agentical.db.history.pagination import MAX_PAGE_SIZE, R

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="At most this many rows.")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="A page's next_cursor: the page after it.")
]


def page_of(
    session: Session, statement: Select[R], cursor: str | None, limit: int
) -> history.Page[R]:
    """``history.page_of``, a cursor that is not one answered 422 on ``cursor``."""
    try:
        return history.page_of(session, statement, cursor=cursor, limit=limit)
    except InvalidInputError as error:  # the only input page_of checks that the route did not
        raise FieldError("cursor", str(error).removeprefix("cursor: ")) from None
