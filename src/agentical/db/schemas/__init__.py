"""Pydantic v2 schemas: read schemas behind ``to_dict`` and validated playbook definitions."""
