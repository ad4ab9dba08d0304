"""``agentical serve``: the API and the run pages on the configured database, until stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from agentical.db import migrate
from agentical.db.session import create_engine


@pytest.mark.slow
def test_serve_answers_on_the_port_it_is_given_and_stops_on_sigint(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        migrate.upgrade(connection)
    engine.dispose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "agentical.cli", "--database-url", url, "serve"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"LOGFIRE_IGNORE_NO_CONFIG": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx2.get(f"http://127.0.0.1:{port}/ui/executions")
                break
            except httpx2.TransportError:
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "agentical serve did not answer"
                time.sleep(0.2)
        api = httpx2.get(f"http://127.0.0.1:{port}/playbooks")
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)

    assert page.status_code == 200
    assert "No runs yet." in page.text
    assert api.json() == []
    assert f"runs: http://127.0.0.1:{port}/ui/executions" in output
    assert server.returncode == 0
