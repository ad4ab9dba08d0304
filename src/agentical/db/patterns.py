"""Variable patterns as RE2 regular expressions: matching takes linear time, always.

Python's ``re`` backtracks: ``(a+)+$`` against forty ``a`` and a ``!`` runs for hours, so a
pattern from an untrusted definition could hang validation. RE2 (``google-re2``) matches
in time linear in the text with bounded memory, and refuses the constructs that need
backtracking (backreferences, lookaround) when the pattern is compiled, with the reason.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

from agentical.db.limits import MAX_PATTERN_LENGTH

_MAX_PROGRAM_MEMORY = 8 << 20  # what RE2 may use for one compiled pattern


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why."""


def _options() -> Any:
    options = re2.Options()
    options.max_mem = _MAX_PROGRAM_MEMORY
    options.log_errors = False  # RE2 would print the pattern on stderr
    return options


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern; ``PatternError`` with the reason when RE2 refuses it."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"longer than {MAX_PATTERN_LENGTH} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        reason = error.args[0] if error.args else "invalid"
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise PatternError(text) from None


def pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable pattern, or ``None``."""
    try:
        compile_pattern(pattern)
    except PatternError as error:
        return str(error)
    return None


def full_match(pattern: str, text: str) -> bool:
    """Whether all of ``text`` matches ``pattern`` (``False`` for a pattern that does not
    compile)."""
    try:
        compiled = compile_pattern(pattern)
    except PatternError:
        return False
    return compiled.fullmatch(text) is not None
