"""Behaviour shared by several models: JSON configuration and performance counters."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from agentical.db.errors import InvalidInputError
from agentical.db.types import ensure_json, utc_now

_UNSET: Any = object()


class ConfigurationMixin:
    """``get_configuration`` / ``set_configuration`` over a JSON ``configuration`` column.

    Every change assigns a new dict, so it is persisted even for nested edits.
    """

    configuration: Mapped[dict[str, Any]]

    def get_configuration(self, key: str | None = None, default: Any = None) -> Any:
        """A deep copy: editing the result never changes the model behind its back."""
        current = copy.deepcopy(dict(self.configuration or {}))
        if key is None:
            return current
        return current.get(key, default)

    def set_configuration(self, key_or_dict: str | dict[str, Any], value: Any = _UNSET) -> None:
        if isinstance(key_or_dict, dict):
            if value is not _UNSET:
                raise TypeError("set_configuration(dict) replaces the whole dict: give no value")
            ensure_json(f"{type(self).__name__}.configuration", key_or_dict)
            self.configuration = dict(key_or_dict)
            return
        if not isinstance(key_or_dict, str) or not key_or_dict:
            raise InvalidInputError("configuration key must be a non-empty string")
        if value is _UNSET:
            raise TypeError(f"set_configuration({key_or_dict!r}, value): value is missing")
        ensure_json(f"{type(self).__name__}.configuration", {key_or_dict: value})
        self.configuration = {**(self.configuration or {}), key_or_dict: value}


def performance_checks() -> tuple[CheckConstraint, ...]:
    """CHECK constraints that keep the counters of ``PerformanceMixin`` non-negative."""
    return (
        CheckConstraint("total_executions >= 0", name="total_executions_non_negative"),
        CheckConstraint("successful_executions >= 0", name="successful_executions_non_negative"),
        CheckConstraint("failed_executions >= 0", name="failed_executions_non_negative"),
        CheckConstraint("average_execution_time >= 0", name="average_execution_time_non_negative"),
    )


class PerformanceMixin:
    """Run counters and a running mean duration, updated one run at a time or in bulk."""

    @declared_attr
    def total_executions(cls) -> Mapped[int]:
        return mapped_column(default=0)

    @declared_attr
    def successful_executions(cls) -> Mapped[int]:
        return mapped_column(default=0)

    @declared_attr
    def failed_executions(cls) -> Mapped[int]:
        return mapped_column(default=0)

    @declared_attr
    def average_execution_time(cls) -> Mapped[float]:
        return mapped_column(default=0.0)

    @declared_attr
    def last_execution_at(cls) -> Mapped[datetime | None]:
        return mapped_column(default=None)

    @property
    def success_rate(self) -> float:
        total = self.total_executions or 0
        return (self.successful_executions or 0) / total if total else 0.0

    def update_performance_metrics(
        self,
        execution_time: float | None = None,
        success: bool | None = None,
        *,
        execution_count: int | None = None,
        success_count: int | None = None,
        avg_duration: float | None = None,
    ) -> None:
        """Record one run (``execution_time, success``) or set the aggregate counters.

        The two forms cannot be mixed: a call is either one run or a snapshot.
        """
        one_run = execution_time is not None or success is not None
        aggregate = any(v is not None for v in (execution_count, success_count, avg_duration))
        if one_run and aggregate:
            raise TypeError(
                "update_performance_metrics: give either (execution_time, success) for one run "
                "or execution_count/success_count/avg_duration, not both"
            )
        if aggregate:
            self._set_aggregate(execution_count, success_count, avg_duration)
        elif execution_time is None or success is None:
            raise TypeError("update_performance_metrics: one run needs execution_time and success")
        else:
            self._record_run(execution_time, success)

    def _record_run(self, execution_time: float, success: bool) -> None:
        if isinstance(execution_time, bool) or not isinstance(execution_time, int | float):
            raise TypeError("execution_time must be a number of seconds")
        if execution_time < 0:
            raise InvalidInputError(f"execution_time must be >= 0, got {execution_time}")
        total = (self.total_executions or 0) + 1
        mean = self.average_execution_time or 0.0
        self.average_execution_time = mean + (float(execution_time) - mean) / total
        self.total_executions = total
        if success:
            self.successful_executions = (self.successful_executions or 0) + 1
        else:
            self.failed_executions = (self.failed_executions or 0) + 1
        self.last_execution_at = utc_now()

    def _set_aggregate(
        self, execution_count: int | None, success_count: int | None, avg_duration: float | None
    ) -> None:
        total = self.total_executions if execution_count is None else execution_count
        successes = self.successful_executions if success_count is None else success_count
        mean = self.average_execution_time if avg_duration is None else avg_duration
        for field, number in (("execution_count", total), ("success_count", successes)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise InvalidInputError(f"{field} must be an integer >= 0")
        if successes > total:
            raise InvalidInputError(
                f"success_count ({successes}) cannot exceed execution_count ({total})"
            )
        if isinstance(mean, bool) or not isinstance(mean, int | float) or mean < 0:
            raise InvalidInputError("avg_duration must be a number >= 0")
        self.total_executions = total
        self.successful_executions = successes
        self.failed_executions = total - successes
        self.average_execution_time = float(mean)
