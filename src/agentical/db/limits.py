"""Every limit on what the library accepts from a caller, in one place, with one scanner.

Definitions and input values may come from an untrusted caller (a pull request, an HTTP
body). Each limit below is enforced before the expensive work it protects, so that a
hostile input is refused in bounded time and memory, naming the field and the limit:

- the text of a document is measured before it is parsed; a parsed document (or a dict
  given directly) is walked once, iteratively, before validation: nesting depth, number
  of values (YAML aliases counted as often as they are used), total bytes of text;
- values the databases refuse or store differently are refused everywhere: NUL
  characters (PostgreSQL rejects them), NaN and infinities (PostgreSQL's ``float`` keeps
  them and its JSON refuses them), integers outside the integer columns' range;
- regular expressions run on RE2 (linear time), templates in a sandbox with a time and
  an output budget (``agentical.db.rendering``).

Pure: no models, no schemas.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

MAX_DOCUMENT_BYTES = 1_048_576
"""Text of a definition (YAML or JSON), and all the text inside a definition given as data."""
MAX_NESTING_DEPTH = 32
"""Mappings and lists inside one another, from the top of a document or a value."""
MAX_DOCUMENT_VALUES = 250_000
"""Values in a definition (keys, scalars, lists, mappings), each alias counted in full."""
MAX_STEPS = 10_000
MAX_VARIABLES = 1_000
MAX_STRING_BYTES = 65_535
"""One string, in UTF-8: MariaDB's ``TEXT``, so a value fits on every database."""
MAX_VALUE_BYTES = 262_144
"""One free-form value as JSON: a step's parameters, a configuration, a variable value."""
INT_COLUMN_MIN, INT_COLUMN_MAX = -(2**31), 2**31 - 1
"""The ``INTEGER`` columns (orders, durations, counts) on PostgreSQL and MariaDB."""
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**63 - 1
"""Integers inside JSON values (parameters, variable values): a signed 64-bit integer."""
MAX_PATTERN_LENGTH = 500
"""A variable's regular expression, which RE2 compiles in linear time and bounded memory."""
MAX_TEMPLATE_OUTPUT = 262_144
"""Characters one template may produce when rendered (and the size of any value it makes)."""
MAX_RENDER_SECONDS = 1.0
"""Time the templates of one step's parameters may take to render."""
MAX_RANGE = 10_000
"""Items of one ``range()`` inside a template."""


class LimitProblem(NamedTuple):
    """A value over a limit, at ``path`` (``("steps", 3, "parameters", "x")``)."""

    path: tuple[str | int, ...]
    kind: str
    message: str


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


