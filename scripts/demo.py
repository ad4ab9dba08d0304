"""`make demo`: what the library does, in under a minute, through the `agentical` CLI.

Usage: ``python scripts/demo.py [DATABASE_FILE]`` (default ``.demo/agentical.db``). On a
fresh SQLite file: migrate it, import the example playbooks, make a template of one and a
playbook from that template, simulate a run of each example (plus one that fails, so the
statistics have something to say) and print their stats.
Each command is printed before it runs: type the same ones yourself afterwards. They run
in this one process, so the demo pays Python's start-up once, not once per command.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

from rich.console import Console
from typer.main import get_command

from agentical.cli.main import app
from agentical.db.models.playbook import PlaybookDefinition, load_definition

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE = ROOT / ".demo" / "agentical.db"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

# Inputs for the examples' required variables; sensitive ones are masked when echoed.
INPUTS = {
    "service": "checkout",
    "cluster": "db-main",
    "version": "v2.4.1",
    "backup_date": "2026-11-26",
    "admin_api_token": "demo-token-not-a-secret",
    "registry_password": "demo-password-not-a-secret",
    "encryption_key": "demo-key-0123456789abcdef",
}

SERVE_URL = "http://127.0.0.1:8000/ui/executions"  # agentical serve's default address

console = Console(highlight=False, soft_wrap=True)
command = get_command(app)


def agentical(*arguments: str, secrets: frozenset[str] = frozenset()) -> None:
    shown = [
        f"{argument.partition('=')[0]}=***" if argument.partition("=")[0] in secrets else argument
        for argument in arguments
    ]
    console.print(f"\n[bold cyan]$ agentical {shlex.join(shown)}[/]")
    status = command.main(list(arguments), prog_name="agentical", standalone_mode=False)
    if status:
        sys.exit(status)


def variables(definition: PlaybookDefinition) -> tuple[list[str], frozenset[str]]:
    pairs: list[str] = []
    for variable in definition.variables:
        if variable.is_required and variable.default_value is None:
            if variable.variable_name not in INPUTS:
                sys.exit(f"demo: no input for required variable '{variable.variable_name}'")
            pairs += ["--var", f"{variable.variable_name}={INPUTS[variable.variable_name]}"]
    secrets = frozenset(v.variable_name for v in definition.variables if v.is_sensitive)
    return pairs, secrets


def main(database: Path) -> None:
    started = time.perf_counter()
    database.parent.mkdir(parents=True, exist_ok=True)
    database.unlink(missing_ok=True)
    os.chdir(ROOT)
    url = f"sqlite:///{os.path.relpath(database, ROOT)}"
    os.environ["AGENTICAL_DATABASE_URL"] = url
    console.print(f"[bold]Demo database:[/] AGENTICAL_DATABASE_URL={url}")

    agentical("db", "upgrade")
    definitions = {path: load_definition(path) for path in EXAMPLES}
    for path in EXAMPLES:
        agentical("playbook", "import", str(path.relative_to(ROOT)), "--publish")
    agentical("playbook", "list")
    first = definitions[EXAMPLES[0]]
    agentical("playbook", "show", str(first.name))
    agentical("template", "save", str(first.name), "--as", f"{first.name} template")
    agentical("template", "instantiate", f"{first.name} template", "--as", f"{first.name} (copy)")
    agentical("template", "list")

    for definition in definitions.values():
        pairs, secrets = variables(definition)
        agentical("playbook", "run", str(definition.name), *pairs, "--simulate", secrets=secrets)
    # One failing run: the statistics then show a failure rate and the step that failed.
    pairs, secrets = variables(first)
    failing = first.steps[len(first.steps) // 2].step_name
    agentical(
        "playbook", "run", str(first.name), *pairs, "--simulate", "--fail", failing,
        secrets=secrets,
    )  # fmt: skip
    for definition in definitions.values():
        agentical("playbook", "stats", str(definition.name))

    elapsed = time.perf_counter() - started
    console.print(f"\n[bold green]Done in {elapsed:.1f} s.[/] Explore the same database:")
    console.print(f"  AGENTICAL_DATABASE_URL={url} .venv/bin/agentical --help", soft_wrap=True)
    console.print("Watch its runs in a browser (the server stops with Ctrl-C):")
    console.print(f"  AGENTICAL_DATABASE_URL={url} .venv/bin/agentical serve", soft_wrap=True)
    console.print(f"  then open [bold]{SERVE_URL}[/]", soft_wrap=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else DEFAULT_DATABASE)
