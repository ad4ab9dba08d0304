"""The secret variable names of every stored playbook and snapshot, read up front.

For readers that go through many execution rows without loading them as objects (the
JSON-lines export, key rotation): two queries before the rows, instead of a load of each
execution's snapshot and playbook. The rule itself is ``execution_secret_names``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from agentical.db.models.playbook.snapshot import DefinitionSnapshot
from agentical.db.models.playbook.variable import PlaybookVariable
from agentical.db.schemas.common import definition_secret_names, execution_secret_names

# Snapshot documents are read this many at a time: each may be up to a definition's size.
_SNAPSHOT_BATCH = 100


@dataclass(frozen=True)
class StoredSecretNames:
    by_playbook: dict[int, set[str]]
    by_snapshot: dict[int, set[str] | None]

    @classmethod
    def read(cls, connection: Connection) -> StoredSecretNames:
        by_playbook: dict[int, set[str]] = {}
        variables = select(PlaybookVariable.playbook_id, PlaybookVariable.variable_name).where(
            PlaybookVariable.is_sensitive.is_(True)
        )
        for playbook_id, name in connection.execute(variables):
            by_playbook.setdefault(playbook_id, set()).add(name)
        documents = connection.execute(
            select(DefinitionSnapshot.id, DefinitionSnapshot.document),
            execution_options={"yield_per": _SNAPSHOT_BATCH},
        )
        with documents:
            by_snapshot = {row.id: definition_secret_names(row.document) for row in documents}
        return cls(by_playbook, by_snapshot)

    def of(self, playbook_id: int | None, snapshot_id: int | None) -> set[str]:
        """The secrets of an execution of that playbook and snapshot (none when neither
        says: a stored playbook that lists no sensitive variable has none)."""
        snapshot_names = None if snapshot_id is None else self.by_snapshot.get(snapshot_id)
        live_names = None if playbook_id is None else self.by_playbook.get(playbook_id, set())
        return execution_secret_names(snapshot_names, live_names) or set()
