from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import Playbook, PlaybookTemplate
from agentical.db.testing.factories import make_template
from tests.cli.conftest import Invoke


def _add_template(url: str, **fields: object) -> None:
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            make_template(session, **fields)
    finally:
        engine.dispose()


def test_list_without_templates_says_so(migrated_cli: Invoke) -> None:
    assert "no templates yet" in migrated_cli("template", "list").stdout


def test_list_shows_each_template_with_its_step_count(
    migrated_cli: Invoke, sqlite_url: str
) -> None:
    _add_template(sqlite_url, name="Rollout", description="Roll out a service")
    output = migrated_cli("template", "list").stdout
    assert "Rollout" in output
    assert "1.0.0" in output
    assert "deployment" in output


def test_instantiate_creates_the_playbook_and_counts_the_use(
    migrated_cli: Invoke, sqlite_url: str
) -> None:
    _add_template(sqlite_url, name="Rollout")
    # The global --as names who acts (the author); the command's own --as, the new name.
    output = migrated_cli(
        "--as", "alice", "template", "instantiate", "Rollout", "--as", "Deploy api"
    ).stdout
    assert "created playbook 'Deploy api'" in output
    engine = create_engine(sqlite_url)
    try:
        with Session(engine) as session:
            playbook = session.scalars(select(Playbook).where(Playbook.name == "Deploy api")).one()
            assert [step.step_name for step in playbook.steps] == ["prepare", "deploy", "verify"]
            assert playbook.steps[1].depends_on == [playbook.steps[0]]
            assert playbook.template is not None
            assert playbook.template.usage_count == 1
            assert playbook.created_by == "alice"
            assert session.scalar(select(PlaybookTemplate.usage_count)) == 1
    finally:
        engine.dispose()


def test_instantiate_an_unknown_template_is_one_line(migrated_cli: Invoke) -> None:
    result = migrated_cli("template", "instantiate", "Nope", "--as", "X", expect=1)
    assert result.stderr.startswith("Error: no template named 'Nope'")


def test_instantiate_refuses_a_name_already_taken(migrated_cli: Invoke, sqlite_url: str) -> None:
    _add_template(sqlite_url, name="Rollout")
    migrated_cli("template", "instantiate", "Rollout", "--as", "Deploy api")
    result = migrated_cli("template", "instantiate", "Rollout", "--as", "Deploy api", expect=1)
    assert "already exists" in result.stderr


def test_save_a_playbook_as_a_template_then_instantiate_it(
    migrated_cli: Invoke, sqlite_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "p.yaml"
    source.write_text(
        "name: Restart\ncategory: maintenance\n"
        "steps: [{name: drain}, {name: restart, depends_on: [drain]}]\n"
        "variables: [{name: api_key, sensitive: true, default: s3cr3t-default-key}]\n"
    )
    migrated_cli("playbook", "import", str(source))
    saved = migrated_cli("template", "save", "Restart", "--as", "Restart service").stdout
    assert "saved 'Restart' as template 'Restart service' 1.0.0" in saved
    refused = migrated_cli("template", "save", "Restart", "--as", "Restart service", expect=1)
    assert "already exists" in refused.stderr
    listed = migrated_cli("template", "list").stdout
    assert "Restart service" in listed
    assert "maintenance" in listed
    migrated_cli("template", "instantiate", "Restart service", "--as", "Restart api")
    engine = create_engine(sqlite_url)
    try:
        with Session(engine) as session:
            template = session.scalars(select(PlaybookTemplate)).one()
            assert "s3cr3t-default-key" not in str(template.template_data)
            playbook = session.scalars(select(Playbook).where(Playbook.name == "Restart api")).one()
            assert [step.step_name for step in playbook.steps] == ["drain", "restart"]
    finally:
        engine.dispose()
