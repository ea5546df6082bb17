"""What issue 13 added, in the six languages: recall and correction refusals and rejections,
erasure orders, `erase --roll`'s progress, `recall` and `audit stats`. Checked with the shipped
catalogues, and in English too (tests and scripts read the English output: it must not change).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from streams import cli
from streams.cli.tables import stats_lines
from streams.core.erasure import check_erasure
from streams.core.notices import EventLedger, request
from streams.errors import ErasureOrderError, NoticeInvalidError, NoticeRefusedError
from streams.i18n import localise, use_locale
from streams.settings import Settings
from tests.factories import NOW
from tests.unit.core import enriched, make_agreement

LOCALES = ["ru", "ar", "ckb", "kk", "ky", "tg"]
EVENT = "0b9f2a8e-6c1d-4e7a-9f3b-2d5c8a1e4f60"
LATER = "1c0a3b9f-7d2e-4f8b-a04c-3e6d9b2f5a71"


def _no_english(text: str, *words: str) -> bool:
    return not re.search(r"\b(" + "|".join(words) + r")\b", text)


def _ledger() -> EventLedger:
    """A ledger that has disclosed EVENT of unit KZ-PIU-1 once."""
    ledger = EventLedger()
    report = enriched(event_id=EVENT, unit_id="KZ-PIU-1")
    (due,) = ledger.to_disclose(report, [make_agreement(id="A-1")])
    ledger.disclosed("d-A-1", due, NOW)
    return ledger


def _refusal(ledger: EventLedger, notice: dict[str, Any]) -> NoticeRefusedError:
    with pytest.raises(NoticeRefusedError) as caught:
        ledger.answer(notice)
    return caught.value


@pytest.mark.parametrize("locale", LOCALES)
def test_a_refused_recall_or_correction_is_a_whole_sentence_of_its_kind(locale: str) -> None:
    """Unknown event, or another unit's report: one sentence per kind (no kind word filled in),
    ids and the command as they are. English as before for a recall; a correction's says
    "may correct" (it said "may correction")."""
    recall = request("recall", EVENT, "KG-PIU-2", NOW, reason="the source withdrew")
    correction = request("correction", EVENT, "KG-PIU-2", NOW, corrected_by=LATER)
    cases = [
        (EventLedger(), recall, "recall refused: no report with event id " + EVENT),
        (EventLedger(), correction, "correction refused: no report with event id " + EVENT),
        (
            _ledger(),
            recall,
            f"recall refused: report {EVENT} was submitted by unit KZ-PIU-1, not KG-PIU-2; "
            "a unit may recall only its own reports",
        ),
        (
            _ledger(),
            correction,
            f"correction refused: report {EVENT} was submitted by unit KZ-PIU-1, not "
            "KG-PIU-2; a unit may correct only its own reports",
        ),
    ]
    for ledger, notice, english in cases:
        refused = _refusal(ledger, notice)
        assert str(refused).startswith(english)
        shown = localise(refused, locale)
        assert EVENT in shown, shown
        assert _no_english(shown, "refused", "report", "unit", "recall", "correction"), shown
        if "not KG-PIU-2" in english:
            assert "KZ-PIU-1" in shown, shown
            assert "KG-PIU-2" in shown, shown
        else:
            assert "`intelshare status`" in shown, shown


@pytest.mark.parametrize("locale", LOCALES)
def test_a_malformed_request_is_rejected_in_the_locale_naming_its_fields(locale: str) -> None:
    """The label (recall, correction) and each reason are translated; the field is as named."""
    with pytest.raises(NoticeInvalidError) as no_reason:
        request("recall", EVENT, "KZ-PIU-1", NOW)
    assert str(no_reason.value) == (
        "recall rejected: reason: is required: say why the report is recalled"
    )
    with pytest.raises(NoticeInvalidError) as itself:
        request("correction", EVENT, "KZ-PIU-1", NOW, corrected_by=EVENT)
    assert str(itself.value).startswith("correction rejected: corrects: names the report itself")
    with pytest.raises(NoticeInvalidError) as bad_id:
        request("recall", "not-a-uuid", "KZ-PIU-1", NOW, reason="r")
    assert "event_id: is not an event id (a UUID" in str(bad_id.value)
    for caught, field in ((no_reason, "reason: "), (itself, "corrects: "), (bad_id, "event_id: ")):
        shown = localise(caught.value, locale)
        assert field in shown, shown
        words = ("recall", "correction", "rejected", "required", "report", "names", "event")
        assert _no_english(shown, *words), shown


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    ("subject", "reason", "option"),
    [
        ("../../etc", "order 12", "--subject"),
        ("TJ-1", " ", "--reason"),
        ("TJ-1", "a\nb", "--reason"),
    ],
)
def test_an_erasure_order_s_fault_names_its_option_in_the_locale(
    locale: str, subject: str, reason: str, option: str
) -> None:
    """The option stays as typed, the value given is quoted, the rest is translated."""
    with pytest.raises(ErasureOrderError) as caught:
        check_erasure(subject, reason)
    assert str(caught.value).startswith(f"{option}: " if option == "--reason" else option)
    shown = localise(caught.value, locale)
    assert shown.startswith(option), shown
    if option == "--subject":
        assert "'../../etc'" in shown, shown
    rest = shown.removeprefix(option)
    assert _no_english(rest, "subject", "say", "why", "characters", "line", "letters"), shown


def test_recall_speaks_the_locale_with_no_broker(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`intelshare recall` with a malformed event id, in Russian: the label and reason in
    Russian, the field as named, exit 1 as in English; nothing is asked of a broker."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    with use_locale("ru"):
        code = cli.main(["recall", "not-a-uuid", "--reason", "the source withdrew"])
    assert code == 1
    err = capsys.readouterr().err
    assert "отзыв отклонено: event_id: не является идентификатором события" in err, err


@pytest.mark.parametrize("locale", ["en", "ru"])
def test_erase_roll_says_its_progress_in_the_locale(
    locale: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`erase --roll`'s two waits are announced as messages the command line translates."""
    from streams.kafka import erasure

    monkeypatch.setattr(erasure, "_send", lambda settings, items: None)
    said: list[str] = []
    erasure.roll_erased(Settings(home=tmp_path), wait=65, sleep=lambda _: None, say=said.append)
    assert said == [
        "rolling the erased topics' segments (1/2) in 65 s",
        "rolling the erased topics' segments (2/2) in 65 s",
    ]
    shown = localise(said[1], locale)
    assert "(2/2)" in shown
    assert "65" in shown
    if locale == "ru":
        assert shown.startswith("смена сегментов топиков")


