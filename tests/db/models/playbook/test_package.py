"""The public import path of the playbook models and what importing it must not do."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import agentical.db.models.playbook as package
from agentical.db.models.playbook import InvalidTransitionError, VariableValidationError


def test_the_contract_import_line_works() -> None:
    namespace: dict[str, object] = {}
    exec(
        "from agentical.db.models.playbook import Playbook, PlaybookStep, PlaybookVariable, "
        "PlaybookExecution, PlaybookStepExecution, PlaybookTemplate, PlaybookCategory, "
        "PlaybookStatus, ExecutionStatus, StepType, StepStatus, VariableType",
        namespace,
    )
    assert len([name for name in namespace if not name.startswith("__")]) == 12


def test_every_exported_name_exists() -> None:
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert missing == []


def test_both_errors_are_value_errors() -> None:
    assert issubclass(InvalidTransitionError, ValueError)
    assert issubclass(VariableValidationError, ValueError)


IMPORT_PROBE = textwrap.dedent(
    """
    import logging
    import socket
    import sqlite3
    import warnings

    warnings.simplefilter("error")

    def refuse(*args, **kwargs):
        raise AssertionError("importing the models opened a connection")

    socket.socket.connect = refuse
    socket.create_connection = refuse
    sqlite3.connect = refuse
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    from agentical.db.models.playbook import Playbook  # noqa: F401
    import agentical.db.models  # noqa: F401

    assert root.handlers == handlers, root.handlers
    assert root.level == level
    logfire = sys.modules.get("logfire")
    if logfire is not None:
        config = logfire.DEFAULT_LOGFIRE_INSTANCE.config
        assert not getattr(config, "_initialized", False), "Logfire was configured"
    print("ok")
    """
).replace("import logging", "import logging\nimport sys", 1)


def test_importing_opens_no_connection_and_configures_no_logging() -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert result.stderr == ""
