"""Recall and correction end to end: one exchange with two agencies and a real worker, shared
by the module (a worker start is the expensive part). Each test uses its own reports; they run
in file order, the later ones building on the earlier ones' reports.

r-one receives every report of KZ-F-R1 and KZ-F-R2 (agreement R-1); r-two only those of
KZ-F-R1 (R-2), until R-3 opens KZ-F-R2 to it too.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from streams.audit.records import stats
from streams.kafka.deadletters import dead_letters
from streams.kafka.submit import Submitter
from tests.factories import incident
from tests.integration.exchange import Exchange, agreement, facility, wait_until

pytestmark = pytest.mark.integration

ONE, TWO = "r-one", "r-two"
UNIT = "KZ-PIU-ASTANA"


def report(facility_id: str) -> dict[str, Any]:
    """A distinct incident of UNIT (distinct narratives: the same content is a duplicate)."""
    return incident(facility_id=facility_id, unit_id=UNIT, narrative=f"seen {uuid.uuid4()}")


@pytest.fixture(scope="module")
def x(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    exchange = Exchange(kafka_bootstrap, tmp_path_factory.mktemp("recall"), dict(os.environ))
    exchange.agency(ONE)
    exchange.agency(TWO)
    exchange.reference([facility("KZ-F-R1", "KZ"), facility("KZ-F-R2", "KZ")])
    exchange.agreements(
        [
            agreement("R-1", ONE, facilities=["KZ-F-R1", "KZ-F-R2"]),
            agreement("R-2", TWO, facilities=["KZ-F-R1"]),
        ]
    )
    exchange.worker.start()
    yield exchange
    exchange.worker.stop()


@pytest.fixture(scope="module")
def reports(x: Exchange) -> dict[str, dict[str, Any]]:
    """``both``: disclosed to r-one and r-two; ``one``: to r-one only."""
    made = {
        "both": report("KZ-F-R1"),
        "one": report("KZ-F-R2"),
    }
    x.submit(list(made.values()))
    wait_until(lambda: len(_of_kind(x.audit(), "disclosure")) >= 3, what="three disclosures")
    return made


def _of_kind(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == kind]


def _notices(x: Exchange, agency: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in x.feed(agency) if d.get("type") == kind]


def test_a_recall_reaches_exactly_the_recipients_once(
    x: Exchange, reports: dict[str, dict[str, Any]]
) -> None:
    """A recall of the report r-one alone received reaches r-one once, even when asked twice,
    with an audit record of kind recall naming the disclosure; r-two gets nothing. consume
    prints it as its own kind of line (``type``; its STIX form: tests/unit/test_notices.py)."""
    event = reports["one"]["event_id"]
    done = x.cli("recall", event, "--reason", "the source withdrew")
    assert done.stdout.strip() == f"recall of {event} sent"
    with Submitter(x.settings) as submitter:  # the producer API, and a duplicate
        submitter.recall(event, UNIT, "asked again")
    wait_until(lambda: _of_kind(x.audit(), "recall"), what="the recall's audit record")
    wait_until(lambda: _drained(x), what="the worker to drain")
    (disclosed,) = [d for d in x.feed(ONE) if d["event_id"] == event and "type" not in d]
    (notice,) = _notices(x, ONE, "recall")
    assert notice["refers_to"] == disclosed["disclosure_id"]
    assert notice["payload"]["reason"] == "the source withdrew"
    assert _notices(x, TWO, "recall") == []
    (record,) = _of_kind(x.audit(), "recall")
    assert (record["refers_to"], record["recipient"]) == (disclosed["disclosure_id"], ONE)
    assert (record["disclosure_id"], record["reason"]) == (
        notice["disclosure_id"],
        "the source withdrew",
    )
    assert [d["type"] for d in x.feed(ONE) if "type" in d] == ["recall"]  # consume's json


def _drained(x: Exchange) -> bool:
    first = x.worker.status()
    time.sleep(1.0)
    return first is not None and first == x.worker.status()


def test_a_recall_by_another_unit_is_refused_naming_the_reason(
    x: Exchange, reports: dict[str, dict[str, Any]]
) -> None:
    """The command refuses (exit 1) a recall naming another unit; one sent past it (the
    producer API) is refused by the exchange as a dead letter that says why."""
    event = reports["both"]["event_id"]
    done = x.cli("recall", event, "--reason", "not ours", "--unit", "KG-PIU-BISHKEK", ok=False)
    assert done.returncode == 1
    assert f"submitted by unit {UNIT}, not KG-PIU-BISHKEK" in done.stderr
    with Submitter(x.settings) as submitter:
        submitter.recall(event, "KG-PIU-BISHKEK", "not ours either")
    wait_until(
        lambda: any("not KG-PIU-BISHKEK" in d["reason"] for d in dead_letters(x.settings)),
        what="the refused recall's dead letter",
    )
    assert _notices(x, ONE, "recall") == _notices(x, ONE, "recall")[:1]
    assert _notices(x, TWO, "recall") == []


def test_a_recall_of_an_unknown_event_is_refused(x: Exchange) -> None:
    """Exit 1 naming the event; a malformed request is refused before any connection
    (tests/unit/test_notices.py)."""
    unknown = "00000000-0000-4000-8000-000000000000"
    done = x.cli("recall", unknown, "--reason", "x", ok=False)
    assert (done.returncode, f"no report with event id {unknown}" in done.stderr) == (1, True)


def test_a_recalled_report_is_not_disclosed_under_a_new_agreement(
    x: Exchange, reports: dict[str, dict[str, Any]]
) -> None:
    """After R-3 opens KZ-F-R2 to r-two, a new report there reaches r-two, but the recalled
    one, submitted again, does not."""
    x.agreements([agreement("R-3", TWO, facilities=["KZ-F-R2"])])
    fresh = report("KZ-F-R2")
    x.submit([reports["one"], fresh])
    wait_until(
        lambda: any(d["event_id"] == fresh["event_id"] for d in x.feed(TWO)),
        what="the new report on r-two's feed",
    )
    wait_until(lambda: _drained(x), what="the worker to drain")
    assert reports["one"]["event_id"] not in {d["event_id"] for d in x.feed(TWO)}


def test_a_correction_reaches_the_recipients(
    x: Exchange, reports: dict[str, dict[str, Any]]
) -> None:
    """A report with ``corrects`` is disclosed as any report, and each agency that received the
    report it corrects gets one correction notice naming both; the log verifies and counts every
    kind."""
    original = reports["both"]["event_id"]
    correction = report("KZ-F-R1") | {"corrects": original}
    x.submit([correction])
    wait_until(lambda: len(_of_kind(x.audit(), "correction")) >= 2, what="two correction records")
    for agency in (ONE, TWO):
        assert correction["event_id"] in {d["event_id"] for d in x.feed(agency)}
        (notice,) = _notices(x, agency, "correction")
        assert notice["event_id"] == original
        assert notice["payload"]["corrected_by"] == correction["event_id"]
    verified = x.cli("audit", "verify", ok=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    figures = stats(x.audit())  # what `audit stats` prints (its index: tests/unit)
    kinds = figures["per_kind"]
    assert (kinds["recall"], kinds["correction"], kinds["feedback"]) == (1, 2, 0)
    assert kinds["disclosure"] == figures["disclosures"] == 7  # nothing disclosed twice
