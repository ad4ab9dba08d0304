"""Sensitive values encrypted at rest, with Fernet keys from ``AGENTICAL_SECRET_KEY``.

Without the variable, sensitive values are stored in plaintext (they are masked in every
output, but anyone who can read the tables can read them). With it, each sensitive value
is stored as ``{"$agentical_sealed": "<Fernet token>"}``: AES-128-CBC with an HMAC, so a
token can be neither read nor altered without the key. The variable holds one or more
Fernet keys (``Fernet.generate_key()``), comma-separated, newest first: values are sealed
with the first and opened with any of them, so keys can be rotated (add the new key in
front, run ``agentical db rotate-secrets``, then drop the old one).

This module only turns values into tokens and back. Which values are sensitive is the
models' business (``models/playbook/sealing.py``); reading is transparent through the
:class:`SealedJSON` column type, which opens every sealed value it loads.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import JSON, Dialect
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator, TypeEngine

from agentical.db.errors import InvalidInputError

SECRET_KEY_VARIABLE = "AGENTICAL_SECRET_KEY"
SEALED = "$agentical_sealed"


class SecretKeyError(InvalidInputError):
    """The secret key is missing, malformed, or not the one a value was sealed with.

    The message never contains a key or a value.
    """


@functools.lru_cache(maxsize=4)
def _fernet(keys: str) -> MultiFernet:
    parsed: list[Fernet] = []
    for position, key in enumerate(part.strip() for part in keys.split(",")):
        try:
            parsed.append(Fernet(key))
        except ValueError:
            raise SecretKeyError(
                f"{SECRET_KEY_VARIABLE}: key {position + 1} is not a Fernet key "
                "(32 url-safe base64-encoded bytes, from Fernet.generate_key())"
            ) from None
    return MultiFernet(parsed)


def configured_keys() -> MultiFernet | None:
    """The keys from ``AGENTICAL_SECRET_KEY``, read at each call; ``None`` when unset."""
    keys = os.environ.get(SECRET_KEY_VARIABLE, "").strip()
    return _fernet(keys) if keys else None


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(SEALED), str)


def seal(value: Any) -> Any:
    """``value`` as a sealed token with the newest key; unchanged without a key (or None)."""
    keys = configured_keys()
    if keys is None or value is None or is_sealed(value):
        return value
    plaintext = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return {SEALED: keys.encrypt(plaintext).decode("ascii")}


def unseal(value: Any) -> Any:
    """The value inside a sealed token; anything else unchanged."""
    if not is_sealed(value):
        return value
    keys = configured_keys()
    if keys is None:
        raise SecretKeyError(
            f"a sensitive value is stored encrypted: set {SECRET_KEY_VARIABLE} to read it"
        )
    try:
        return json.loads(keys.decrypt(value[SEALED].encode("ascii")))
    except InvalidToken:
        raise SecretKeyError(
            f"a sensitive value was encrypted with a key that is not in {SECRET_KEY_VARIABLE}"
        ) from None


def reseal(value: Any) -> Any:
    """``value`` sealed with the newest key: a token is re-encrypted, plaintext sealed."""
    keys = configured_keys()
    if keys is None:
        raise SecretKeyError(f"set {SECRET_KEY_VARIABLE} to encrypt sensitive values")
    if not is_sealed(value):
        return seal(value)
    try:
        return {SEALED: keys.rotate(value[SEALED].encode("ascii")).decode("ascii")}
    except InvalidToken:
        raise SecretKeyError(
            f"a sensitive value was encrypted with a key that is not in {SECRET_KEY_VARIABLE}"
        ) from None


def unseal_all(value: Any) -> Any:
    """A stored JSON value with its sealed parts opened: the value itself, or the values
    of a mapping (``input_variables`` seals only its sensitive entries)."""
    if is_sealed(value):
        return unseal(value)
    if isinstance(value, dict) and any(is_sealed(item) for item in value.values()):
        return {key: unseal(item) for key, item in value.items()}
    return value


class SealedJSON(TypeDecorator[Any]):
    """JSON (JSONB on PostgreSQL) whose sealed values are opened as they are loaded.

    Writing is left to the models, which seal what is sensitive just before a flush; a
    value bound here is stored as given.
    """

    impl = JSON
    cache_ok = True

    def __init__(self, none_as_null: bool = False) -> None:
        super().__init__(none_as_null=none_as_null)
        self.none_as_null = none_as_null

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB(none_as_null=self.none_as_null))
        return dialect.type_descriptor(JSON(none_as_null=self.none_as_null))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return unseal_all(value)
