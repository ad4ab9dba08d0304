"""The declarative base and the columns and helpers every table shares."""

from __future__ import annotations

import functools
import uuid as uuid_module
from collections.abc import Callable, Container
from dataclasses import dataclass
from datetime import datetime
from enum import Enum as PyEnum
from typing import Any, ClassVar

import pydantic
from sqlalchemy import Enum, MetaData, String, Table, Uuid, event, inspect
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column

import agentical.db.sqlite  # noqa: F401  (registers the SQLite foreign-key pragma)
from agentical.db.errors import InvalidInputError
from agentical.db.types import UTCDateTime, aware_utc, utc_now

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


# MariaDB compares strings case-insensitively by default, PostgreSQL and SQLite do not. A
# binary collation gives all three the same answers: uniques, lookups, and the CHECK on
# enum values (which 'DRAFT' would otherwise pass).
MARIADB_TABLE_OPTIONS: dict[str, Any] = {
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_bin",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def table_args(*items: Any) -> tuple[Any, ...]:
    """``__table_args__`` of every table: its constraints plus the shared table options.

    ``AUTOINCREMENT`` on SQLite: without it SQLite gives a new row the id of the highest
    row deleted, and a worker holding a lease on a purged step run (its id and token)
    could finish the new run's step. The servers never give an id twice either.
    """
    return (*items, {**MARIADB_TABLE_OPTIONS, "sqlite_autoincrement": True})


class Base(AsyncAttrs, DeclarativeBase):
    # AsyncAttrs: ``await obj.awaitable_attrs.executions`` loads a lazy relationship under asyncio.
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        str: String(255),
        uuid_module.UUID: Uuid(),
    }


class BaseModel(Base):
    """Shared columns (id, public uuid, UTC timestamps, soft delete) and serialisation.

    Column defaults are applied in ``__init__`` too, so a new object reads the same
    before and after its first flush (``Playbook(...).status`` is already ``draft``).
    """

    __abstract__ = True
    __read_schema__: ClassVar[type[pydantic.BaseModel]]

    # sort_order: identity first, bookkeeping last, in every CREATE TABLE.
    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-10)
    uuid: Mapped[uuid_module.UUID] = mapped_column(
        unique=True, default=uuid_module.uuid4, sort_order=-10
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now, sort_order=10)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now, sort_order=10)
    is_active: Mapped[bool] = mapped_column(default=True, sort_order=10)

    def __init__(self, **kwargs: Any) -> None:
        for key, value in column_defaults(self.__mapper__, kwargs).items():
            setattr(self, key, value)
        # Columns first: a value refused by a validator must not leave the half-built object
        # attached to a parent collection through a relationship's backref.
        relationships = self.__mapper__.relationships
        super().__init__(**dict(sorted(kwargs.items(), key=lambda item: item[0] in relationships)))

    def soft_delete(self) -> None:
        self.is_active = False

    def serialization_context(self) -> dict[str, Any]:
        """What the read schema needs beyond the columns (e.g. which values are secret)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, produced by the model's Pydantic read schema.

        Reads loaded attributes and relationships that load with the row (a playbook's steps
        and variables); an execution masks its secrets by its definition snapshot. So it
        also works on objects of an ``AsyncSession`` (``expire_on_commit=False``).
        """
        schema = self.__read_schema__.model_validate(self._read_input())
        return schema.model_dump(mode="json", context=self.serialization_context())

    def _read_input(self) -> Any:
        """What the read schema validates: a dict of the loaded values plus the computed
        ones (each ORM attribute read through its descriptor costs more than the schema's
        own work), or the object itself when an attribute the schema reads is not loaded
        (then reading it loads it) or the schema has a validator that reads the object."""
        plan = _read_plan(type(self))
        values = self.__dict__
        if plan is None or not values.keys() >= plan.loaded:
            return self
        data = dict(values)
        for name in plan.computed:
            data[name] = getattr(self, name)
        return data

    def __repr__(self) -> str:
        # Never SQL, never a value: the loaded id, else the identity key (an expired object
        # keeps its key after commit while its attributes are unloaded).
        identifier = self.__dict__.get("id")
        if identifier is None:
            identity = inspect(self).identity
            identifier = identity[0] if identity else None
        return f"<{type(self).__name__} id={identifier}>"