# Control characters other than tab and line breaks, and the bidirectional overrides that
# make a terminal or an editor show text in another order than it is read ("Trojan source").
_CONTROLS = re.compile(
    r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
# What a terminal must never receive from data: every control character but tab and line
# feed (escape sequences, carriage returns that overwrite a line) and the bidi overrides.
_TERMINAL_UNSAFE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_NAME_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def text_problem(text: str, *, controls: bool = True) -> str | None:
    """Why a string is refused, or ``None``: a NUL character, more than
    ``MAX_STRING_BYTES``, or (with ``controls``) an escape, control or bidirectional
    override character."""
    if "\x00" in text:
        return "contains a NUL character (\\x00), which the databases refuse"
    if controls and (found := _CONTROLS.search(text)) is not None:
        return f"contains the control character U+{ord(found.group()):04X}"
    if len(text) > MAX_STRING_BYTES // 4 and utf8_size(text) > MAX_STRING_BYTES:
        return f"is longer than {MAX_STRING_BYTES:,} bytes"
    return None


def visible(text: str) -> str:
    """``text`` with every character a terminal would act on shown as an escape (``\\x1b``,
    ``\\u202e``), so that printing it cannot move the cursor, recolour or reorder text."""
    return _TERMINAL_UNSAFE.sub(lambda found: ascii(found.group())[1:-1], text)


def name_problem(name: str) -> str | None:
    """Why a name (of a playbook, a template, a tag) is refused: it holds a character that
    is invisible or changes how text is shown (controls, zero-width, bidi overrides)."""
    for character in name:
        if unicodedata.category(character) in _NAME_CATEGORIES:
            return f"contains the invisible or control character U+{ord(character):04X}"
    return None


def number_problem(
    number: int | float, *, low: int = JSON_INT_MIN, high: int = JSON_INT_MAX
) -> str | None:
    """Why a number cannot be stored: not finite, or an integer outside ``[low, high]``."""
    if isinstance(number, bool):
        return None
    if isinstance(number, float):
        return None if math.isfinite(number) else "must be a finite number (not NaN or infinity)"
    if not low <= number <= high:
        return f"is outside the integer range {low:,} to {high:,}"
    return None


class _Budget:
    """What one walk may still see: values and bytes of text."""

    def __init__(self, values: int, text_bytes: int) -> None:
        self.values = values
        self.text_bytes = text_bytes


def scan_value(
    value: Any,
    path: tuple[str | int, ...] = (),
    *,
    max_values: int = MAX_DOCUMENT_VALUES,
    max_text_bytes: int = MAX_DOCUMENT_BYTES,
    controls: bool = True,
) -> Iterator[LimitProblem]:
    """Every limit ``value`` breaks, walking it iteratively once (no recursion).

    Stops at the first problem that makes the rest of the walk unbounded (depth, number
    of values, total characters of text); reports every NUL, non-finite float and
    out-of-range integer before that. A shared value is counted each time it appears
    (as a YAML alias expands); a value that contains itself is refused. ``controls``: also
    refuse escape and control characters in strings (see ``text_problem``).
    """
    budget = _Budget(max_values, max_text_bytes)
    on_path: set[int] = set()
    stack: list[tuple[Any, tuple[str | int, ...], int, bool]] = [(value, path, 0, False)]
    while stack:
        item, where, depth, leaving = stack.pop()
        if leaving:
            on_path.discard(id(item))
            continue
        budget.values -= 1
        if budget.values < 0:
            yield LimitProblem(where, "too_many_values", f"more than {max_values:,} values")
            return
        if isinstance(item, str):
            budget.text_bytes -= len(item)
            if budget.text_bytes < 0:
                yield LimitProblem(where, "document_too_large", _too_large(max_text_bytes))
                return
            reason = text_problem(item, controls=controls)
            if reason is not None:
                yield LimitProblem(where, "invalid_text", f"the text {reason}")
            continue
        if isinstance(item, int | float):
            reason = number_problem(item)
            if reason is not None:
                yield LimitProblem(where, "invalid_number", f"the number {reason}")
            continue
        if not isinstance(item, Mapping | list | tuple):
            continue
        if depth >= MAX_NESTING_DEPTH:
            yield LimitProblem(where, "too_deep", f"nested deeper than {MAX_NESTING_DEPTH} levels")
            return
        if id(item) in on_path:
            yield LimitProblem(where, "recursive_value", "the value contains itself")
            return
        on_path.add(id(item))
        stack.append((item, where, depth, True))
        children: list[tuple[Any, tuple[str | int, ...]]] = []
        if isinstance(item, Mapping):
            for key, child in item.items():
                key_text = str(key)
                if isinstance(key, str):
                    budget.text_bytes -= len(key)
                    reason = text_problem(key, controls=controls)
                    if reason is not None:
                        yield LimitProblem(where, "invalid_text", f"a key {reason}")
                        key_text = "?"
                children.append((child, (*where, key_text)))
        else:
            children = [(child, (*where, index)) for index, child in enumerate(item)]
        stack.extend((child, at, depth + 1, False) for child, at in reversed(children))


def _too_large(max_characters: int) -> str:
    return f"more than {max_characters:,} characters of text in all"


def document_size_problem(text: str) -> str | None:
    """Why the text of a document is refused before parsing: over ``MAX_DOCUMENT_BYTES``."""
    if len(text) > MAX_DOCUMENT_BYTES or (
        len(text) > MAX_DOCUMENT_BYTES // 4 and utf8_size(text) > MAX_DOCUMENT_BYTES
    ):
        return f"the document is larger than {MAX_DOCUMENT_BYTES:,} bytes"
    return None


def count_problem(what: str, count: int, maximum: int) -> str | None:
    return f"more than {maximum:,} {what} ({count:,})" if count > maximum else None
