"""Templates hold definitions: validated on assignment, saved from a playbook, instantiated
through the same builder as ``Playbook.from_definition``."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from agentical.db.enums import PlaybookCategory
from agentical.db.models.playbook import (
    DefinitionError,
    DefinitionProblem,
    Playbook,
    PlaybookTemplate,
)
from agentical.db.testing.factories import make_template

DOCUMENT = {
    "name": "Rotate keys",
    "category": "security",
    "steps": [
        {"name": "rotate", "type": "automated", "parameters": {"key": "{{ api_key }}"}},
        {"name": "verify", "depends_on": ["rotate"]},
    ],
    "variables": [
        {"name": "api_key", "sensitive": True, "default": "ak-live-secret"},
        {"name": "region", "type": "select", "options": ["eu", "us"], "default": "eu"},
    ],
}


def test_invalid_template_data_is_refused_on_assignment_with_its_location(
    session: Session,
) -> None:
    template = make_template(session)
    before = dict(template.template_data)
    with pytest.raises(DefinitionError) as caught:
        template.template_data = {"steps": [{"name": "a", "depends_on": ["b"]}, {"order": 0}]}
    assert caught.value.problems == [
        DefinitionProblem("template_data.steps[1].name", "Field required"),
        DefinitionProblem(
            "template_data.steps[1].order", "Input should be greater than or equal to 1"
        ),
        DefinitionProblem("template_data.steps[0].depends_on[0]", "unknown step 'b'"),
    ]
    assert str(caught.value).startswith(f"invalid template data of '{template.name}'")
    assert template.template_data == before


def test_create_playbook_revalidates_data_changed_in_place(session: Session) -> None:
    template = make_template(session)
    template.template_data["steps"][2]["depends_on"] = ["nowhere"]
    with pytest.raises(DefinitionError) as caught:
        template.create_playbook("Broken")
    assert caught.value.problems == [
        DefinitionProblem("template_data.steps[2].depends_on[0]", "unknown step 'nowhere'")
    ]
    assert template.usage_count == 0


def test_from_playbook_saves_the_definition_without_name_or_sensitive_defaults(
    session: Session,
) -> None:
    playbook = Playbook.from_definition(DOCUMENT, created_by="alice")
    template = PlaybookTemplate.from_playbook(playbook, "Key rotation", "1.2.0")
    session.add(template)
    session.flush()
    assert (template.name, template.version, template.category) == (
        "Key rotation",
        "1.2.0",
        PlaybookCategory.SECURITY,
    )
    assert template.created_by == "alice"
    assert "name" not in template.template_data
    assert "ak-live-secret" not in repr(template.template_data)
    assert template.template_data["variables"][0] == {"name": "api_key", "sensitive": True}

    created = template.create_playbook("Rotate keys (EU)", created_by="bob")
    assert created.name == "Rotate keys (EU)"
    assert created.created_by == "bob"
    assert created.template is template
    expected = playbook.to_definition().model_copy(update={"name": "Rotate keys (EU)"})
    expected.variables[0].default_value = None
    assert created.to_definition() == expected


def test_create_playbook_and_from_definition_build_the_same_rows(session: Session) -> None:
    template = make_template(session)
    from_template = template.create_playbook("Roll out", category=PlaybookCategory.RELEASE)
    direct = Playbook.from_definition(
        {**template.template_data, "name": "Roll out", "category": "release"}
    )
    assert from_template.to_definition() == direct.to_definition()
    assert [step.step_name for step in from_template.steps[2].depends_on] == ["deploy"]


def test_from_definition_needs_a_name_and_a_category() -> None:
    with pytest.raises(DefinitionError) as caught:
        Playbook.from_definition({"steps": [{"name": "a"}]})
    assert caught.value.problems == [
        DefinitionProblem("name", "a playbook needs a name"),
        DefinitionProblem("category", "a playbook needs a category"),
    ]
