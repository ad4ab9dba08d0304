"""Typed variable values: validation, normalisation and coercion of raw text.

Pure functions over a ``VariableSpec`` so that the ORM model and the definition schemas
share one implementation. Messages describe the reason, never the value: it may be secret.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from agentical.db.enums import VariableType
from agentical.db.limits import NESTED_TOO_DEEP
from agentical.db.patterns import full_match
from agentical.db.types import storage_problems

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: "$" would accept a final "\n"


@dataclass(frozen=True)
class VariableSpec:
    name: str
    variable_type: VariableType
    is_required: bool = False
    min_value: float | None = None
    max_value: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    enum_values: Sequence[Any] = field(default_factory=tuple)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise ValueError("expected a date without a time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("not a valid ISO-8601 date") from None
    raise ValueError("expected a date or an ISO-8601 date string")


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not a valid ISO-8601 datetime") from None
    if not isinstance(value, datetime):
        raise ValueError("expected a datetime or an ISO-8601 datetime string")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime needs a timezone offset")
    return value


def _type_reasons(spec: VariableSpec, value: Any) -> list[str]:
    kind = spec.variable_type
    if kind in (VariableType.STRING, VariableType.FILE):
        if not isinstance(value, str):
            return [f"expected a string, got {type(value).__name__}"]
        if kind is VariableType.FILE and not value.strip():
            return ["expected a file path or URI, got an empty string"]
        return []
    if kind is VariableType.INTEGER:
        return [] if _is_int(value) else [f"expected an integer, got {type(value).__name__}"]
    if kind is VariableType.FLOAT:
        return (
            [] if _is_number(value) else [f"expected a finite number, got {type(value).__name__}"]
        )
    if kind is VariableType.BOOLEAN:
        return (
            [] if isinstance(value, bool) else [f"expected a boolean, got {type(value).__name__}"]
        )
    if kind is VariableType.JSON:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            return ["expected a JSON-serialisable value"]
        except RecursionError:
            return [NESTED_TOO_DEEP]
        return []
    if kind is VariableType.SELECT:
        options = list(spec.enum_values)
        if not _in_options(value, options):
            return [f"must be one of: {', '.join(map(str, options))}"]
        return []
    if kind is VariableType.MULTI_SELECT:
        if not isinstance(value, list | tuple):
            return [f"expected a list of options, got {type(value).__name__}"]
        options = list(spec.enum_values)
        if any(not _in_options(item, options) for item in value):
            return [f"every item must be one of: {', '.join(map(str, options))}"]
        return []
    parser = _parse_date if kind is VariableType.DATE else _parse_datetime
    try:
        parser(value)
    except ValueError as error:
        return [str(error)]
    return []


def _in_options(value: Any, options: list[Any]) -> bool:
    # ``True == 1`` in Python; an option list of strings must not accept a bool or int.
    return any(type(value) is type(option) and value == option for option in options)


def _constraint_reasons(spec: VariableSpec, value: Any) -> list[str]:
    reasons: list[str] = []
    if _is_number(value):
        if spec.min_value is not None and value < spec.min_value:
            reasons.append(f"must be >= {spec.min_value}")
        if spec.max_value is not None and value > spec.max_value:
            reasons.append(f"must be <= {spec.max_value}")
    if isinstance(value, str | list | tuple):
        unit = "characters" if isinstance(value, str) else "items"
        if spec.min_length is not None and len(value) < spec.min_length:
            reasons.append(f"must have at least {spec.min_length} {unit}")
        if spec.max_length is not None and len(value) > spec.max_length:
            reasons.append(f"must have at most {spec.max_length} {unit}")
    if isinstance(value, str) and spec.pattern is not None and not full_match(spec.pattern, value):
        reasons.append(f"must match the pattern {spec.pattern!r}")
    return reasons


def validation_errors(spec: VariableSpec, value: Any) -> list[str]:
    """Every reason ``value`` is not acceptable for ``spec``; empty when it is."""
    if value is None:
        return ["a value is required"] if spec.is_required else []
    try:
        return (
            _type_reasons(spec, value)
            or storage_problems(value)
            or _constraint_reasons(spec, value)
        )
    except Exception as error:  # a hostile object (bad __eq__, __len__...) is just invalid
        return [f"cannot be checked: {type(error).__name__}"]


def normalise(spec: VariableSpec, value: Any) -> Any:
    """The stored, JSON-ready form of a valid value (dates as ISO strings, lists as lists)."""
    if value is None:
        return None
    if spec.variable_type is VariableType.DATE:
        return _parse_date(value).isoformat()
    if spec.variable_type is VariableType.DATETIME:
        return _parse_datetime(value).astimezone(UTC).isoformat()
    if spec.variable_type is VariableType.MULTI_SELECT:
        return list(value)
    return value


_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


def _text_to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected a boolean (true/false, yes/no, on/off, 1/0)")


def _parse_json(text: str, expected: str) -> Any:
    """The data in JSON ``text``; text nested past the recursion limit is refused for its
    depth (far beyond ``MAX_NESTING_DEPTH``) instead of raising ``RecursionError``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(NESTED_TOO_DEEP) from None
    except ValueError:
        raise ValueError(expected) from None


def _text_to_list(text: str) -> list[Any]:
    stripped = text.strip()
    if stripped.startswith("["):
        parsed = _parse_json(stripped, "expected a JSON list or comma-separated options")
        if not isinstance(parsed, list):
            raise ValueError("expected a JSON list")
        return parsed
    return [item.strip() for item in stripped.split(",") if item.strip()]


def _text_to_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("expected an integer") from None


def _text_to_float(text: str) -> float:
    try:
        number = float(text.strip())
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _text_to_json(text: str) -> Any:
    return _parse_json(text, "expected valid JSON")


_TEXT_COERCERS: dict[VariableType, Callable[[str], Any]] = {
    VariableType.INTEGER: _text_to_int,
    VariableType.FLOAT: _text_to_float,
    VariableType.BOOLEAN: _text_to_bool,
    VariableType.JSON: _text_to_json,
    VariableType.MULTI_SELECT: _text_to_list,
}


def _option_named(text: str, options: Sequence[Any]) -> Any:
    """The option ``text`` stands for: a text option equal to it, else the option it
    spells as JSON (``3`` for 3, ``true`` for True); else the text, which validation
    then refuses naming the options."""
    if text in (option for option in options if isinstance(option, str)):
        return text
    spelled = text.strip()
    for option in options:
        if not isinstance(option, str) and json.dumps(option) == spelled:
            return option
    return text


def coerce_text(variable_type: VariableType, raw: Any, options: Sequence[Any] = ()) -> Any:
    """Turn raw text (a command line, a form field) into a value of ``variable_type``;
    for ``select`` and ``multi_select``, each item into the option (of ``options``) it
    names, which need not be text.

    Values that are not strings are returned unchanged: they are already typed. Raises
    ``ValueError`` with the reason when the text cannot be read as that type.
    """
    if not isinstance(raw, str):
        return raw
    if variable_type is VariableType.SELECT:
        return _option_named(raw, options)
    coercer = _TEXT_COERCERS.get(variable_type)
    value = raw if coercer is None else coercer(raw)
    if variable_type is VariableType.MULTI_SELECT:
        return [_option_named(item, options) if isinstance(item, str) else item for item in value]
    return value
