"""The run page in a real headless Chromium, on a real server and a committed database.

A manual step is completed through the API while the page is open, and its node turns
completed; then Approve is clicked, the approval step and the run complete, and the audit
trail panel shows who approved. The page
is saved as ``tests/output/run-page-<database>.png`` for a person to look at.

Chromium and its driver come from Debian (``apt-get install chromium chromium-driver``;
``.ci/run`` installs them). Without them the test is skipped with the reason, and fails
when ``CI`` is set.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agentical.api.server import create_app
from agentical.db import runs
from agentical.db.models.playbook import claim_ready_steps, create_execution
from agentical.db.models.playbook.importing import import_definition
from agentical.db.session import create_engine
from agentical.db.testing.databases import migrated_engine, temporary_database
from tests.api.conftest import DRILL, INPUTS
from tests.conftest import require_server

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")
OUTPUT = Path(__file__).resolve().parents[2] / "output"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # without these it hangs on a closed network
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,860",
]
WAIT_SECONDS = 20


def require_chromium() -> None:
    missing = [str(path) for path in (CHROMIUM, DRIVER) if not path.exists()]
    if missing:
        reason = (
            f"no headless Chromium here ({', '.join(missing)} missing): "
            "apt-get install chromium chromium-driver"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    if database == "mariadb":
        pytest.skip("the browser test runs on SQLite and PostgreSQL")
    with (
        temporary_database(require_server(database)) as url,
        migrated_engine(url, make_engine=create_engine) as migrated,
    ):
        yield migrated


@pytest.fixture
def server(engine: Engine) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(engine=engine), host="127.0.0.1", port=port, log_level="error"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=WAIT_SECONDS)


@pytest.fixture
def browser() -> Iterator[object]:
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    with tempfile.TemporaryDirectory(prefix="agentical-chromium-") as profile:
        for flag in [*FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def running_drill(engine: Engine) -> str:
    """A running execution whose automated first step a worker has finished."""
    with Session(engine) as session:
        playbook = import_definition(session, DRILL)
        execution = create_execution(session, playbook, INPUTS)
        runs.start_execution(session, execution)
        session.commit()
        (check,) = claim_ready_steps(session, worker_id="w", execution_ids=[execution.id])
        session.commit()
        runs.complete_step(session, check, {"ok": True})
        session.commit()
        return execution.execution_id


def test_the_run_page_follows_the_run_and_approves_a_step(
    engine: Engine, server: str, browser: object, database: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    execution_id = running_drill(engine)
    browser.get(f"{server}/ui/executions/{execution_id}")
    wait = WebDriverWait(browser, WAIT_SECONDS)

    def node_class(step: str) -> str:
        node = browser.find_element(By.CSS_SELECTOR, f'g.node[data-step="{step}"]')
        return str(node.get_attribute("class"))

    assert "status-completed" in node_class("check")
    assert "waiting" in node_class("confirm")

    completed = httpx2.post(
        f"{server}/executions/{execution_id}/steps/confirm/complete", json={"by": "bob"}
    )
    assert completed.status_code == 200, completed.text
    wait.until(lambda _driver: "status-completed" in node_class("confirm"))
    wait.until(lambda _driver: "waiting" in node_class("approve"))

    browser.find_element(By.ID, "actor").send_keys("carol")
    approve = browser.find_element(By.CSS_SELECTOR, 'button[data-action="approve"]')
    wait.until(lambda _driver: approve.is_displayed())
    approve.click()
    wait.until(lambda _driver: "status-completed" in node_class("approve"))
    status = browser.find_element(By.ID, "run-status")
    wait.until(lambda _driver: status.text == "completed")

    def trail_rows() -> list[list[str]]:
        # Read in one script: the poll replaces the rows, a row found first may be gone.
        rows = browser.execute_script(
            "return [...document.querySelectorAll('#trail tr')]"
            ".map((row) => [...row.cells].slice(1, 4).map((cell) => cell.textContent));"
        )
        assert isinstance(rows, list)
        return rows

    # The click's row (and the run's end it caused) appears in the trail panel, newest
    # first, above what the API's completion recorded while the page was open.
    wait.until(lambda _driver: ["carol", "approve", "approve"] in trail_rows())
    assert trail_rows()[:3] == [
        ["carol", "complete", ""],
        ["carol", "approve", "approve"],
        ["bob", "complete_step", "confirm"],
    ]

    OUTPUT.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(OUTPUT / f"run-page-{database}.png"))
    decided = httpx2.get(f"{server}/executions/{execution_id}").json()
    (approval,) = [run for run in decided["step_executions"] if run["step_name"] == "approve"]
    assert approval["output_data"]["approver"] == "carol"