@dataclass(frozen=True, slots=True)
class _ReadPlan:
    loaded: frozenset[str]  # the schema's fields that are mapped attributes
    computed: tuple[str, ...]  # the others: properties of the model


@functools.cache
def _read_plan(model: type[BaseModel]) -> _ReadPlan | None:
    """How ``model``'s ``to_dict`` feeds its schema a dict; ``None``: give it the object
    (its schema has a model validator, which may read the object's methods)."""
    schema = model.__read_schema__
    if schema.__pydantic_decorators__.model_validators:
        return None
    fields = set(schema.model_fields)
    mapped = fields & set(model.__mapper__.attrs.keys())
    return _ReadPlan(frozenset(mapped), tuple(sorted(fields - mapped)))


def table_of(model: type[Any]) -> Table:
    """A mapped class's ``Table``, which Core statements on it are built from (to the type
    checker the class attribute is only a ``FromClause``)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def column_defaults(mapper: Mapper[Any], given: Container[str] = ()) -> dict[str, Any]:
    """Fresh values of the Python-side defaults of ``mapper``'s columns not in ``given``.

    What ``BaseModel.__init__`` assigns, and what a row written by a bulk INSERT carries
    so that it equals the row the ORM would write.
    """
    return defaults_factory(mapper, given)()


def defaults_factory(
    mapper: Mapper[Any], given: Container[str] = ()
) -> Callable[[], dict[str, Any]]:
    """``column_defaults`` as a function, the columns read once: for thousands of rows."""
    scalars: dict[str, Any] = {}
    callables: list[tuple[str, Callable[[Any], Any]]] = []
    for prop in mapper.column_attrs:
        default = prop.columns[0].default
        if prop.key in given or default is None:
            continue
        if default.is_scalar:
            scalars[prop.key] = default.arg
        elif default.is_callable:
            callables.append((prop.key, default.arg))

    def defaults() -> dict[str, Any]:
        return {**scalars, **{key: make(None) for key, make in callables}}

    return defaults


def _enum_coercer(field: str, enum_class: type[PyEnum]) -> Callable[..., Any]:
    def coerce(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
        if value is None or isinstance(value, enum_class):
            return value
        try:
            return enum_class(value)
        except ValueError:
            options = ", ".join(str(member.value) for member in enum_class)
            raise InvalidInputError(f"{field} must be one of: {options}; got {value!r}") from None

    return coerce


def _timestamp_coercer(field: str) -> Callable[..., Any]:
    def coerce(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
        return aware_utc(field, value)

    return coerce


@event.listens_for(Base, "mapper_configured", propagate=True)
def _coerce_on_assignment(mapper: Mapper[Any], class_: type[Any]) -> None:
    """Enum and timestamp columns check what they are given at assignment, naming the
    field, rather than at the next flush (which would leave the object changed and the
    session in need of a rollback).

    An enum column takes a member or its value (held as the member); a timestamp must be
    timezone-aware and is held in UTC, as it reads back from every database.
    """
    for prop in mapper.column_attrs:
        column_type = prop.columns[0].type
        field = f"{class_.__name__}.{prop.key}"
        enum_class = getattr(column_type, "enum_class", None)
        if isinstance(column_type, Enum) and enum_class is not None:
            coerce = _enum_coercer(field, enum_class)
        elif isinstance(column_type, UTCDateTime):
            coerce = _timestamp_coercer(field)
        else:
            continue
        event.listen(getattr(class_, prop.key), "set", coerce, retval=True)
