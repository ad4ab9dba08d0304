"""Sandboxed rendering of ``{{ placeholders }}`` and the references a template reads."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from jinja2.exceptions import SecurityError

from agentical.db.limits import MAX_TEMPLATE_NESTING
from agentical.db.rendering import (
    PlaceholderSyntaxError,
    RenderError,
    format_path,
    render_context,
    render_parameters,
    sandbox,
    template_references,
    template_tokens,
)
from agentical.db.sandbox import render_budget

SECRET = "hunter2-do-not-log"


def context() -> dict[str, Any]:
    return render_context(
        {"region": "eu-west-1", "replicas": 3, "token": SECRET, "hosts": ["a", "b"]},
        {"assess": {"primary": "db-1", "lag": {"seconds": 4}}},
    )


def render(text: str, parameter: str = "p") -> Any:
    return render_parameters({parameter: text}, context(), step_name="deploy")[parameter]


def test_references_are_constant_lookup_chains() -> None:
    assert template_references(
        "{{ steps.assess.output.primary }} in {{ region }} "
        "{% for host in hosts %}{{ host.name }}{{ loop.index }}{% endfor %}"
        '{{ steps["assess"].output["lag"].seconds }}{{ range(2) | list }}'
    ) == [
        ("steps", "assess", "output", "primary"),
        ("region",),
        ("hosts",),
        ("steps", "assess", "output", "lag", "seconds"),
    ]


def test_text_without_templates_has_no_references() -> None:
    assert template_references("plain {text}") == []


def test_a_broken_template_is_a_syntax_error() -> None:
    with pytest.raises(PlaceholderSyntaxError, match=r"invalid template: .*\(line 1\)"):
        template_references("{{ region ")


def test_parameters_render_nested_and_keep_the_type_of_a_lone_expression() -> None:
    rendered = render_parameters(
        {
            "replicas": "{{ replicas }}",
            "target": {"hosts": ["{{ steps.assess.output.primary }}", 5], "where": "{{ region }}"},
            "message": "{{ replicas }} replicas in {{ region | upper }}",
            "lag": "{{ steps.assess.output.lag.seconds * 2 }}",
            "untouched": True,
        },
        context(),
        step_name="deploy",
    )
    assert rendered == {
        "replicas": 3,
        "target": {"hosts": ["db-1", 5], "where": "eu-west-1"},
        "message": "3 replicas in EU-WEST-1",
        "lag": 8,
        "untouched": True,
    }


def test_sensitive_values_render_into_parameters() -> None:
    assert render("Bearer {{ token }}") == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("{{ regoin }}", "regoin"),
        ("x {{ steps.verify.output.host }}", "steps.verify"),
        ("{{ steps.assess.output.replica }}", "steps.assess.output.replica"),
    ],
)
def test_an_unknown_name_names_the_step_the_parameter_and_the_name(text: str, missing: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_parameters({"target": {"hosts": [text]}}, context(), step_name="deploy")
    assert str(caught.value) == (
        f"step 'deploy', parameter 'target.hosts[0]': undefined variable '{missing}'"
    )
    assert caught.value.missing == missing


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ region.__class__ }}",
        "x {{ hosts.__class__.__base__ }}",
        "{{ token.__len__() }}",
        "{{ range.__globals__ }}",
    ],
)
def test_reaching_python_internals_is_refused(text: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(text)
    assert str(caught.value) == (
        "step 'deploy', parameter 'p': refused: the template tries to reach Python internals"
    )


def test_the_sandbox_refuses_to_mutate_the_context() -> None:
    with pytest.raises(RenderError, match="refused"):
        render("{{ hosts.append('c') }}")
    assert context()["hosts"] == ["a", "b"]


@pytest.mark.parametrize(
    "text",
    ["{{ token | int }}x{{ 1 / 0 }}", "{{ token + 1 }}", "{{ hosts[token] }}", "{{ token.x }}"],
)
def test_errors_never_show_a_value(text: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(text)
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


def test_a_syntax_error_at_run_time_names_the_parameter() -> None:
    with pytest.raises(RenderError) as caught:
        render("{% if %}", parameter="when")
    assert str(caught.value).startswith("step 'deploy', parameter 'when': invalid template: ")


def test_template_tokens_counts_what_the_parser_reads_and_stops_past_the_limit() -> None:
    # "x ", {{ a . b }}, {% if a %}, "y", {% endif %}: the comment and spaces are not read.
    assert template_tokens("x {{ a.b }}{# c #}{% if a %}y{% endif %}", 100) == 14
    assert template_tokens("{{ a }}" * 1000, 10) == 11
    assert template_tokens("no placeholder", 10) == 0


def test_format_path() -> None:
    assert format_path(("steps", 2, "depends_on", 0)) == "steps[2].depends_on[0]"
    assert format_path(()) == ""


def _bounded(action: Callable[[], Any]) -> RenderError:
    """The error ``action`` raises, after under 2 s and under 200 MB (measured apart)."""
    started = time.thread_time()
    with pytest.raises(RenderError) as caught:
        action()
    assert time.thread_time() - started < 2.0
    tracemalloc.start()
    try:
        with pytest.raises(RenderError):
            action()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20
    return caught.value


@pytest.mark.parametrize(
    "text",
    [
        "{{ 'a' * 10**9 }}",
        "x{{ [0] * 10**9 }}",
        "{{ 2 ** (10**9) }}",
        "{{ '%*s' % (10**9, 'a') }}",
        "{{ '%999999999s' % 'a' }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 'a' | center(10**9) }}",
        "{{ 'a' | format(10**9) }}{{ '%999999999s' | format('a') }}",
        "{{ ('a' * 60000).replace('', 'a' * 60000) }}",
        "{{ ('a' * 60000) | replace('a', 'a' * 60000) }}",
        "{{ ('\t' * 60000).expandtabs(60000) }}",
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
        "{% for i in range(9999) %}{% for j in range(9999) %}x{% endfor %}{% endfor %}",
        "{% for c in hosts * 9999 %}{% for d in hosts * 9999 %}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
    ],
)
def test_templates_over_the_time_or_size_limits_are_refused_quickly(text: str) -> None:
    error = _bounded(lambda: render(text))
    assert str(error).startswith("step 'deploy', parameter 'p': refused: the template ")
    assert any(
        limit in str(error) for limit in ("render limit", "262,144 characters", "bits", "10,000")
    )


LONG = "{% set long = 'a' * 262144 %}"


@pytest.mark.parametrize(
    "text",
    [
        "{{ (['a' * 262144] * 80) | join }}",
        "{{ range(80) | join('a' * 262144) }}",
        "{{ ('a' * 262144).join(['b'] * 80) }}",
        "{{ ('a' * 262144).join(range(80) | map('string')) }}",
        f"{LONG}{{{{ [long] * 80 }}}}",
        f"{LONG}x{{{{ [{', '.join(['long'] * 80)}] }}}}",
        f"{LONG}x{{{{ {' ~ '.join(['long'] * 80)} }}}}",
        f"{LONG}{{{{ {' + '.join(['long'] * 40)} }}}}",
        "{{ ('a' * 1000) | replace(old='a', new='a' * 21000) }}",
        "{{ ('\t' * 1000).expandtabs(tabsize=21000) }}",
        "{{ ('a\n' * 1000) | indent(width=21000) }}",
        "{{ ('a' * 1000).translate({97: 'b' * 21000}) }}",
    ],
)
def test_a_value_that_multiplies_long_texts_is_refused_before_it_is_built(text: str) -> None:
    """Each would make 10-20 MB of text in one step (scaled down from the gigabytes the
    same templates make with more items): refused from the estimate, however the arguments
    are passed, the peak stays near the one long string the template starts from."""
    tracemalloc.start()
    try:
        with pytest.raises(RenderError, match="refused: the template would produce more than"):
            render(text)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.0f} MB"


def test_joins_and_other_growing_operations_within_the_limit_still_render() -> None:
    assert render("{{ range(3) | join(', ') }}") == "0, 1, 2"
    assert render("{{ region ~ '/' ~ replicas ~ hosts }}") == "eu-west-1/3['a', 'b']"
    assert render("{{ hosts + ['c'] }}{{ 'x' + 'y' }}") == "['a', 'b', 'c']xy"
    assert render("{{ 'a\nb' | indent(width=2, first=True) }}") == "  a\n  b"
    assert render("{{ 'a-b' | replace(old='-', new='+') }}") == "a+b"
    assert render("{{ 'abc'.translate({97: 'xy'}) }}") == "xybc"
    assert render("{{ 1 + replicas }}") == 4
    assert render("{{ [{'h': 'a'}, {'h': 'b'}] | join('+', attribute='h') }}") == "a+b"
    assert render("{{ '-'.join(hosts | map('upper')) }}") == "A-B"
    assert render("{{ 10**6 * 10**6 }}") == 10**12
    assert render("x{{ hosts }}") == "x['a', 'b']"


@pytest.mark.parametrize("name", ["lipsum", "cycler", "joiner", "namespace"])
def test_globals_that_grow_values_are_not_offered(name: str) -> None:
    with pytest.raises(RenderError, match=f"undefined variable '{name}'"):
        render(f"{{{{ {name}(10**6) }}}}")


def test_checking_a_template_never_evaluates_it() -> None:
    """Jinja folds constant expressions when it compiles; the bounded sandbox does not."""
    started = time.thread_time()
    assert template_references("{{ 'a' * 10**9 }}{{ 'b' | center(10**9) }}{{ x }}") == [("x",)]
    assert time.thread_time() - started < 2.0


def test_checking_long_templates_keeps_no_memory_behind() -> None:
    """A process checks templates from untrusted definitions for its whole life: only short
    ones are kept parsed, so 64 KiB texts do not pile up in the cache."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(40):  # each text dropped after its check: 2.6 MB in all
            text = f"{{{{ host_{index} }}}} " + "x" * 65_000
            assert template_references(text) == [(f"host_{index}",)]
        del text
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 500_000


