"""Keep variable values out of SQLAlchemy's logs and exception messages.

Values of sensitive variables travel as SQL parameters and come back in result rows.
SQLAlchemy prints parameters in its INFO logs and in every DBAPI exception message, and
result rows in its DEBUG logs. Engines made by ``agentical.db.session`` therefore:

- hide parameters (``hide_parameters=True``: logs and exceptions say they are hidden);
- log under their own logger, ``sqlalchemy.engine.Engine.agentical`` unless the caller
  names another (``logging_name="svc"``); whichever it is, a filter on it drops the
  result-row records (statements are still logged).

A caller who passes ``hide_parameters=False`` gets SQLAlchemy's usual logging back.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine

LOGGING_NAME = "agentical"
_ROW_MESSAGE = "Row %r"  # the format SQLAlchemy logs each result row with


class DropResultRows(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _ROW_MESSAGE


def redact_engine_logging(options: dict[str, Any]) -> dict[str, Any]:
    """``create_engine`` options with parameters hidden and our logging name by default."""
    options.setdefault("hide_parameters", True)
    if options["hide_parameters"]:
        options.setdefault("logging_name", LOGGING_NAME)
    return options


def drop_result_rows(engine: Engine) -> Engine:
    """Filter the result rows out of the logger ``engine`` logs to, whatever its name."""
    if engine.hide_parameters:
        wrapped = engine.logger  # a Logger, or with echo an InstanceLogger around one
        logger = wrapped if isinstance(wrapped, logging.Logger) else wrapped.logger
        if not any(isinstance(existing, DropResultRows) for existing in logger.filters):
            logger.addFilter(DropResultRows())
    return engine
