"""Messages that once filled a placeholder with an English word ("registered", "expired on",
"reading intel.audit", "listen on 127.0.0.1") are whole translated sentences now, or take a
self-contained translated phrase: checked with the shipped catalogues, in English too (where
tests and scripts read the output, it must not change)."""

from __future__ import annotations

import re
from pathlib import Path

import kafka.errors
import pytest

from streams.audit.verify import ChainStatus
from streams.core.reference import parse_reference_line
from streams.errors import ConfigError, ReferenceInvalidError, TopicMissingError
from streams.i18n import localise, msg, use_locale
from streams.kafka.clients import translate_errors
from streams.settings import Settings
from streams.web.https import listening_at
from streams.web.page import status_html
from tests.factories import NOW

LOCALES = ["ru", "ar", "ckb", "kk", "ky", "tg"]


def _no_english(text: str, *words: str) -> bool:
    return not re.search(r"\b(" + "|".join(words) + r")\b", text)


@pytest.mark.parametrize("locale", LOCALES)
def test_a_reference_line_s_type_problem_is_one_translated_message(locale: str) -> None:
    """No ``type``, or one that is not a kind: each is its own sentence, naming the kinds as
    written (they are values) and the value given; English as before."""
    for given, english in (
        ({}, "is required: facility, subject or agency"),
        ({"type": "prison"}, "'prison' is not one of facility, subject or agency"),
    ):
        with pytest.raises(ReferenceInvalidError) as caught:
            parse_reference_line(given, "line 1", NOW)
        assert english in str(caught.value)
        shown = localise(caught.value, locale)
        assert all(kind in shown for kind in ("facility", "subject", "agency")), shown
        assert _no_english(shown, "is", "required", "not", "one", "of", "or"), shown
        if given:
            assert "'prison'" in shown


@pytest.mark.parametrize("locale", LOCALES)
def test_a_field_no_kind_has_is_named_in_the_locale(locale: str) -> None:
    """An unknown field of a facility line, and a computed field of an agency line."""
    for given in ({"type": "facility", "colour": "red"}, {"type": "agency", "key_id": "k"}):
        with pytest.raises(ReferenceInvalidError) as caught:
            parse_reference_line(given, "line 1", NOW)
        shown = localise(caught.value, locale)
        assert _no_english(shown, "remove", "computed", "field"), shown


@pytest.mark.parametrize("locale", LOCALES)
def test_what_the_client_was_doing_is_translated_with_the_kafka_error(
    tmp_path: Path, locale: str
) -> None:
    """The operation a Kafka error happened in is a translated phrase; the topic name stays."""
    settings = Settings(home=tmp_path)
    doing = msg("reading {topic}", topic="intel.audit")
    with pytest.raises(TopicMissingError) as caught, translate_errors(settings, doing):
        raise kafka.errors.UnknownTopicOrPartitionError()
    assert str(caught.value).startswith("a topic is missing while reading intel.audit; run")
    shown = localise(caught.value, locale)
    assert "intel.audit" in shown
    assert "`intelshare topics create`" in shown
    assert _no_english(shown, "reading", "missing", "while"), shown


@pytest.mark.parametrize("locale", LOCALES)
def test_a_plain_http_refusal_gives_its_hint_in_the_locale(locale: str) -> None:
    """The worker's status page and a web command each say, in the locale, what else to do."""
    for server, hint, english in (
        ("`intelshare oversight serve`", None, "or listen on 127.0.0.1"),
        (msg("the worker's status page"), msg("set INTELSHARE_WEB_HOST=127.0.0.1"), "or set"),
    ):
        with pytest.raises(ConfigError) as caught:
            listening_at("192.0.2.7", None, None, server=server, plain_hint=hint)
        assert english in str(caught.value)
        shown = localise(caught.value, locale)
        assert "127.0.0.1" in shown
        assert _no_english(shown, "listen", "set", "worker", "status", "page"), shown


@pytest.mark.parametrize("locale", LOCALES)
def test_the_page_s_verified_word_is_translated(locale: str) -> None:
    """The oversight page's "verified" (inside an f-string once, so never extracted)."""
    with use_locale(locale):
        html = status_html(ChainStatus(True, 3, None, "3 records"), None, "")
    word = re.search(r'id="chain">([^<]*)<', html)
    assert word is not None, html
    assert word.group(1) not in ("", "verified"), html


@pytest.mark.parametrize("locale", LOCALES)
def test_an_agreement_status_with_a_version_is_translated_on_the_page(locale: str) -> None:
    """agreement_status's codes stay English (the JSON API's values); the page shows each as
    its own message, the version numbers kept."""
    from streams.web.pageparts import state_text

    with use_locale(locale):
        for code in ("v3 not published (latest v2)", "revoked in v3", "superseded by v3 (active)"):
            shown = state_text(code)
            assert "<bdi>v3</bdi>" in shown, shown
            assert _no_english(shown, "not", "published", "latest", "revoked", "superseded"), shown


@pytest.mark.parametrize("locale", LOCALES)
def test_a_feed_discrepancy_is_said_in_the_locale(locale: str) -> None:
    """`audit verify`'s "BROKEN at ...: disclosure d-1 <reason>": the reason is translated
    too, the recipient named as it is; English unchanged."""
    from streams.audit.records import reconcile

    audit = [
        {"disclosure_id": "d-1", "sequence": 0, "recipient": "kz-knb", "disclosure_sha256": ""}
    ]
    feed = [{"disclosure_id": "d-2", "recipient": "kg-gsin"}]
    found = reconcile(audit, feed)
    assert [str(d.reason) for d in found] == [
        "is audited but missing from the feed of kz-knb",
        "is on the feed of kg-gsin but has no audit record",
    ]
    for discrepancy, recipient in zip(found, ("kz-knb", "kg-gsin"), strict=True):
        shown = localise(discrepancy.reason, locale)
        assert recipient in shown
        assert _no_english(shown, "feed", "audited", "missing", "record"), shown
