"""Reading and writing documents as YAML or JSON, deterministically.

Reading uses PyYAML's safe loader (YAML is a superset of JSON) and refuses duplicate keys,
which YAML would otherwise resolve silently by keeping the last one. Writing keeps the key
order it is given and prints multi-line strings as literal blocks, so diffs stay readable.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from agentical.db.errors import InvalidInputError


class DocumentSyntaxError(InvalidInputError):
    """The text is not YAML or JSON; the message gives the line and column."""


class _Loader(yaml.SafeLoader):
    pass


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            mark = key_node.start_mark
            raise DocumentSyntaxError(
                f"duplicate key '{key}' at line {mark.line + 1}, column {mark.column + 1}"
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


class _Dumper(yaml.SafeDumper):
    pass


def _represent_text(dumper: _Dumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def parse_document(text: str) -> Any:
    """The data in ``text`` (YAML or JSON). Raises ``DocumentSyntaxError``."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        raise DocumentSyntaxError(f"not valid YAML or JSON{where}: {error.problem}") from None
    except yaml.YAMLError as error:
        raise DocumentSyntaxError(f"not valid YAML or JSON: {error}") from None


def dump_yaml(document: Any) -> str:
    """Block-style YAML in the given key order; the same data always gives the same text."""
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def dump_json(document: Any) -> str:
    """Indented JSON in the given key order, ending with a newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
