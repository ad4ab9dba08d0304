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
"""Text of a definition document (YAML or JSON), checked before it is parsed."""
MAX_DOCUMENT_VALUES = 250_000
"""Values a document expands to (scalars, lists, mappings), each YAML alias in full."""
MAX_DEFINITION_VALUES = 500_000
"""Values in a definition given as data (a dict from an HTTP body, or from stored rows,
which spell every field out: a 10,000-step playbook is about 300,000)."""
MAX_DEFINITION_TEXT = 16_777_216
"""Characters of text (keys and strings) in a definition given as data."""
MAX_NESTING_DEPTH = 32
"""Mappings and lists inside one another, from the top of a document or a value."""
NESTED_TOO_DEEP = f"nested deeper than {MAX_NESTING_DEPTH} levels"
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
MAX_TEMPLATE_TOKENS = 50_000
"""Tokens (names, operators, literals, the text between tags) in the templates of one
definition, each distinct template counted once: Jinja parses a template at 5-15 us a
token, so this bounds checking a definition's placeholders to well under a second."""
MAX_TEMPLATE_NESTING = 64
"""Depth of one template's syntax tree (expressions inside expressions, blocks inside
blocks): deep enough for any parameter, shallow enough for Jinja's recursive parser and
compiler and for Python's own limits on the code Jinja generates."""


class LimitProblem(NamedTuple):
    """A value over a limit, at ``path`` (``("steps", 3, "parameters", "x")``)."""

    path: tuple[str | int, ...]
    kind: str
    message: str


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


