"""Print pip constraints pinning each of pyproject's dependencies to its lower bound.

`make test` installs them in ``.venv-lowest`` (``pip install -c``) and runs the library's
tests there: a bound that no test has run against is a promise nobody checked.
"""

import re
import sys
import tomllib
from pathlib import Path

LOWER_BOUND = re.compile(r"^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def main() -> None:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    for requirement in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        found = LOWER_BOUND.match(requirement)
        if found is None:
            sys.exit(f"no lower bound to pin in {requirement!r}")
        print(f"{found[1]}=={found[2]}")


if __name__ == "__main__":
    main()
