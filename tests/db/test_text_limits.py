"""``agentical.db.limits`` on text: what every database can store, and how text the
library did not write is made storable."""

from __future__ import annotations

import pytest

from agentical.db.limits import MAX_STRING_BYTES, storable_text, text_problem


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a\x00b", "contains a NUL character"),
        ("/srv/\udcff", "contains the lone surrogate U+DCFF, which UTF-8 cannot hold"),
        ("é" * (MAX_STRING_BYTES // 2 + 1), f"is longer than {MAX_STRING_BYTES:,} bytes"),
    ],
)
def test_text_no_database_stores_is_named_with_the_reason(text: str, reason: str) -> None:
    assert (text_problem(text, controls=False) or "").startswith(reason)


def test_storable_text_escapes_what_databases_refuse_and_cuts_the_rest() -> None:
    assert storable_text("bad\x00byte /srv/\udcff ok") == "bad\\x00byte /srv/\\udcff ok"
    long = storable_text("é" * MAX_STRING_BYTES)
    assert long.endswith(" [cut]")
    assert len(long.encode()) <= MAX_STRING_BYTES
    assert text_problem(long, controls=False) is None
    assert storable_text("fine, as it is: é") == "fine, as it is: é"
