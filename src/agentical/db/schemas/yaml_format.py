"""Reading and writing documents as YAML or JSON, deterministically.

Reading uses PyYAML's safe loader on libyaml's parser (YAML is a superset of JSON) and
builds JSON data only, since that is what a document is stored as: an unquoted date stays
the text it is (as in YAML 1.2), keys must be strings, tags JSON cannot hold (``!!set``,
``!!binary``...) are refused, and so are duplicate keys, which YAML would otherwise resolve
silently by keeping the last one.
Untrusted text is bounded before anything is built from it: its size is checked before
parsing, and the parsed node graph before construction, counting each alias as often as it
is used, so an alias bomb ("billion laughs", merge keys doubling a mapping) or deep nesting
is refused instead of expanded (see ``agentical.db.limits``). Writing keeps the key order
it is given and prints multi-line strings as literal blocks, so diffs stay readable.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from agentical.db.errors import InvalidInputError
from agentical.db.limits import (
    MAX_DOCUMENT_VALUES,
    MAX_NESTING_DEPTH,
    NESTED_TOO_DEEP,
    document_size_problem,
)


class DocumentSyntaxError(InvalidInputError):
    """The text is not YAML or JSON; the message gives the line and column."""


_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_YAML_TAG = "tag:yaml.org,2002:"
_NOT_JSON_TAGS = ("binary", "omap", "pairs", "set", "timestamp")
_KINDS = {"null": "null", "bool": "a boolean", "int": "an integer", "float": "a number"}


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    # Without the timestamp resolver, ``2024-12-20`` is the string JSON would have.
    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != f"{_YAML_TAG}timestamp"]
        for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
    }


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"at line {mark.line + 1}, column {mark.column + 1}"


def _short_tag(node: yaml.Node) -> str:
    return str(node.tag).replace(_YAML_TAG, "!!")


def _refuse_tag(_loader: _Loader, node: yaml.Node) -> None:
    raise DocumentSyntaxError(f"the tag {_short_tag(node)} {_where(node)} has no JSON equivalent")


def _key(loader: _Loader, key_node: yaml.Node) -> str:
    """A mapping key as JSON has it: a string. YAML also allows numbers, booleans, null,
    lists and mappings, which JSON data cannot hold (and a list cannot even be hashed)."""
    if isinstance(key_node, yaml.ScalarNode):
        key = loader.construct_object(key_node)
        if isinstance(key, str):
            return key
        kind = _KINDS.get(str(key_node.tag).removeprefix(_YAML_TAG), _short_tag(key_node))
        hint = " (quote it)"
    else:
        kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
        hint = ""
    raise DocumentSyntaxError(f"the key {_where(key_node)} is {kind}: keys must be strings{hint}")


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[str] = set()
    for key_node, _value_node in node.value:
        key = _key(loader, key_node)
        if key in seen:
            raise DocumentSyntaxError(f"duplicate key '{key}' {_where(key_node)}")
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=True)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
for _tag in _NOT_JSON_TAGS:
    _Loader.add_constructor(f"{_YAML_TAG}{_tag}", _refuse_tag)


class _Dumper(yaml.SafeDumper):
    pass


def _represent_text(dumper: _Dumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return list(node.value)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose expansion is too large or too deep, before building it.

    One iterative post-order walk: each node's expanded size and height are computed once
    and reused wherever an alias points at it.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id -> (values when expanded, height)
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            size, height = 1, 0
            for child in _children(node):
                child_size, child_height = sizes[id(child)]
                size += child_size
                height = max(height, child_height)
            if size > MAX_DOCUMENT_VALUES:
                raise DocumentSyntaxError(
                    f"the document expands to more than {MAX_DOCUMENT_VALUES:,} values "
                    "(YAML aliases count each time they are used)"
                )
            if height > MAX_NESTING_DEPTH:
                raise DocumentSyntaxError(NESTED_TOO_DEEP)
            sizes[key] = (size, height + 1)
            open_nodes.discard(key)
        elif key in open_nodes:
            raise DocumentSyntaxError("a YAML alias refers to a node that contains it")
        elif key not in sizes:
            if isinstance(node, yaml.ScalarNode):
                sizes[key] = (1, 0)
                continue
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend([(child, False) for child in _children(node)])


def _load(text: str) -> Any:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_expansion(root)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def parse_document(text: str) -> Any:
    """The data in ``text`` (YAML or JSON). Raises ``DocumentSyntaxError``, also for a
    document over the size, nesting or expansion limits."""
    too_large = document_size_problem(text)
    if too_large is not None:
        raise DocumentSyntaxError(too_large)
    try:
        return _load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        raise DocumentSyntaxError(f"not valid YAML or JSON{where}: {error.problem}") from None
    except yaml.YAMLError as error:
        raise DocumentSyntaxError(f"not valid YAML or JSON: {error}") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        if isinstance(error, DocumentSyntaxError):
            raise
        raise DocumentSyntaxError(f"not a valid value: {error}") from None


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
