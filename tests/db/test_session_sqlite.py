"""SQLite engines from ``create_engine``: several processes on one file wait their turn."""

from __future__ import annotations

from pathlib import Path

from agentical.db.session import SQLITE_BUSY_TIMEOUT_SECONDS, create_engine


def _pragma(url: str, name: str, **options: object) -> object:
    engine = create_engine(url, **options)
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()
    finally:
        engine.dispose()


def test_a_file_gets_the_write_ahead_log_and_a_long_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert _pragma(url, "journal_mode") == "wal"
    assert _pragma(url, "busy_timeout") == SQLITE_BUSY_TIMEOUT_SECONDS * 1000


def test_a_timeout_given_by_the_caller_is_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert _pragma(url, "busy_timeout", connect_args={"timeout": 2}) == 2000


def test_an_in_memory_database_keeps_its_journal() -> None:
    assert _pragma("sqlite://", "journal_mode") == "memory"
