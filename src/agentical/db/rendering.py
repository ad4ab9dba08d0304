"""Sandboxed rendering of ``{{ placeholder }}`` templates in step parameters.

Pure: no models, no schemas. The definition schemas use :func:`template_references` to
check placeholders before anything is stored; executions use :func:`render_parameters` to
fill them in at run time. Templates run in the bounded sandbox of ``agentical.db.sandbox``
(Jinja2's immutable sandbox with strict undefined, limited globals, and limits on time and
output), so an unknown name is an error, Python internals are out of reach, and one
step's parameters render within ``MAX_RENDER_SECONDS`` and ``MAX_TEMPLATE_OUTPUT``.

Messages name the step, the parameter and the missing name, never a value: a parameter may
be built from a sensitive variable.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.lexer import ignored_tokens

from agentical.db.errors import InvalidInputError
from agentical.db.sandbox import (
    TemplateLimitError,
    check_deadline,
    check_size,
    refuse_over,
    render_budget,
    sandbox,
)

STEPS = "steps"
OUTPUT = "output"
# Templates up to this long are parsed once per process (``_cached_references``).
CACHED_TEMPLATE_CHARS = 1_024

Path = tuple[str | int, ...]

__all__ = [
    "RenderError",
    "iter_strings",
    "render_context",
    "render_parameters",
    "sandbox",
    "step_output_reference",
    "template_references",
    "template_tokens",
]

# Nodes that declare names: only a template that has one needs Jinja's full scope analysis.
_SCOPING = (nodes.For, nodes.Assign, nodes.AssignBlock, nodes.Macro, nodes.CallBlock, nodes.With)
# A parameter that is exactly one ``{{ expression }}`` keeps the expression's own type.
_SINGLE_EXPRESSION = re.compile(
    r"^\s*\{\{(?P<expression>(?:(?!\{\{|\}\}|\{%|%\}).)*)\}\}\s*$", re.S
)


class PlaceholderSyntaxError(InvalidInputError):
    """A parameter is not a valid template."""


class RenderError(InvalidInputError):
    """A parameter could not be rendered. Names the step, the parameter and the reason."""

    def __init__(self, step_name: str, parameter: str, reason: str, missing: str | None = None):
        self.step_name = step_name
        self.parameter = parameter
        self.reason = reason
        self.missing = missing
        super().__init__(f"step '{step_name}', parameter '{parameter}': {reason}")


def format_path(path: Path) -> str:
    """``("steps", 2, "depends_on", 0)`` as ``steps[2].depends_on[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def iter_strings(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every string inside nested dicts and lists, with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_strings(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from iter_strings(item, (*path, index))


def _chain(node: nodes.Node) -> tuple[str, ...] | None:
    """The constant lookup chain ``a.b["c"]`` as ``("a", "b", "c")``; ``None`` otherwise."""
    if isinstance(node, nodes.Name):
        return (node.name,)
    if isinstance(node, nodes.Getattr):
        base = _chain(node.node)
        return None if base is None else (*base, node.attr)
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        base = _chain(node.node)
        key = node.arg.value
        return None if base is None or not isinstance(key, str | int) else (*base, str(key))
    return None


def _collect(node: nodes.Node, roots: set[str], found: list[tuple[str, ...]]) -> None:
    chain = _chain(node)
    if chain is not None:
        if chain[0] in roots and chain not in found:
            found.append(chain)
        return
    for child in node.iter_child_nodes():
        _collect(child, roots, found)


def _parse(text: str) -> nodes.Template:
    try:
        return sandbox().parse(text)
    except TemplateSyntaxError as error:
        raise PlaceholderSyntaxError(
            f"invalid template: {error.message} (line {error.lineno})"
        ) from None


def template_references(text: str) -> list[tuple[str, ...]]:
    """The names a template reads from its context, as constant lookup chains.

    ``"{{ steps.assess.output.host }} on {{ region }}"`` gives
    ``[("steps", "assess", "output", "host"), ("region",)]``. Names the template assigns
    itself (loop variables, ``set``) and the sandbox's globals are not references. Raises
    :class:`PlaceholderSyntaxError` when the text is not a valid template.
    """
    if "{" not in text:
        return []
    if len(text) > CACHED_TEMPLATE_CHARS:
        return list(_references(text))
    return list(_cached_references(text))


def template_tokens(text: str, limit: int) -> int:
    """The tokens Jinja will parse in ``text`` (comments and whitespace aside), counted no
    further than past ``limit``: lexing costs a fraction of parsing, so a budget can be
    checked before the parser runs. A lexing error stops the count; parsing reports it."""
    count = 0
    if "{" not in text:
        return count
    try:
        for _line, kind, _value in sandbox().lex(text):
            if kind not in ignored_tokens:
                count += 1
                if count > limit:
                    break
    except TemplateSyntaxError:
        pass
    return count


def _references(text: str) -> tuple[tuple[str, ...], ...]:
    tree = _parse(text)
    if next(tree.find_all(_SCOPING), None) is None:
        roots = {name.name for name in tree.find_all(nodes.Name) if name.ctx == "load"}
    else:
        roots = meta.find_undeclared_variables(tree)
    found: list[tuple[str, ...]] = []
    _collect(tree, roots - set(sandbox().globals), found)
    return tuple(found)


# A definition often repeats one template on many steps: short templates are parsed once
# per process. Definitions are untrusted and a text may hold 64 KiB, so longer ones are
# parsed each time: the cache keeps at most 4,096 texts of CACHED_TEMPLATE_CHARS.
_cached_references = functools.lru_cache(maxsize=4096)(_references)


def _missing_name(chain: tuple[str, ...], context: Mapping[str, Any]) -> str | None:
    """The shortest prefix of ``chain`` that ``context`` does not define, dotted."""
    current: Any = context
    for depth, part in enumerate(chain):
        if not isinstance(current, Mapping):
            return None  # attribute access on a value: left to the sandbox
        if part not in current:
            return ".".join(chain[: depth + 1])
        current = current[part]
    return None


def _render_text(text: str, context: Mapping[str, Any]) -> Any:
    single = _SINGLE_EXPRESSION.match(text)
    if single is not None:
        expression = sandbox().compile_expression(
            single.group("expression"), undefined_to_none=False
        )
        value = expression(**context)
        if isinstance(value, Undefined):
            str(value)  # raises the undefined's own error (SecurityError for internals)
            raise UndefinedError("undefined")
        return check_size(value)
    chunks: list[str] = []
    size = 0
    for chunk in sandbox().from_string(text).generate(**context):
        size += len(chunk)
        refuse_over(size)
        check_deadline()
        chunks.append(chunk)
    return "".join(chunks)


def render_text(text: str, context: Mapping[str, Any], *, step_name: str, parameter: str) -> Any:
    """Render one template string; a lone ``{{ expression }}`` keeps its native type."""
    try:
        references = template_references(text)
    except PlaceholderSyntaxError as error:
        raise RenderError(step_name, parameter, str(error)) from None
    if "{" not in text:
        return text
    for chain in references:
        missing = _missing_name(chain, context)
        if missing is not None:
            raise RenderError(step_name, parameter, f"undefined variable '{missing}'", missing)
    try:
        with render_budget():
            return _render_text(text, context)
    except TemplateLimitError as error:
        reason = f"refused: the template {error}"
    except SecurityError:
        reason = "refused: the template tries to reach Python internals"
    except UndefinedError:
        reason = "a lookup found no value"
    except Exception as error:  # any other failure: the type only, the message may hold a value
        reason = f"rendering failed ({type(error).__name__})"
    raise RenderError(step_name, parameter, reason)


def _render_value(value: Any, context: Mapping[str, Any], step_name: str, path: Path) -> Any:
    if isinstance(value, str):
        return render_text(value, context, step_name=step_name, parameter=format_path(path))
    if isinstance(value, Mapping):
        return {
            key: _render_value(item, context, step_name, (*path, str(key)))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [
            _render_value(item, context, step_name, (*path, index))
            for index, item in enumerate(value)
        ]
    return value


def render_parameters(
    parameters: Mapping[str, Any], context: Mapping[str, Any], *, step_name: str
) -> dict[str, Any]:
    """``parameters`` with every template string rendered against ``context``.

    ``context`` holds the variables by name and, under ``steps``, the outputs of finished
    steps as ``{"<step>": {"output": {...}}}``. Raises :class:`RenderError` naming the step,
    the parameter (``target.hosts[0]`` when nested) and the missing name.
    """
    with render_budget():
        return {
            key: _render_value(value, context, step_name, (str(key),))
            for key, value in parameters.items()
        }


def render_context(
    variables: Mapping[str, Any], step_outputs: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The rendering context: the variables, plus ``steps.<name>.output`` for each output."""
    outputs = {name: {OUTPUT: dict(output)} for name, output in step_outputs.items()}
    return {**variables, STEPS: outputs}


def step_output_reference(chain: Sequence[str]) -> str | None:
    """The step named by ``steps.<name>.output...``, or ``None`` if ``chain`` is not one."""
    if len(chain) >= 3 and chain[0] == STEPS and chain[2] == OUTPUT:
        return chain[1]
    return None
