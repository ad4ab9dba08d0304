"""Print pip constraints pinning each of pyproject's dependencies to its lower bound.

`make test` installs them in ``.venv-lowest`` (``pip install -c``) and runs the library's
tests there: a bound that no test has run against is a promise nobody checked. The extras
the library runs on (drivers, Logfire, the API) are pinned too; the ``dev`` tools are not.
"""

import re
import sys
import tomllib
from pathlib import Path

LOWER_BOUND = re.compile(r"^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)")
UNPINNED_EXTRAS = {"dev"}


def main() -> None:
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    requirements = list(project["project"]["dependencies"])
    for extra, needs in project["project"]["optional-dependencies"].items():
        if extra not in UNPINNED_EXTRAS:
            requirements.extend(needs)
    for requirement in requirements:
        found = LOWER_BOUND.match(requirement)
        if found is None:
            sys.exit(f"no lower bound to pin in {requirement!r}")
        print(f"{found[1]}=={found[2]}")


if __name__ == "__main__":
    main()