# UTF-8 cannot encode these halves of a pair on their own (``os.fsdecode`` makes them
# of bytes that are not UTF-8): every database driver refuses them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_CUT = " [cut]"
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
# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 14.0 as in
# Python 3.11's unicodedata): what a renderer shows as nothing. Most are Cf or Cn, refused
# by category; the rest are marks and letters that display as nothing: the combining
# grapheme joiner, the Khmer inherent vowels, the Mongolian and other variation selectors
# (so an emoji is accepted in its plain form, not followed by U+FE0F), and the Hangul
# fillers (U+115F, U+1160, U+3164, U+FFA0).
_DEFAULT_IGNORABLE = re.compile(
    r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    r"\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def text_problem(text: str, *, controls: bool = True) -> str | None:
    """Why a string is refused, or ``None``: a NUL character, a lone surrogate, more than
    ``MAX_STRING_BYTES``, or (with ``controls``) an escape, control or bidirectional
    override character."""
    if "\x00" in text:
        return "contains a NUL character (\\x00), which the databases refuse"
    if (surrogate := _SURROGATE.search(text)) is not None:
        code = ord(surrogate.group())
        return f"contains the lone surrogate U+{code:04X}, which UTF-8 cannot hold"
    if controls and (found := _CONTROLS.search(text)) is not None:
        return f"contains the control character U+{ord(found.group()):04X}"
    if len(text) > MAX_STRING_BYTES // 4 and utf8_size(text) > MAX_STRING_BYTES:
        return f"is longer than {MAX_STRING_BYTES:,} bytes"
    return None


def storable_text(text: str) -> str:
    """``text`` as every database can store it, for text the library did not write (a
    handler's exception message): a NUL or a lone surrogate shown as its escape, and
    anything past ``MAX_STRING_BYTES`` of UTF-8 cut off, saying so."""
    text = _UNSTORABLE.sub(lambda found: ascii(found.group())[1:-1], text)
    if utf8_size(text) <= MAX_STRING_BYTES:
        return text
    room = MAX_STRING_BYTES - utf8_size(_CUT)
    return text.encode("utf-8")[:room].decode("utf-8", "ignore") + _CUT


def visible(text: str) -> str:
    """``text`` with every character a terminal would act on shown as an escape (``\\x1b``,
    ``\\u202e``), so that printing it cannot move the cursor, recolour or reorder text."""
    return _TERMINAL_UNSAFE.sub(lambda found: ascii(found.group())[1:-1], text)


def name_problem(name: str) -> str | None:
    """Why a name (of a playbook, a template, a tag) is refused: it holds a character that
    is invisible or changes how text is shown (controls, zero-width, bidi overrides,
    default-ignorable characters), so two names that print alike could differ."""
    for character in name:
        if (
            unicodedata.category(character) in _NAME_CATEGORIES
            or _DEFAULT_IGNORABLE.match(character) is not None
        ):
            return f"contains the invisible or control character U+{ord(character):04X}"
    return None


def path_name_problem(name: str) -> str | None:
    """Why the name of a playbook or a template is refused: as ``name_problem``, or it
    holds a ``/``. The HTTP API addresses them by name (``/playbooks/{name}/export``) and
    servers decode ``%2F`` before routing, so such a name would reach no route, or the
    route of another playbook (``ops/export`` is the export of ``ops``)."""
    if "/" in name:
        return "contains '/', which a URL path cannot carry"
    return name_problem(name)


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


def json_refusal(error: TypeError | ValueError) -> str:
    """Why ``json.dumps(..., allow_nan=False)`` refused a value, in the same words on every
    Python version: the json module's own for a type it cannot encode (they name the type,
    never the value) and for a value that contains itself; ours for NaN and infinities,
    whose message Python 3.13 changed (it now ends with the number)."""
    if isinstance(error, ValueError) and str(error).startswith("Out of range float values"):
        return "NaN and infinity are not JSON numbers"
    return str(error)


# A location during a walk, linked to its parent's: ``(parent, key)``, built in O(1) per
# value and turned into a path only for a problem.
_Link = tuple[Any, str | int] | None


def _path(base: tuple[str | int, ...], link: _Link) -> tuple[str | int, ...]:
    keys: list[str | int] = []
    while link is not None:
        link, key = link
        keys.append(key)
    return (*base, *reversed(keys))


def scan_value(
    value: Any,
    path: tuple[str | int, ...] = (),
    *,
    max_values: int = MAX_DEFINITION_VALUES,
    max_text_bytes: int = MAX_DEFINITION_TEXT,
    controls: bool = True,
) -> Iterator[LimitProblem]:
    """Every limit ``value`` breaks, walking it iteratively once (no recursion).

    Stops at the first problem that makes the rest of the walk unbounded (depth, number
    of values, total characters of text); reports every NUL, non-finite float and
    out-of-range integer before that. A shared value is counted each time it appears
    (as a YAML alias expands); a value that contains itself is refused as too deep.
    ``controls``: also refuse escape and control characters in strings (see
    ``text_problem``).
    """
    values_left, text_left = max_values, max_text_bytes
    stack: list[tuple[Any, _Link, int]] = [(value, None, 0)]
    while stack:
        item, link, depth = stack.pop()
        values_left -= 1
        if values_left < 0:
            yield LimitProblem(
                _path(path, link), "too_many_values", f"more than {max_values:,} values"
            )
            return
        if isinstance(item, str):
            text_left -= len(item)
            if text_left < 0:
                yield LimitProblem(
                    _path(path, link), "document_too_large", _too_large(max_text_bytes)
                )
                return
            reason = text_problem(item, controls=controls)
            if reason is not None:
                yield LimitProblem(_path(path, link), "invalid_text", f"the text {reason}")
        elif isinstance(item, int | float):
            reason = number_problem(item)
            if reason is not None:
                yield LimitProblem(_path(path, link), "invalid_number", f"the number {reason}")
        elif isinstance(item, Mapping | list | tuple):
            if depth >= MAX_NESTING_DEPTH:
                yield LimitProblem(_path(path, link), "too_deep", NESTED_TOO_DEEP)
                return
            children: list[tuple[Any, _Link, int]] = []
            if isinstance(item, Mapping):
                for key in item:
                    if isinstance(key, str):
                        text_left -= len(key)
                        reason = text_problem(key, controls=controls)
                        if reason is not None:
                            yield LimitProblem(_path(path, link), "invalid_text", f"a key {reason}")
                            continue
                    children.append((item[key], (link, str(key)), depth + 1))
            else:
                children = [(child, (link, index), depth + 1) for index, child in enumerate(item)]
            stack.extend(reversed(children))  # popped in document order


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
