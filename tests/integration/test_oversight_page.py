"""The oversight page in a real browser (Debian's headless Chromium, driven by Selenium),
against a real broker and worker: counts per recipient, chain status, filters that drive the
totals and charts, time filters that survive "filter", the event, disclosure, subject and
agreement-status columns, and the newest disclosure first.

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
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from ops.runtime import free_port
from streams.core.times import format_time
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
RECORDS = TOTAL + RECRUITMENT + MATERIAL
"""The disclosures and each report's collection record (issue 13)."""
NARRATIVE = "oversight-page narrative"
"""Distinct narratives keep the reports from being duplicates; none may appear on the page."""
REVOKED = {"version": 2, "revoked": True}
"""What P-2 becomes after its disclosures were made."""


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
    # in two rounds, so that the disclosures are at two times at least (for since and until)
    x.submit(_reports("RECRUITMENT", range(RECRUITMENT)))
    recruited = EXPECTED["p-two"] * 2
    wait_until(
        lambda: len(x.audit(expect=recruited, kind="disclosure")) >= recruited,
        what="the audit records",
    )
    x.submit(_reports("EXTREMIST_MATERIAL", range(RECRUITMENT, RECRUITMENT + MATERIAL)))
    wait_until(lambda: len(x.audit(expect=RECORDS)) >= RECORDS, what="the audit records")
    wait_until(lambda: _signed(x) == RECORDS, what="a checkpoint over every record")
    x.worker.stop()
    # P-2 is revoked after its disclosures: the page must show the version they were made
    # under as revoked
    x.agreements([agreement("P-2", "p-two", categories=["RECRUITMENT"]) | REVOKED])
    return x


def _reports(category: str, numbers: range) -> list[dict[str, Any]]:
    return [
        incident(facility_id="KZ-F-1", category=category, narrative=f"{NARRATIVE} {i}")
        for i in numbers
    ]


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

    keys = driver.find_elements(By.CSS_SELECTOR, f"#{table} tr td.key")
    counts = driver.find_elements(By.CSS_SELECTOR, f"#{table} tr td.count")
    return {k.text: int(c.text) for k, c in zip(keys, counts, strict=True)}


def _column(driver: Any, cell: str) -> list[str]:
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, f"#disclosures tr.disclosure td.{cell}")
    return [c.text for c in cells]


def _legends(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [t.text for t in driver.find_elements(By.CSS_SELECTOR, "svg text.legend")]


def test_page_lists_disclosures_with_counts_per_recipient(
    page_url: str, browser: Any, tmp_path: Path
) -> None:
    """The page shows every disclosure, the right count per recipient and agreement, a
    verified chain and the checkpoint over all of them."""
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    browser.save_screenshot(str(tmp_path / "oversight.png"))
    print(f"screenshot: {tmp_path / 'oversight.png'}")
    assert browser.find_element(By.ID, "total").text == str(RECORDS)
    assert _counts(browser, "per-recipient") == EXPECTED
    assert _counts(browser, "per-agreement") == {
        "P-1 v1": EXPECTED["p-one"],
        "P-2 v1": EXPECTED["p-two"],
    }
    assert len(browser.find_elements(By.CSS_SELECTOR, "#disclosures tr.disclosure")) == RECORDS
    assert browser.find_element(By.ID, "chain").text == "verified"
    assert f"{RECORDS} records" in browser.find_element(By.ID, "checkpoint").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg rect")) >= 2
    received = browser.find_elements(By.CSS_SELECTOR, "#disclosures tr.disclosure td:last-child")
    assert {cell.text for cell in received} == {"—"}
    assert NARRATIVE not in browser.page_source


def test_filter_drives_the_table_totals_and_charts(
    page_url: str, browser: Any, tmp_path: Path
) -> None:
    """Choosing a recipient and applying the filter leaves only that recipient's disclosures
    in the table, the total, the counts and the charts' legends; the JSON API gives the same
    with the same query string."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(page_url)
    Select(browser.find_element(By.ID, "f-recipient")).select_by_value("p-two")
    browser.find_element(By.ID, "apply").click()
    WebDriverWait(browser, 10).until(lambda d: "recipient=p-two" in d.current_url)
    browser.save_screenshot(str(tmp_path / "filtered.png"))
    assert browser.find_element(By.ID, "shown").text == str(EXPECTED["p-two"])
    assert _column(browser, "recipient") == ["p-two"] * EXPECTED["p-two"]
    assert browser.find_element(By.ID, "total").text == str(EXPECTED["p-two"])
    assert browser.find_element(By.ID, "in-log").text == str(RECORDS)
    assert _counts(browser, "per-recipient") == {"p-two": EXPECTED["p-two"]}
    assert _counts(browser, "per-agreement") == {"P-2 v1": EXPECTED["p-two"]}
    assert sorted(_legends(browser)) == [
        f"P-2 v1: {EXPECTED['p-two']}",
        f"p-two: {EXPECTED['p-two']}",
    ]

    status, body = _get(page_url + "api/disclosures?recipient=p-two&agreement=P-2")
    api = json.loads(body)
    assert status == 200
    assert api["count"] == EXPECTED["p-two"]
    assert api["chain"]["sound"] is True
    assert {row["agreement_id"] for row in api["disclosures"]} == {"P-2"}


def test_since_and_until_are_fields_that_survive_the_filter(
    run: Exchange, page_url: str, browser: Any, tmp_path: Path
) -> None:
    """Times typed into since and until narrow the totals to the disclosures between them,
    and are still in their fields after "filter" is pressed, twice."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    times = sorted({r["disclosed_at"] for r in run.audit()})  # two at least (see run)
    since = times[1]  # leaves out the oldest
    until = times[-1] if len(times) > 2 else times[-1] + timedelta(milliseconds=1)
    between = [r for r in run.audit() if since <= r["disclosed_at"] < until]
    expected = len(between)
    disclosed = sum(1 for r in between if r["kind"] == "disclosure")  # the counts per recipient
    assert 0 < expected < RECORDS
    browser.get(page_url)
    for name, value in (("since", since), ("until", until)):
        field = browser.find_element(By.ID, f"f-{name}")
        field.clear()
        field.send_keys(format_time(value))
    for press in range(2):
        before = browser.find_element(By.ID, "total")
        browser.find_element(By.ID, "apply").click()
        # asked mid-navigation, chromedriver may answer "cannot find context": ask again
        WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
            staleness_of(before)
        )
        browser.save_screenshot(str(tmp_path / f"times-{press}.png"))
        assert "since=" in browser.current_url
        assert browser.find_element(By.ID, "f-since").get_attribute("value") == format_time(since)
        assert browser.find_element(By.ID, "f-until").get_attribute("value") == format_time(until)
        assert browser.find_element(By.ID, "total").text == str(expected)
        assert len(_column(browser, "sequence")) == expected
        assert sum(_counts(browser, "per-recipient").values()) == disclosed


