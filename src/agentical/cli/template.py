"""``agentical template ...``: list templates and instantiate playbooks from them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text
from sqlalchemy import select

from agentical.cli.context import settings
from agentical.cli.lookup import find_playbook, find_template
from agentical.cli.output import (
    JsonOption,
    info,
    print_json,
    print_table,
    reports_errors,
    success,
    table,
)
from agentical.db.audit import resolve_actor
from agentical.db.lookups import instantiate_template
from agentical.db.models.playbook import PlaybookCategory, PlaybookTemplate

app = typer.Typer(help="Playbook templates.", no_args_is_help=True)


@app.command("list")
@reports_errors
def list_templates(
    ctx: typer.Context,
    category: Annotated[
        PlaybookCategory | None, typer.Option(help="Only templates of this category.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the templates, one row a line."""
    query = select(PlaybookTemplate).where(PlaybookTemplate.is_active.is_(True))
    if category is not None:
        query = query.where(PlaybookTemplate.category == category)
    with settings(ctx).session() as session:
        templates = session.scalars(query.order_by(PlaybookTemplate.name, PlaybookTemplate.id))
        if as_json:
            print_json([template.to_dict() for template in templates])
            return
        grid = table("name", "version", "category", "steps", "used", "description")
        for template in templates:
            grid.add_row(
                Text(template.name),
                Text(template.version),
                str(template.category),
                str(len((template.template_data or {}).get("steps", []))),
                str(template.usage_count),
                Text(template.description or ""),
            )
    if grid.row_count == 0:
        info("no templates yet")
        return
    print_table(grid)


@app.command()
@reports_errors
def instantiate(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The template's name.")],
    new_name: Annotated[str, typer.Option("--as", help="Name of the new playbook.")],
    version: Annotated[str | None, typer.Option(help="Template version (default: newest).")] = None,
    created_by: Annotated[
        str | None,
        typer.Option(help="Recorded as the playbook's author (default: who acts, --as)."),
    ] = None,
) -> None:
    """Create a playbook from template NAME (under a name no playbook has)."""
    with settings(ctx).session() as session:
        template = find_template(session, name, version)
        playbook = instantiate_template(session, template, new_name, created_by=created_by)
        message = (
            f"created playbook '{playbook.name}' (id {playbook.id}, {playbook.step_count} steps) "
            f"from template '{template.name}' {template.version}"
        )
    success(message)


@app.command()
@reports_errors
def save(
    ctx: typer.Context,
    playbook_name: Annotated[str, typer.Argument(help="The playbook to save as a template.")],
    template_name: Annotated[str, typer.Option("--as", help="Name of the template.")],
    version: Annotated[str, typer.Option(help="Template version.")] = "1.0.0",
    created_by: Annotated[
        str | None,
        typer.Option(help="Recorded as the template's author (default: who acts, --as)."),
    ] = None,
) -> None:
    """Save a playbook (its latest version) as a template; sensitive defaults stay out."""
    with settings(ctx).session() as session:
        playbook = find_playbook(session, playbook_name)
        if session.scalar(
            select(PlaybookTemplate.id).where(
                PlaybookTemplate.name == template_name, PlaybookTemplate.version == version
            )
        ):
            raise ValueError(f"template '{template_name}' {version} already exists")
        template = PlaybookTemplate.from_playbook(
            playbook, template_name, version, created_by=created_by or resolve_actor()
        )
        session.add(template)
        session.flush()
        message = f"saved '{playbook.name}' as template '{template.name}' {template.version}"
    success(message)
