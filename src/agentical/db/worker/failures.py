"""What a step that failed in a handler stores as its error message.

A handler's exception is text the library did not write. It may quote a secret the
handler was given (a token in a URL it called), hold a NUL or a lone surrogate that no
database stores, or run past what a text column holds; and its ``__str__`` may itself
raise. Stored as it is, the step could never be finished: its finish would fail at every
attempt and the step run again at every lease. So the worker stores ``failure_message``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy.orm import Session

from agentical.db.limits import storable_text
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.schemas.common import SECRET_MASK

# A shorter secret would be masked wherever its characters occur in the text.
MIN_MASKED_LENGTH = 4


def exception_text(error: BaseException) -> str:
    """The exception's message, else its type's name (also when ``str()`` fails)."""
    try:
        text = str(error)
    except Exception:
        text = ""
    return text or type(error).__name__


def secret_texts(session: Session, execution_id: int) -> list[str]:
    """The execution's secret values as a message could quote them, longest first (a
    secret may contain another). Every value counts when which are secret is unknown."""
    execution = session.get(PlaybookExecution, execution_id)
    if execution is None:
        return []
    values = {**(execution.input_variables or {}), **(execution.output_variables or {})}
    names = execution.secret_names()
    texts = {
        value if isinstance(value, str) else json.dumps(value)
        for name, value in values.items()
        if value is not None and (names is None or name in names)
    }
    return sorted((text for text in texts if len(text) >= MIN_MASKED_LENGTH), key=len)[::-1]


def failure_message(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret masked, then made storable (``storable_text``)."""
    for secret in secrets:
        text = text.replace(secret, SECRET_MASK)
    return storable_text(text)