FIGURES = {
    "disclosures": 3,
    "per_kind": {"disclosure": 3, "recall": 1},
    "per_recipient": {"kz-knb": 3},
    "per_agreement": {"A-1 v1": 3},
    "per_day": {"2026-11-28": 3},
    "feedback": {"kg-mvd": {"useful": 2, "not useful": 1}},
}


@pytest.mark.parametrize("locale", ["en", "ru", "ar"])
def test_audit_stats_headings_are_translated_and_the_keys_kept(locale: str) -> None:
    """Headings and the feedback line in the locale; record kinds, recipients, agreements and
    days as they are, in the same columns; English as before."""
    with use_locale(locale):
        lines = stats_lines(FIGURES)
    assert f"  {'recall':<32} {1:>7}" in lines
    assert f"  {'A-1 v1':<32} {3:>7}" in lines
    assert f"  {'2026-11-28':<32} {3:>7}" in lines
    feedback = lines[-1]
    assert feedback.startswith(f"  {'kg-mvd':<32} ")
    if locale == "en":
        assert lines[:2] == ["disclosures: 3", "per kind:"]
        assert {"per recipient:", "per agreement:", "per day:", "feedback:"} <= set(lines)
        assert feedback.endswith(" useful 2, not useful 1")
        return
    assert "disclosures: 3" not in lines
    assert "per kind:" not in lines
    assert lines[0].endswith(": 3"), lines[0]
    assert "useful" not in feedback
    assert re.search(r"\b2\b.*\b1\b", feedback), feedback
    if locale == "ru":
        assert lines[:2] == ["раскрытия: 3", "по видам:"]


def test_audit_stats_prints_the_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`intelshare audit stats` prints those lines, from the oversight index's figures."""
    from streams.audit import indexquery
    from streams.cli import oversight

    monkeypatch.setattr(oversight, "fresh_index", lambda s, a: (SimpleNamespace(db=None), None))
    monkeypatch.setattr(indexquery, "stats", lambda db: FIGURES)
    with use_locale("en"):
        assert oversight.audit_stats(Settings(home=tmp_path), argparse.Namespace()) == 0
    assert capsys.readouterr().out.splitlines() == stats_lines(FIGURES)
