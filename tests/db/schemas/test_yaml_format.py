"""A YAML document is read as JSON data: what JSON cannot hold is refused with its line and
column, never turned into a Python object that fails later, at the flush."""

from __future__ import annotations

from typing import Any

import pytest

from agentical.db.schemas.yaml_format import DocumentSyntaxError, parse_document


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("freeze_from: 2024-12-20\n", {"freeze_from": "2024-12-20"}),
        ("at: 2024-12-20T10:00:00Z\n", {"at": "2024-12-20T10:00:00Z"}),
        ("at: 2024-12-20 10:00:00\n", {"at": "2024-12-20 10:00:00"}),
        ("{2024-12-20: frozen}\n", {"2024-12-20": "frozen"}),
    ],
)
def test_an_unquoted_date_or_timestamp_is_the_text_written(text: str, data: Any) -> None:
    assert parse_document(text) == data


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:\n  b: !!set {x, y}\n", "the tag !!set at line 2, column 6 has no JSON equivalent"),
        ("a: !!binary aGVsbG8=\n", "the tag !!binary at line 1, column 4 has no JSON equivalent"),
        ("a: !!omap [x: 1]\n", "the tag !!omap at line 1, column 4 has no JSON equivalent"),
        ("a: !!pairs [x: 1]\n", "the tag !!pairs at line 1, column 4 has no JSON equivalent"),
        (
            "a: !!timestamp 2024-12-20\n",
            "the tag !!timestamp at line 1, column 4 has no JSON equivalent",
        ),
    ],
)
def test_a_tag_json_cannot_hold_is_refused_with_its_place(text: str, message: str) -> None:
    with pytest.raises(DocumentSyntaxError) as caught:
        parse_document(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\n? [a, b]\n: 1\n", "the key at line 2, column 3 is a list: keys must be strings"),
        ("{[a]: 1}", "the key at line 1, column 2 is a list: keys must be strings"),
        ("{{a: 1}: 2}", "the key at line 1, column 2 is a mapping: keys must be strings"),
        ("x: {1: 2}", "the key at line 1, column 5 is an integer: keys must be strings (quote it)"),
        (
            "x: {.nan: 1}",
            "the key at line 1, column 5 is a number: keys must be strings (quote it)",
        ),
        ("x: {on: 1}", "the key at line 1, column 5 is a boolean: keys must be strings (quote it)"),
        ("x: {~: 1}", "the key at line 1, column 5 is null: keys must be strings (quote it)"),
    ],
)
def test_a_key_that_is_not_a_string_is_refused_with_its_place(text: str, message: str) -> None:
    with pytest.raises(DocumentSyntaxError) as caught:
        parse_document(text)
    assert str(caught.value) == message


def test_merge_keys_and_quoted_keys_still_load() -> None:
    text = "base: &base {a: 1}\nmerged: {<<: *base, '1': 2}\n"
    assert parse_document(text) == {"base": {"a": 1}, "merged": {"a": 1, "1": 2}}
