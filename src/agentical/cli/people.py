"""Who acts from this command line, for the decisions the run engine records."""

from __future__ import annotations

import getpass

FALLBACK_PERSON = "cli"


def acting_person() -> str:
    """The operating-system user running the command (``cli`` when it has no name)."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name, no passwd entry, no pwd module
        name = ""
    return name.strip() or FALLBACK_PERSON
