"""The oversight page in a real browser (Debian's headless Chromium, driven by Selenium),
against a real broker and worker: counts per recipient, chain status, a filter that narrows.

Chromium and chromedriver come from Debian's packages (ops/setup installs them); when they are
missing this test fails with the reason, it never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ops.runtime import free_port
from streams.kafka.auditlog import latest_checkpoint
from tests.factories import incident
from tests.integration.exchange import Exchange, agreement, facility, wait_until

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
RECRUITMENT, MATERIAL = 5, 3
"""Reports of category RECRUITMENT (disclosed to both) and EXTREMIST_MATERIAL (to p-one)."""
EXPECTED = {"p-one": RECRUITMENT + MATERIAL, "p-two": RECRUITMENT}
TOTAL = sum(EXPECTED.values())
NARRATIVE = "oversight-page narrative"
"""Distinct narratives keep the reports from being duplicates; none may appear on the page."""


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    """A small run: p-one is sent everything, p-two only recruitment reports."""
    x = Exchange(kafka_bootstrap, tmp_path_factory.mktemp("oversight"), dict(os.environ))
    x.agency("p-one")
    x.agency("p-two")
    x.reference([facility("KZ-F-1", "KZ")])
    x.agreements([agreement("P-1", "p-one"), agreement("P-2", "p-two", categories=["RECRUITMENT"])])
    x.worker.env["INTELSHARE_CHECKPOINT_SECONDS"] = "1"
    x.worker.start()
    categories = ["RECRUITMENT"] * RECRUITMENT + ["EXTREMIST_MATERIAL"] * MATERIAL
    x.submit(
        [
            incident(facility_id="KZ-F-1", category=category, narrative=f"{NARRATIVE} {i}")
            for i, category in enumerate(categories)
        ]
    )
    wait_until(lambda: len(x.audit(expect=TOTAL)) >= TOTAL, what="the audit records")
    wait_until(lambda: _signed(x) == TOTAL, what="a checkpoint over every record")
    x.worker.stop()
    return x


def _signed(x: Exchange) -> int:
    checkpoint = latest_checkpoint(x.settings)
    return 0 if checkpoint is None else int(checkpoint["tree_size"])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our http URL)
            return response.status, response.read()
    except OSError:
        return 0, b""


@pytest.fixture(scope="module")
def page_url(run: Exchange) -> Iterator[str]:
    """``intelshare oversight serve`` as a real process on a free port."""
    port = free_port()
    log = run.home / "oversight.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "oversight", "serve", "--port", str(port)],
            env=run.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while _get(url)[0] != 200:
            assert process.poll() is None, f"oversight serve exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"oversight page not up: {log.read_text()}"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium from Debian, never anything Selenium Manager would download."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: run ops/setup as root, or "
            "`apt-get install chromium chromium-driver`"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        pytest.fail(f"selenium is not installed ({exc}): run ops/setup")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1400,1800",
    ):  # fmt: skip
        options.add_argument(argument)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _counts(driver: Any, table: str) -> dict[str, int]:
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, f"#{table} tr td")
    texts = [c.text for c in cells]
    return {texts[i]: int(texts[i + 1]) for i in range(0, len(texts), 2)}


def test_page_lists_disclosures_with_counts_per_recipient(
    page_url: str, browser: Any, tmp_path: Path
) -> None:
    """The page shows every disclosure, the right count per recipient and agreement, a
    verified chain and the checkpoint over all of them."""
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    browser.save_screenshot(str(tmp_path / "oversight.png"))
    print(f"screenshot: {tmp_path / 'oversight.png'}")
    assert browser.find_element(By.ID, "total").text == str(TOTAL)
    assert _counts(browser, "per-recipient") == EXPECTED
    assert _counts(browser, "per-agreement") == {
        "P-1 v1": EXPECTED["p-one"],
        "P-2 v1": EXPECTED["p-two"],
    }
    assert len(browser.find_elements(By.CSS_SELECTOR, "#disclosures tr.disclosure")) == TOTAL
    assert browser.find_element(By.ID, "chain").text == "verified"
    assert f"{TOTAL} records" in browser.find_element(By.ID, "checkpoint").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg rect")) >= 2
    received = browser.find_elements(By.CSS_SELECTOR, "#disclosures tr.disclosure td:last-child")
    assert {cell.text for cell in received} == {"—"}
    assert NARRATIVE not in browser.page_source


def test_filter_narrows_the_table(page_url: str, browser: Any, tmp_path: Path) -> None:
    """Choosing a recipient and applying the filter leaves only that recipient's disclosures;
    the JSON API gives the same with the same query string."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(page_url)
    Select(browser.find_element(By.ID, "f-recipient")).select_by_value("p-two")
    browser.find_element(By.ID, "apply").click()
    WebDriverWait(browser, 10).until(lambda d: "recipient=p-two" in d.current_url)
    browser.save_screenshot(str(tmp_path / "filtered.png"))
    assert browser.find_element(By.ID, "shown").text == str(EXPECTED["p-two"])
    cells = browser.find_elements(By.CSS_SELECTOR, "#disclosures tr.disclosure td.recipient")
    assert [c.text for c in cells] == ["p-two"] * EXPECTED["p-two"]
    assert browser.find_element(By.ID, "total").text == str(TOTAL)

    status, body = _get(page_url + "api/disclosures?recipient=p-two&agreement=P-2")
    api = json.loads(body)
    assert status == 200
    assert api["count"] == EXPECTED["p-two"]
    assert api["chain"]["sound"] is True
    assert {row["agreement_id"] for row in api["disclosures"]} == {"P-2"}
