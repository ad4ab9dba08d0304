"""Keep variable values out of SQLAlchemy's logs and exception messages.

Values of sensitive variables travel as SQL parameters and come back in result rows.
SQLAlchemy prints parameters in its INFO logs and in every DBAPI exception message, and
result rows in its DEBUG logs. Engines made by ``agentical.db.session`` therefore:

- hide parameters (``hide_parameters=True``: logs and exceptions say they are hidden);
- log under their own logger, ``sqlalchemy.engine.Engine.agentical``, whose filter drops
  the result-row records (statements are still logged).

A caller who passes ``hide_parameters=False`` gets SQLAlchemy's usual logging back.
"""

from __future__ import annotations

import logging
from typing import Any

LOGGING_NAME = "agentical"
ENGINE_LOGGER = f"sqlalchemy.engine.Engine.{LOGGING_NAME}"
_ROW_MESSAGE = "Row %r"  # the format SQLAlchemy logs each result row with


class DropResultRows(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _ROW_MESSAGE


def redact_engine_logging(options: dict[str, Any]) -> dict[str, Any]:
    """``create_engine`` options with parameters hidden and result rows never logged."""
    options.setdefault("hide_parameters", True)
    if options["hide_parameters"]:
        options.setdefault("logging_name", LOGGING_NAME)
        logger = logging.getLogger(ENGINE_LOGGER)
        if not any(isinstance(existing, DropResultRows) for existing in logger.filters):
            logger.addFilter(DropResultRows())
    return options