def test_rows_show_event_disclosure_subjects_and_status_newest_first(
    run: Exchange, page_url: str, browser: Any
) -> None:
    """Every row names its event, disclosure and subjects as the audit record holds them and
    the status of its agreement (P-2 was revoked after its disclosures); the newest comes
    first; times and ids do not wrap."""
    from selenium.webdriver.common.by import By

    newest = sorted(run.audit(), key=lambda r: r["sequence"], reverse=True)
    browser.get(page_url)
    headers = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#disclosures th")]
    assert {"event", "disclosure", "subjects", "agreement status"} <= set(headers)
    assert _column(browser, "sequence") == [str(r["sequence"]) for r in newest]
    assert _column(browser, "event") == [r["event_id"] for r in newest]
    assert _column(browser, "disclosure") == [r["disclosure_id"] for r in newest]
    assert _column(browser, "subjects") == [", ".join(r["subjects"]) or "-" for r in newest]
    assert _column(browser, "status") == [
        {"P-2": "revoked in v2", "": "no agreement"}.get(r["agreement_id"], "active")
        for r in newest
    ]
    for cell in ("time", "event", "disclosure", "agreement"):
        element = browser.find_element(By.CSS_SELECTOR, f"#disclosures tr.disclosure td.{cell}")
        assert element.value_of_css_property("white-space") == "nowrap", cell


def test_the_page_reads_in_arabic_kurdish_and_kazakh(
    run: Exchange, page_url: str, browser: Any, tmp_path: Path
) -> None:
    """``?lang=`` sets the page's language: ``lang`` and ``dir`` on <html>, a layout that
    mirrors in right to left (the filters start on the right, the chart's count axis stands on
    the right), ids and counts still left to right, and in Kazakh CLDR's dates. A screenshot
    per locale is kept; Accept-Language chooses the same way without ``?lang=``."""
    newest = max(run.audit(), key=lambda r: r["sequence"])
    for locale, direction in (("ar", "rtl"), ("ckb", "rtl"), ("kk", "ltr")):
        _check_locale(browser, page_url, tmp_path, locale, direction, newest)


def _check_locale(
    browser: Any, page_url: str, folder: Path, locale: str, direction: str, newest: dict[str, Any]
) -> None:
    from babel.dates import format_datetime
    from selenium.webdriver.common.by import By

    browser.get(f"{page_url}?lang={locale}")
    shot = folder / f"oversight-{locale}.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot ({locale}): {shot}")
    root = browser.find_element(By.TAG_NAME, "html")
    assert (root.get_attribute("lang"), root.get_attribute("dir")) == (locale, direction)
    width = browser.execute_script("return document.documentElement.clientWidth")
    label = browser.find_element(By.CSS_SELECTOR, "#filters label").rect
    axis = browser.find_element(By.CSS_SELECTOR, "svg text.y-tick").rect
    chart = browser.find_element(By.CSS_SELECTOR, "svg").rect
    if direction == "rtl":  # mirrored: the first filter at the right edge, the axis on the right
        assert label["x"] + label["width"] > width * 0.8, (locale, label)
        assert axis["x"] > chart["x"] + chart["width"] / 2, (locale, axis, chart)
    else:
        assert label["x"] < width * 0.2, (locale, label)
        assert axis["x"] < chart["x"] + chart["width"] / 2, (locale, axis, chart)
    assert browser.find_element(By.ID, "total").text == str(RECORDS)  # an isolated number
    first_row = browser.find_element(By.CSS_SELECTOR, "#disclosures tr.disclosure")
    assert first_row.find_element(By.CSS_SELECTOR, "td.event").text == newest["event_id"]
    shown = first_row.find_element(By.CSS_SELECTOR, "td.time time")
    assert shown.get_attribute("datetime") == format_time(newest["disclosed_at"])
    if locale == "kk":  # CLDR's Kazakh medium date, e.g. "2026 ж. 28 қар., 16:20:05"
        expected = format_datetime(newest["disclosed_at"], "medium", tzinfo=UTC, locale="kk")
        assert shown.text == expected
        assert "ж." in shown.text
    asked = {"Accept-Language": f"{locale}, en;q=0.5"}
    request = urllib.request.Request(page_url, headers=asked)  # noqa: S310 (our http URL)
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (our http URL)
        assert response.headers["Content-Language"] == locale
        assert f'<html lang="{locale}" dir="{direction}">' in response.read().decode()
