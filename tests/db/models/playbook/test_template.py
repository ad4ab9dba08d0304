"""``PlaybookTemplate``: short-key template data, create_playbook, usage counting."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agentical.db.enums import PlaybookCategory, PlaybookStatus, StepType, VariableType
from agentical.db.models.playbook import SECRET_MASK, Playbook, PlaybookTemplate
from agentical.db.testing.factories import make_template

SHORT_KEYS: dict[str, Any] = {
    "description": "Respond to an outage",
    "purpose": "Restore service",
    "strategy": "Contain, then fix",
    "tags": ["Outage"],
    "success_criteria": ["Service restored"],
    "configuration": {"notify": "#ops"},
    "steps": [
        {"name": "triage", "order": 1},
        {"name": "mitigate", "order": 2, "type": "automated", "depends_on": ["triage"]},
        {"name": "review", "order": 3, "type": "approval", "depends_on": ["triage", "mitigate"]},
    ],
    "variables": [
        {"name": "severity", "type": "select", "options": ["low", "high"], "default": "low"},
        {"name": "ticket", "type": "string"},
    ],
}


def template_with(session: Session, data: dict[str, Any], **fields: Any) -> PlaybookTemplate:
    return make_template(session, template_data=data, **fields)


def test_the_contract_constructor(session: Session) -> None:
    template = PlaybookTemplate(
        name="Outage",
        description="Standard outage response",
        category=PlaybookCategory.INCIDENT_RESPONSE,
        version="1.0.0",
        template_data=SHORT_KEYS,
        created_by="admin",
    )
    session.add(template)
    session.flush()
    assert template.usage_count == 0
    assert template.created_by == "admin"


def test_name_and_version_are_unique_together(session: Session) -> None:
    template = make_template(session)
    session.commit()
    make_template(session, name=template.name, version="2.0.0")
    with pytest.raises(IntegrityError):
        make_template(session, name=template.name, version=template.version)
    session.rollback()


def test_create_playbook_reads_short_keys_for_steps_and_variables(session: Session) -> None:
    template = template_with(session, SHORT_KEYS)
    playbook = template.create_playbook("Outage at ACME", created_by="user123")
    assert isinstance(playbook, Playbook)
    assert playbook.name == "Outage at ACME"
    assert playbook.created_by == "user123"
    assert playbook.category is template.category
    assert playbook.status is PlaybookStatus.DRAFT
    assert playbook.description == "Respond to an outage"
    assert playbook.purpose == "Restore service"
    assert playbook.strategy == "Contain, then fix"
    assert playbook.get_tags() == ["outage"]
    assert playbook.get_success_criteria() == ["Service restored"]
    assert playbook.get_configuration() == {"notify": "#ops"}
    steps = {step.step_name: step for step in playbook.steps}
    assert [(s.step_name, s.step_order) for s in playbook.steps] == [
        ("triage", 1),
        ("mitigate", 2),
        ("review", 3),
    ]
    assert steps["triage"].step_type is StepType.MANUAL
    assert steps["mitigate"].step_type is StepType.AUTOMATED
    assert steps["review"].step_type is StepType.APPROVAL
    assert steps["mitigate"].depends_on == [steps["triage"]]
    assert set(steps["review"].depends_on) == {steps["triage"], steps["mitigate"]}
    variables = {variable.variable_name: variable for variable in playbook.variables}
    assert variables["severity"].variable_type is VariableType.SELECT
    assert variables["severity"].get_enum_values() == ["low", "high"]
    assert variables["severity"].get_value() == "low"
    assert variables["ticket"].variable_type is VariableType.STRING
    assert playbook.template is template


def test_create_playbook_does_not_add_the_playbook_to_a_session(session: Session) -> None:
    template = template_with(session, SHORT_KEYS)
    playbook = template.create_playbook("Not yet saved")
    assert playbook not in session
    assert playbook.id is None


def test_a_created_playbook_is_saved_whole_and_counts_one_use(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    template = template_with(session, SHORT_KEYS)
    session.commit()
    playbook = template.create_playbook("Outage", created_by="scheduler")
    session.add(playbook)
    session.commit()
    with fresh_session() as other:
        loaded = other.get(Playbook, playbook.id)
        assert loaded is not None
        assert loaded.template_id == template.id
        assert loaded.created_by == "scheduler"
        by_name = {step.step_name: step for step in loaded.steps}
        assert by_name["review"].get_depends_on_steps() == [
            by_name["triage"].id,
            by_name["mitigate"].id,
        ]
        assert [v.variable_name for v in loaded.variables] == ["severity", "ticket"]
        loaded_template = other.get(PlaybookTemplate, template.id)
        assert loaded_template is not None
        assert loaded_template.usage_count == 1
        assert [p.id for p in loaded_template.playbooks] == [playbook.id]


def test_usage_count_goes_up_by_one_per_playbook(session: Session) -> None:
    template = make_template(session)
    first = template.create_playbook("One")
    second = template.create_playbook("Two")
    assert template.usage_count == 2
    assert first is not second
    assert first.steps[0] is not second.steps[0]


def test_overrides_win_over_the_template(session: Session) -> None:
    template = template_with(session, SHORT_KEYS)
    playbook = template.create_playbook(
        "Custom",
        category=PlaybookCategory.SECURITY,
        description="Overridden",
        tags=["custom"],
    )
    assert playbook.category is PlaybookCategory.SECURITY
    assert playbook.description == "Overridden"
    assert playbook.get_tags() == ["custom"]


def test_the_factory_template_builds_an_executable_chain(session: Session) -> None:
    playbook = make_template(session).create_playbook("Deploy")
    session.add(playbook)
    session.flush()
    prepare, deploy, verify = playbook.steps
    assert prepare.step_type is StepType.MANUAL
    assert deploy.get_depends_on_steps() == [prepare.id]
    assert verify.get_depends_on_steps() == [deploy.id]
    assert playbook.is_executable


def test_create_playbook_with_a_blank_name_is_rejected_and_not_counted(session: Session) -> None:
    template = make_template(session)
    with pytest.raises(ValueError, match="name"):
        template.create_playbook("   ")
    assert template.usage_count == 0


def with_step(**step: Any) -> dict[str, Any]:
    return {"steps": [{"name": "first"}, step]}


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("unknown_step_type", with_step(name="second", type="teleport"), r"steps\W+1\W+type"),
    (
        "unknown_dependency",
        with_step(name="second", depends_on=["ghost"]),
        r"steps\W+1\W+depends_on",
    ),
    ("duplicate_step_name", with_step(name="first"), r"steps\W+1\W+(step_)?name"),
    ("bad_step_order", with_step(name="second", order=0), r"steps\W+1\W+(step_)?order"),
    (
        "cycle",
        {"steps": [{"name": "a", "depends_on": ["b"]}, {"name": "b", "depends_on": ["a"]}]},
        "cycle",
    ),
    ("unknown_key", {"steps": [], "colour": "red"}, "colour"),
    ("bad_variable_name", {"variables": [{"name": "2bad"}]}, r"variables\W+0\W+(variable_)?name"),
    (
        "select_without_options",
        {"variables": [{"name": "v", "type": "select"}]},
        r"variables\W+0\W+(options|enum_values)",
    ),
    (
        "default_not_an_option",
        {"variables": [{"name": "v", "type": "select", "options": ["a"], "default": "b"}]},
        r"variables\W+0\W+default",
    ),
    (
        "bad_pattern",
        {"variables": [{"name": "v", "pattern": "[unclosed"}]},
        r"variables\W+0\W+pattern",
    ),
]


@pytest.mark.parametrize(("data", "field"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_invalid_template_data_raises_naming_the_field(data: dict[str, Any], field: str) -> None:
    def build() -> Playbook:
        # Refusing the data at assignment or at create_playbook both meet the contract.
        template = PlaybookTemplate(
            name="Broken", category=PlaybookCategory.TESTING, template_data=data
        )
        return template.create_playbook("From broken data")

    with pytest.raises(ValueError, match=field):
        build()


def test_invalid_data_already_in_the_database_fails_create_playbook_and_is_not_counted(
    session: Session,
) -> None:
    template = make_template(session)
    session.commit()
    broken = {"steps": [{"name": "a", "depends_on": ["missing"]}]}
    session.execute(
        update(PlaybookTemplate)
        .where(PlaybookTemplate.id == template.id)
        .values(template_data=broken)
        .execution_options(synchronize_session=False)
    )
    session.expire(template)
    with pytest.raises(ValueError, match=r"steps\W+0\W+depends_on"):
        template.create_playbook("From stored broken data")
    assert template.usage_count == 0
    assert template.playbooks == []


def test_to_dict_is_json_ready(session: Session) -> None:
    template = template_with(session, SHORT_KEYS)
    data = template.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["category"] == "deployment"
    assert data["usage_count"] == 0
    assert len(data["template_data"]["steps"]) == 3


@pytest.mark.parametrize(
    ("sensitive_key", "default_key"),
    [("sensitive", "default"), ("is_sensitive", "default_value")],
)
def test_to_dict_masks_the_default_of_a_sensitive_variable(
    session: Session, sensitive_key: str, default_key: str
) -> None:
    data = {
        "variables": [
            {"name": "api_token", sensitive_key: True, default_key: "sk-live-1"},
            {"name": "region", default_key: "eu"},
        ]
    }
    template = template_with(session, data)
    dumped = template.to_dict()
    assert "sk-live-1" not in json.dumps(dumped)
    token, region = dumped["template_data"]["variables"]
    assert token[default_key] == SECRET_MASK
    assert region[default_key] == "eu"
    assert "sk-live-1" not in repr(template)
    playbook = template.create_playbook("Uses the secret")
    assert playbook.variables[0].get_value() == "sk-live-1"
