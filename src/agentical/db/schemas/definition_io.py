"""Reading playbook definitions from YAML or JSON, and the published JSON Schema.

``load_definition`` accepts the text itself (a ``str``) or a path (``pathlib.Path``),
``load_definition_file`` a path, and both report every problem of the document in one
:class:`DefinitionError`. Export is on the definition itself
(``definition.to_yaml()``, ``definition.to_json()``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ValidationError

from agentical.db.limits import MAX_DOCUMENT_BYTES
from agentical.db.rendering import Path as Location
from agentical.db.rendering import format_path
from agentical.db.schemas.definition import (
    PlaybookDefinition,
    StepDefinition,
    VariableDefinition,
)
from agentical.db.schemas.definition_errors import DefinitionError, DefinitionProblem
from agentical.db.schemas.yaml_format import DocumentSyntaxError, dump_json, parse_document

SCHEMA_FILE = Path(__file__).with_name("playbook.schema.json")
"""The JSON Schema shipped in the package, for editors (regenerate: ``write_json_schema``)."""


def validate_definition(
    data: Any, *, subject: str = "playbook definition", prefix: Location = ()
) -> PlaybookDefinition:
    """``data`` (a dict from a file, template data...) as a definition.

    Raises ``DefinitionError`` with every problem; locations start with ``prefix`` (e.g.
    ``("template_data",)`` gives ``template_data.steps[1].name``).
    """
    if isinstance(data, PlaybookDefinition):
        return data
    if not isinstance(data, dict):
        problem = DefinitionProblem(
            format_path(prefix), "expected a mapping of playbook fields at the top level"
        )
        raise DefinitionError([problem], subject)
    try:
        return PlaybookDefinition.model_validate(data)
    except ValidationError as error:
        raise DefinitionError.from_validation_error(error, prefix=prefix, subject=subject) from None


def load_definition(source: str | os.PathLike[str]) -> PlaybookDefinition:
    """Read a definition from its text (a ``str``, YAML or JSON) or from a file (a path).

    A ``str`` is always the document itself, never a file name: text from a caller must
    not make the library open a file. Raises ``DefinitionError`` listing every problem
    with its location (``steps[2].depends_on[0]``), and ``OSError`` when a file cannot be
    read.
    """
    if not isinstance(source, str):
        return load_definition_file(source)
    return _parse_definition(source, "playbook definition")


def load_definition_file(path: str | os.PathLike[str]) -> PlaybookDefinition:
    """Read the definition in the YAML or JSON file at ``path``.

    A file over ``MAX_DOCUMENT_BYTES`` is refused from its size, before it is read.
    """
    file = Path(path)
    subject = f"playbook definition {file}"
    with file.open("rb") as stream:
        data = stream.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        message = f"the document is larger than {MAX_DOCUMENT_BYTES:,} bytes"
        raise DefinitionError([DefinitionProblem("", message)], subject)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"not UTF-8 text (byte {error.start})"
        raise DefinitionError([DefinitionProblem("", message)], subject) from None
    return _parse_definition(text, subject)


def _parse_definition(text: str, subject: str) -> PlaybookDefinition:
    try:
        data = parse_document(text)
    except DocumentSyntaxError as error:
        raise DefinitionError([DefinitionProblem("", str(error))], subject) from None
    return validate_definition(data, subject=subject)


def _spellings(model: type[BaseModel]) -> list[tuple[str, str]]:
    """``(short, long)`` for each field of ``model`` a file may spell either way."""
    return [
        (str(alias.choices[0]), str(alias.choices[1]))
        for field in model.model_fields.values()
        if isinstance(alias := field.validation_alias, AliasChoices)
    ]


def _accept_long_names(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Declare each long spelling beside its short one: either may be given, not both,
    and a required field is required under one of them."""
    properties, required = schema["properties"], schema.get("required", [])
    rules: list[dict[str, Any]] = []
    for short, long in _spellings(model):
        properties[long] = {**properties[short], "description": f"Same as `{short}`"}
        rules.append({"not": {"required": [short, long]}})
        if short in required:
            required.remove(short)
            rules.append({"anyOf": [{"required": [short]}, {"required": [long]}]})
    if rules:
        schema["allOf"] = rules
    if not required:
        schema.pop("required", None)


def definition_json_schema() -> dict[str, Any]:
    """The JSON Schema of a definition file, as published in ``playbook.schema.json``:
    the short keys the export writes, and the long attribute names import accepts."""
    schema = PlaybookDefinition.model_json_schema(by_alias=True, mode="validation")
    _accept_long_names(schema, PlaybookDefinition)
    for model in (StepDefinition, VariableDefinition):
        _accept_long_names(schema["$defs"][model.__name__], model)
    return schema


def render_json_schema() -> str:
    """The text of ``playbook.schema.json``: deterministic, so a test can compare it."""
    return dump_json(definition_json_schema())


def write_json_schema(path: str | os.PathLike[str] = SCHEMA_FILE) -> Path:
    """(Re)write the shipped JSON Schema (or another file) and return its path."""
    target = Path(path)
    target.write_text(render_json_schema(), encoding="utf-8")
    return target
