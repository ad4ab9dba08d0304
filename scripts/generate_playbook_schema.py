"""Regenerate ``src/agentical/db/schemas/playbook.schema.json`` from ``PlaybookDefinition``."""

from __future__ import annotations

import logging

from agentical.db.schemas.definition_io import write_json_schema

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger(__name__).info("wrote %s", write_json_schema())
