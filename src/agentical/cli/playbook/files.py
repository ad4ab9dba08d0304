"""Playbook definition files: validate, import, export."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from agentical.cli.context import settings
from agentical.cli.lookup import find_playbook
from agentical.cli.output import errors, fail, reports_errors, success
from agentical.db.models.playbook import (
    DefinitionError,
    DefinitionProblem,
    Playbook,
    PlaybookDefinition,
    load_definition_file,
)

FileArgument = Annotated[Path, typer.Argument(help="A playbook definition (YAML or JSON).")]


def _report(path: Path, error: DefinitionError) -> NoReturn:
    count = len(error.problems)
    errors.print(f"[bold red]{path}:[/] {count} problem{'s' if count != 1 else ''}")
    for problem in error.problems:
        errors.print(f"{path}: {problem}", markup=False)
    raise typer.Exit(1)


def read_definition(path: Path) -> PlaybookDefinition:
    """The validated definition in ``path``; on problems, list each with its location.

    A playbook file needs a name; the schema alone allows none (template data has none).
    """
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        definition = load_definition_file(path)
    except DefinitionError as error:
        _report(path, error)
    if definition.name is None:
        _report(path, DefinitionError([DefinitionProblem("name", "a playbook needs a name")]))
    return definition


def _summary(definition: PlaybookDefinition) -> str:
    return f"{len(definition.steps)} steps, {len(definition.variables)} variables"


@reports_errors
def validate(file: FileArgument) -> None:
    """Check a definition file without a database; list every problem with its location."""
    definition = read_definition(file)
    success(f"{file}: valid playbook '{definition.name}' ({_summary(definition)})")


@reports_errors
def import_file(
    ctx: typer.Context,
    file: FileArgument,
    created_by: Annotated[
        str | None,
        typer.Option(help="Recorded as the playbook's author (default: who acts, --as)."),
    ] = None,
    publish: Annotated[bool, typer.Option(help="Publish it right away.")] = False,
) -> None:
    """Import a definition file; an existing name gets its next version."""
    definition = read_definition(file)
    with settings(ctx).session() as session:
        playbook = Playbook.import_definition(session, definition, created_by=created_by)
        if publish:
            playbook.publish()
        message = (
            f"imported '{playbook.name}' version {playbook.version} "
            f"(id {playbook.id}, {_summary(definition)}, {playbook.status})"
        )
    success(message)


class Format(StrEnum):
    yaml = "yaml"
    json = "json"


@reports_errors
def export(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The playbook's name.")],
    format: Annotated[Format, typer.Option("--format", "-f", help="File format.")] = Format.yaml,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
) -> None:
    """Write a playbook as a definition file (sensitive defaults are never exported)."""
    with settings(ctx).session() as session:
        definition = find_playbook(session, name, version).to_definition()
    text = definition.to_yaml() if format is Format.yaml else definition.to_json()
    if output is None:
        # Plain text: Rich would wrap long lines and read [brackets] as markup.
        typer.echo(text, nl=not text.endswith("\n"))
        return
    output.write_text(text, encoding="utf-8")
    success(f"wrote '{definition.name}' to {output}")
