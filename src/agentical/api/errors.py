"""Library errors to HTTP answers, in one place: each family has one status code.

The router's routes use ``MappedRoute``, so a service that mounts the router gets the same
answers without installing exception handlers on its app. Every error answer has one shape
(``ErrorBody``): the error's name and a list of problems, each a field (where the caller
can point at one) and the reason. A message never quotes a secret: the library's messages
do not, and Pydantic's input values are dropped here.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException

from agentical.db.errors import (
    ConflictError,
    IdempotencyConflictError,
    InvalidInputError,
    LimitReachedError,
    NotFoundError,
    VariableValidationError,
)
from agentical.db.limits import MAX_DOCUMENT_BYTES
from agentical.db.schemas.definition_errors import DefinitionError

STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (InvalidInputError, 422),
    (ConflictError, 409),
    (StaleDataError, 409),
    (LimitReachedError, 429),
    (NotFoundError, 404),
)
MAX_BODY_BYTES = MAX_DOCUMENT_BYTES
"""Request bodies are read up to the library's document limit, never further."""


class Problem(BaseModel):
    field: str | None
    reason: str


class ErrorBody(BaseModel):
    """Every error answer: ``error`` is the library's (or ``RequestValidationError``) class
    name, ``problems`` each field and reason."""

    error: str
    problems: list[Problem]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    # JSON also from the routes that answer HTML (FastAPI gives a model their media type).
    status: {"model": ErrorBody, "description": description, "content": {"application/json": {}}}
    for status, description in (
        (404, "No such playbook, template, execution or step"),
        (409, "The stored state does not allow this now"),
        (413, f"The body is larger than {MAX_BODY_BYTES} bytes"),
        (422, "Bad input: each field and the reason"),
        (429, "A playbook's max_concurrent_executions is reached"),
    )
}


class FieldError(InvalidInputError):
    """Bad input the router itself finds in a request: one field and its reason."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class NameTakenError(ConflictError):
    """A name (and version) the request would store is taken: one field and its reason."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def error_response(status: int, error: str, problems: list[Problem]) -> JSONResponse:
    body = ErrorBody(error=error, problems=problems)
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def problems_of(error: Exception) -> list[Problem]:
    """The fields and reasons a library error carries (its message when it has no field)."""
    if isinstance(error, DefinitionError):
        return [Problem(field=p.location or None, reason=p.message) for p in error.problems]
    if isinstance(error, FieldError | NameTakenError):
        return [Problem(field=error.field, reason=error.reason)]
    if isinstance(error, IdempotencyConflictError):
        return [Problem(field="Idempotency-Key", reason=str(error))]
    if isinstance(error, VariableValidationError):
        return [
            Problem(field=f"inputs.{name}", reason="; ".join(reasons))
            for name, reasons in error.errors.items()
        ]
    return [Problem(field=None, reason=str(error))]


def validation_problems(error: RequestValidationError) -> list[Problem]:
    """FastAPI's validation errors without their input (it may be a secret)."""
    problems = []
    for detail in error.errors():
        place = detail.get("loc", ())
        if detail.get("type") == "json_invalid":  # its location is (body, character)
            cause = detail.get("ctx", {}).get("error", "")
            at = f" at character {place[1]}" if len(place) > 1 else ""
            problems.append(Problem(field="body", reason=f"{detail['msg']}: {cause}{at}"))
            continue
        location = [str(part) for part in place[1:]]
        problems.append(Problem(field=".".join(location) or None, reason=str(detail["msg"])))
    return problems


# The database rolled the request's transaction back so that another could go on: nothing
# was changed, and the same request sent again may succeed. PostgreSQL's serialization
# failure and deadlock (SQLSTATE), MariaDB's lock wait timeout and deadlock (error code),
# SQLite's busy write lock (its message: the driver gives no code).
_TRANSIENT_STATES = frozenset({"40001", "40P01"})
_TRANSIENT_CODES = frozenset({1205, 1213})
_TRANSIENT_REASON = (
    "the database rolled this request back to let another one finish (a deadlock or a "
    "lock it could not wait for): nothing was changed; send it again"
)


def transient(error: Exception) -> bool:
    """Whether ``error`` is the database giving way to another transaction."""
    if not isinstance(error, DBAPIError):
        return False
    cause = error.orig
    code = cause.args[0] if cause is not None and cause.args else None
    return (
        getattr(cause, "sqlstate", None) in _TRANSIENT_STATES
        or code in _TRANSIENT_CODES
        or "database is locked" in str(cause)
    )


def mapped(error: Exception) -> JSONResponse | None:
    """The answer to ``error`` if it is one of the mapped families, else ``None``."""
    if transient(error):
        return error_response(
            409, "TransactionConflict", [Problem(field=None, reason=_TRANSIENT_REASON)]
        )
    if isinstance(error, RequestValidationError):
        return error_response(422, "RequestValidationError", validation_problems(error))
    if isinstance(error, HTTPException) and error.status_code == 400:  # a body not parsed
        return error_response(422, "BodyParseError", [Problem(field="body", reason=error.detail)])
    for family, status in STATUS_OF:
        if isinstance(error, family):
            return error_response(status, type(error).__name__, problems_of(error))
    return None


async def read_bounded_body(request: Request) -> JSONResponse | None:
    """Read the body up to ``MAX_BODY_BYTES`` (an answer 413 beyond), so that no route
    holds more than that in memory; the routes then read it from the request's cache."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return _too_large()
        chunks.append(chunk)
    request._body = b"".join(chunks)
    return None


def _too_large() -> JSONResponse:
    reason = f"the body is larger than {MAX_BODY_BYTES:,} bytes"
    return error_response(413, "BodyTooLarge", [Problem(field="body", reason=reason)])


class MappedRoute(APIRoute):
    """A route whose body is bounded and whose library errors become their status codes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_mapped(request: Request) -> Response:
            refused = await read_bounded_body(request)
            if refused is not None:
                return refused
            try:
                return await handle(request)
            except Exception as error:
                answer = mapped(error)
                if answer is None:
                    raise
                return answer

        return handle_mapped
