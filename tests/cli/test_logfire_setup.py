from __future__ import annotations

import os
from typing import Any

import logfire
import pytest

from agentical.cli.context import make_settings
from agentical.cli.main import _logfire


def test_with_a_token_the_cli_configures_logfire(monkeypatch: pytest.MonkeyPatch) -> None:
    configured: list[dict[str, Any]] = []
    monkeypatch.setenv("LOGFIRE_TOKEN", "test-token")
    monkeypatch.setattr(logfire, "configure", lambda **options: configured.append(options))
    assert _logfire() is True
    assert configured == [{"service_name": "agentical-cli", "console": False}]


def test_without_a_token_the_cli_stays_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOGFIRE_TOKEN", raising=False)
    monkeypatch.delenv("LOGFIRE_IGNORE_NO_CONFIG", raising=False)
    monkeypatch.setattr(logfire, "configure", lambda **options: pytest.fail("configured"))
    assert _logfire() is False
    assert os.environ["LOGFIRE_IGNORE_NO_CONFIG"] == "1"


def test_traced_settings_instrument_the_engines_they_make(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instrumented: list[object] = []
    monkeypatch.setattr(
        "agentical.db.observability.instrument", lambda *engines: instrumented.extend(engines)
    )
    engine = make_settings("sqlite://", traced=True).engine()
    untraced = make_settings("sqlite://").engine()
    assert instrumented == [engine]
    engine.dispose()
    untraced.dispose()
