"""The Jinja2 sandbox every template runs in, with bounded time and output.

Jinja's sandbox keeps Python internals out of reach but not time and memory:
``{{ 'a' * 10**9 }}`` builds a gigabyte (and is folded at compile time, so merely checking
a template runs it), nested ``range(99999)`` loops run for hours, ``lipsum(10**6)`` builds
hundreds of megabytes. This environment:

- offers only the globals a parameter needs (``range``, ``dict``): no ``lipsum``,
  ``cycler``, ``joiner`` or ``namespace`` (which would let a loop grow a value);
- refuses, before computing it, a result over ``MAX_TEMPLATE_OUTPUT``: ``*`` on text or a
  list, ``**``, ``%`` and ``format`` with a huge width, ``replace``, ``expandtabs``,
  ``join``, ``indent``, ``translate``, ``+`` and ``~`` that would multiply the text (however
  their arguments are passed), and any call given an integer over the limit;
  and checks every call's and filter's result, and every value before it is output as
  text, by what it holds (a list of 1,000 long strings is not 1,000 characters);
- intercepts those operators, so that compiling a template no longer folds them;
- limits ``range()`` to ``MAX_RANGE`` items and, inside :func:`render_budget`, checks the
  deadline on every loop iteration, call and filter, so a render ends by
  ``MAX_RENDER_SECONDS`` whatever the template does;
- refuses, as a ``TemplateSyntaxError``, a template nested deeper than
  ``MAX_TEMPLATE_NESTING``: Jinja's parser, its compiler and every walk over a template
  recurse once per level, so ``((((...))))`` or ``-----1`` a few thousand deep would end
  in a ``RecursionError`` anywhere.

:func:`sandbox` returns the one shared environment: use it (with :func:`render_budget`)
for anything that evaluates a template or an expression.
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from agentical.db.limits import (
    MAX_RANGE,
    MAX_RENDER_SECONDS,
    MAX_TEMPLATE_NESTING,
    MAX_TEMPLATE_OUTPUT,
)

_MAX_INTEGER_BITS = 8 * 4096
_LOOP_FILTER = "agentical_bounded_loop"
_CONCAT_FILTER = "agentical_bounded_concat"
_WIDTH = re.compile(r"\d+")
_deadline: ContextVar[float | None] = ContextVar("agentical_render_deadline", default=None)


class TemplateLimitError(SecurityError):
    """A template went over a limit (time, output size, range size); says which."""


@contextmanager
def render_budget(seconds: float = MAX_RENDER_SECONDS) -> Iterator[None]:
    """Everything rendered inside the block shares one deadline, ``seconds`` from now; a
    block inside another keeps the outer deadline."""
    if _deadline.get() is not None:
        yield
        return
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def check_deadline() -> None:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise TemplateLimitError(f"took longer than the {MAX_RENDER_SECONDS:g} s render limit")


def _size(value: Any) -> int:
    """Characters and items in ``value``, counting what its lists and dicts hold (and the
    digits of its integers): ``["a" * 262144] * 1000`` is only 1,000 pointers, but a
    ``join`` or a render makes 262 MB of it. Walked iteratively, no further than the
    limit."""
    total = 0
    stack = [value]
    while stack and total <= MAX_TEMPLATE_OUTPUT:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3
        elif isinstance(item, list | tuple):
            total += len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
    return total


def refuse_over(estimate: int) -> None:
    """Raise when a result of ``estimate`` characters (or items) is over the limit."""
    if estimate > MAX_TEMPLATE_OUTPUT:
        raise TemplateLimitError(f"would produce more than {MAX_TEMPLATE_OUTPUT:,} characters")


def check_size(value: Any) -> Any:
    """``value``, unless it is larger than ``MAX_TEMPLATE_OUTPUT`` (characters or items)."""
    refuse_over(_size(value))
    return value


def _check_widths(text: Any) -> None:
    """A format string (``%10s``, ``{:>10}``) asks for no width over the limit."""
    if isinstance(text, str):
        for number in _WIDTH.findall(text):
            refuse_over(int(number) if len(number) < 10 else MAX_TEMPLATE_OUTPUT + 1)


def _check_arguments(arguments: Iterable[Any]) -> None:
    for argument in arguments:
        if isinstance(argument, int) and not isinstance(argument, bool):
            refuse_over(abs(argument))


def _signature(function: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


def _positions(
    signature: inspect.Signature | None, arguments: tuple[Any, ...], options: dict[str, Any]
) -> tuple[Any, ...]:
    """The arguments of a call in the order of ``signature``, defaults filled in, so that
    ``replace(old="a", new=...)`` is estimated like ``replace("a", ...)``."""
    if signature is None:
        return arguments
    try:
        bound = signature.bind(*arguments, **options)
    except TypeError:  # the call itself fails the same way
        return arguments
    bound.apply_defaults()
    return tuple(bound.arguments.values())


def _check_growth(name: str, text: Any, arguments: tuple[Any, ...]) -> None:
    """The methods and filters that can multiply a text, estimated before they run."""
    if not isinstance(text, str):
        return
    if name == "replace" and len(arguments) >= 2:
        old, new = arguments[0], arguments[1]
        if isinstance(old, str) and isinstance(new, str):
            count = len(text) + 1 if old == "" else text.count(old)
            refuse_over(len(text) + count * max(len(new) - len(old), 0))
    elif name == "expandtabs" and arguments and isinstance(arguments[0], int):
        refuse_over(len(text) + text.count("\t") * arguments[0])
    elif name == "format":  # the filter: ``"%10s" | format(x)``
        _check_widths(text)
    elif name == "join" and arguments and isinstance(arguments[0], Sized):
        refuse_over(_size(arguments[0]) + len(text) * len(arguments[0]))
    elif name == "indent" and arguments and isinstance(arguments[0], int | str):
        width = arguments[0] if isinstance(arguments[0], int) else len(arguments[0])
        refuse_over(len(text) + (text.count("\n") + 1) * width)
    elif name == "translate" and arguments and isinstance(arguments[0], dict):
        longest = max(
            (len(new) for new in arguments[0].values() if isinstance(new, str)), default=1
        )
        refuse_over(len(text) * longest)


_GROWING = frozenset({"replace", "expandtabs", "format", "join", "indent", "translate"})


def _materialized(items: Any) -> Any:
    """``items`` as a sized collection, so that a join can be estimated before it runs
    (an iterator comes from ``range()`` or a filter over a value, both bounded)."""
    return items if isinstance(items, Sized) else list(items)


def _bounded_join(join: Callable[..., str]) -> Callable[..., str]:
    """The ``join`` filter, refused before it runs when the text would be over the limit:
    ``range(1000) | join("a" * 262144)`` would make 262 MB in one call."""

    @functools.wraps(join)
    def bounded(eval_context: Any, value: Any, d: Any = "", attribute: Any = None) -> str:
        items = _materialized(value)
        _check_growth("join", str(d), (items,))
        return join(eval_context, items, d, attribute)

    return bounded


def _bounded_range(*arguments: int) -> Iterator[int]:
    numbers = range(*arguments)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimitError(f"range() of more than {MAX_RANGE:,} items")
    return _ticking(numbers)


def _ticking(items: Iterable[Any]) -> Iterator[Any]:
    """``items``, checking the deadline before each one: what every template loop runs on."""
    for item in items:
        check_deadline()
        yield item


def _guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    passes_state = getattr(function, "jinja_pass_arg", None) is not None  # context first
    signature = _signature(function) if name in _GROWING else None

    @functools.wraps(function)
    def guarded(*arguments: Any, **options: Any) -> Any:
        check_deadline()
        values = arguments[1:] if passes_state else arguments
        _check_arguments([*values[1:], *options.values()])
        if name in _GROWING:
            values = _positions(signature, arguments, options)[1 if passes_state else 0 :]
            _check_growth(name, values[0], values[1:])
        return check_size(function(*arguments, **options))

    return guarded


def _depth(tree: nodes.Node) -> int:
    """How deep ``tree`` nests, walked iteratively: ``1 + 1 + ... + 1`` parses in a loop
    but makes a tree as deep as it is long."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def _too_deep(name: str | None, filename: str | None) -> TemplateSyntaxError:
    message = f"nested deeper than {MAX_TEMPLATE_NESTING} levels"
    return TemplateSyntaxError(message, 1, name, filename)