def test_the_sandbox_is_shared_and_bounded_for_expressions_too() -> None:
    expression = sandbox().compile_expression("'a' * n")
    assert expression(n=3) == "aaa"
    with pytest.raises(SecurityError, match="262,144"):
        expression(n=10**9)
    forever = sandbox().compile_expression("range(10000) | map('string') | list | length")
    with render_budget(0.0), pytest.raises(SecurityError, match="render limit"):
        forever()


DEEP_TEMPLATES = {
    "brackets": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "lists": "{{ " + "[" * 5000 + "1" + "]" * 5000 + " }}",
    "blocks": "{% if 1 %}" * 3000 + "{% endif %}" * 3000,
    "unary": "{{ " + "-" * 5000 + "1 }}",
    "chain": "{{ 1" + " + 1" * 5000 + " }}",
    "filters": "x {{ region" + " | e" * 5000 + " }}",
}


@pytest.mark.parametrize("text", DEEP_TEMPLATES.values(), ids=DEEP_TEMPLATES.keys())
def test_a_template_nested_too_deep_is_a_syntax_error_not_a_recursion_error(text: str) -> None:
    deeper = f"nested deeper than {MAX_TEMPLATE_NESTING} levels"
    with pytest.raises(PlaceholderSyntaxError, match=deeper):
        template_references(text)
    with pytest.raises(RenderError, match=f"parameter 'p': invalid template: {deeper}"):
        render(text)


def test_a_template_just_within_the_nesting_limit_renders() -> None:
    # The tree: Template, Output, then the additions, then the constants.
    assert render("{{ 1" + " + 1" * (MAX_TEMPLATE_NESTING - 3) + " }}") == MAX_TEMPLATE_NESTING - 2
    assert render("{% if 1 %}" * 60 + "x" + "{% endif %}" * 60) == "x"
    assert render("{{ " + "(" * 60 + "region" + ")" * 60 + " }}") == "eu-west-1"


def test_ordinary_templates_still_render() -> None:
    assert render("{% for h in hosts %}{{ h | upper }}{% endfor %}") == "AB"
    assert render("{{ range(3) | list }}") == [0, 1, 2]
    assert render("{{ 'ab' * replicas }}") == "ababab"
    assert render("{{ '%s-%d' % (region, replicas) }}") == "eu-west-1-3"
