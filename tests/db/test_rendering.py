"""Sandboxed rendering of ``{{ placeholders }}`` and the references a template reads."""

from __future__ import annotations

from typing import Any

import pytest

from agentical.db.rendering import (
    PlaceholderSyntaxError,
    RenderError,
    format_path,
    render_context,
    render_parameters,
    template_references,
)

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
        "{{ cycler.__init__.__globals__ }}",
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


def test_format_path() -> None:
    assert format_path(("steps", 2, "depends_on", 0)) == "steps[2].depends_on[0]"
    assert format_path(()) == ""