def _concatenated(values: list[Any]) -> str:
    """``a ~ b ~ c``, refused as soon as the text is over the limit (Jinja joins all the
    operands at once: ``a ~ a ~ ...`` a thousand times is a thousand long texts)."""
    texts: list[str] = []
    length = 0
    for value in values:
        text = str(check_size(value))
        length += len(text)
        refuse_over(length)
        texts.append(text)
    return "".join(texts)


def _bound_concatenations(tree: nodes.Node) -> None:
    """Every ``~`` joins its operands through ``_concatenated``."""
    for concat in tree.find_all(nodes.Concat):
        operands = nodes.List(concat.nodes, lineno=concat.lineno)
        joined = nodes.Filter(operands, _CONCAT_FILTER, [], [], None, None, lineno=concat.lineno)
        concat.nodes = [joined]


def _bound_loops(tree: nodes.Node) -> None:
    """Every ``{% for %}`` iterates through ``_ticking``, so loops respect the deadline."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.lineno)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the limits described in the module docstring."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            finalize=check_size,  # before a value is turned into text
        )
        self.globals = {"range": _bounded_range, "dict": dict}
        filters = {**self.filters, "join": _bounded_join(self.filters["join"])}
        self.filters = {name: _guarded_filter(name, f) for name, f in filters.items()}
        self.filters[_LOOP_FILTER] = _ticking
        self.filters[_CONCAT_FILTER] = _concatenated

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        try:
            tree = super()._parse(source, name, filename)
        except RecursionError:  # brackets or blocks nested too deep for the parser itself
            raise _too_deep(name, filename) from None
        if _depth(tree) > MAX_TEMPLATE_NESTING:
            raise _too_deep(name, filename)
        _bound_loops(tree)
        _bound_concatenations(tree)
        return tree

    def compile_expression(self, source: str, undefined_to_none: bool = True) -> TemplateExpression:
        """Jinja parses an expression without ``_parse``: an expression that was never
        checked (a condition stored before this limit) fails the same way."""
        try:
            return super().compile_expression(source, undefined_to_none)
        except RecursionError:
            raise _too_deep(None, None) from None

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        check_deadline()
        if operator_name == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | bytes | list | tuple) and isinstance(count, int):
                    refuse_over(_size(sequence) * count)
        elif operator_name == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right * left.bit_length() > _MAX_INTEGER_BITS:
                raise TemplateLimitError(
                    f"** would make an integer of more than {_MAX_INTEGER_BITS:,} bits"
                )
        elif operator_name == "+" and isinstance(left, str | list | tuple):
            refuse_over(_size(left) + _size(right))
        elif operator_name == "%" and isinstance(left, str):
            _check_widths(left)
            _check_arguments(right if isinstance(right, tuple) else (right,))
        return check_size(_BINARY[operator_name](left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        formatter = super().wrap_str_format(value)
        if formatter is None:
            return None
        template = value.__self__

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            _check_widths(template)
            _check_arguments([*args, *kwargs.values()])
            text: str = check_size(formatter(*args, **kwargs))
            return text

        return bounded_format

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_deadline()
        _check_arguments([*args, *kwargs.values()])
        name = getattr(__obj, "__name__", "")
        owner = getattr(__obj, "__self__", None)
        if name in _GROWING and isinstance(owner, str):
            if name == "join" and args:
                args = (_materialized(args[0]), *args[1:])
            _check_growth(name, owner, _positions(_signature(__obj), args, kwargs))
        return check_size(super().call(__context, __obj, *args, **kwargs))


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul,
    "**": operator.pow,
    "%": operator.mod,
    "+": operator.add,
}


@functools.cache
def sandbox() -> BoundedSandbox:
    """The shared bounded environment (templates compiled by it stay bounded)."""
    return BoundedSandbox()
