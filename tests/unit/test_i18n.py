"""The user's language: which locale is chosen, and messages of the core translated at the
command line's boundary with their fields left as they are."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import write_po

from streams import i18n
from streams.core.report import validate_report
from streams.errors import ReportInvalidError
from streams.i18n import (
    LOCALES,
    RTL_LOCALES,
    choose_locale,
    localise,
    msg,
    msg_n,
    negotiate,
    use_locale,
)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, "en", id="nothing-set"),
        pytest.param({"LANG": "ru_RU.UTF-8"}, "ru", id="lang"),
        pytest.param({"LANG": "ru_RU.UTF-8", "LC_MESSAGES": "kk_KZ.UTF-8"}, "kk", id="lc-messages"),
        pytest.param({"LC_MESSAGES": "kk_KZ", "LC_ALL": "ar_IQ.UTF-8"}, "ar", id="lc-all"),
        pytest.param({"LC_ALL": "ar_IQ", "LANGUAGE": "ckb:ar"}, "ckb", id="language"),
        pytest.param({"LANGUAGE": "de:fr:ky", "LANG": "ru_RU"}, "ky", id="language-list"),
        pytest.param({"LANGUAGE": "de", "LANG": "tg_TJ.UTF-8"}, "tg", id="language-unshipped"),
        pytest.param({"INTELSHARE_LANG": "tg", "LANGUAGE": "ru", "LC_ALL": "kk"}, "tg", id="own"),
        pytest.param({"INTELSHARE_LANG": "ckb-IQ"}, "ckb", id="bcp47"),
        pytest.param({"LANG": "C.UTF-8", "LANGUAGE": ""}, "en", id="c-locale"),
        pytest.param({"LC_ALL": "de_DE.UTF-8", "LANG": "ru_RU"}, "en", id="unshipped-stops"),
    ],
)
def test_the_locale_comes_from_intelshare_lang_then_gettext_s_variables(
    environ: dict[str, str], expected: str
) -> None:
    """INTELSHARE_LANG, then LANGUAGE (a list), LC_ALL, LC_MESSAGES, LANG; English when none
    names a shipped locale, and a set variable naming an unshipped one means English too."""
    assert choose_locale(environ) == expected


@pytest.mark.parametrize(
    ("asked", "header", "expected"),
    [
        pytest.param("ar", "ru", "ar", id="query-wins"),
        pytest.param("xx", "kk-KZ,ru;q=0.8", "kk", id="bad-query-ignored"),
        pytest.param(None, "de;q=1, ru;q=0.5, ckb;q=0.9", "ckb", id="weights"),
        pytest.param(None, "tg;q=0, ky", "ky", id="q-zero-refused"),
        pytest.param(None, "de, *", "en", id="nothing-shipped"),
        pytest.param(None, "ru;q=nonsense, kk;q=0.1", "kk", id="malformed-weight"),
        pytest.param(None, None, "en", id="no-header"),
    ],
)
def test_the_page_s_locale_is_lang_then_accept_language(
    asked: str | None, header: str | None, expected: str
) -> None:
    """``?lang=`` names the page's language; else Accept-Language's best shipped one."""
    assert negotiate(asked, header) == expected


def test_rtl_locales_are_those_cldr_writes_right_to_left() -> None:
    """Arabic and Central Kurdish are right to left, by CLDR's data, and no other shipped one."""
    from_cldr = {code for code in LOCALES if Locale.parse(code).character_order == "right-to-left"}
    assert from_cldr == RTL_LOCALES == {"ar", "ckb"}


def test_a_core_message_is_english_until_the_boundary_translates_it(russian: Path) -> None:
    """str() of a core message is English (logs and dead letters); localise() renders the same
    template in Russian, placeholders filled, nested messages translated too."""
    message = msg("{value} is not one of {allowed}", value="'PINK'", allowed="CLEAR, RED")
    assert message == "'PINK' is not one of CLEAR, RED"
    assert localise(message, "ru") == "'PINK' не входит в CLEAR, RED"
    assert localise(msg("is required"), "kk") == "is required"  # no catalogue: English
    assert localise(ValueError("plain"), "ru") == "plain"


def test_plural_forms_follow_the_locale_s_rule(russian: Path) -> None:
    """Russian has three forms; English two."""
    shown = [localise(msg_n("{n} record", "{n} records", n), "ru") for n in (1, 3, 5, 21)]
    assert shown == ["1 запись", "3 записи", "5 записей", "21 запись"]
    assert [str(msg_n("{n} record", "{n} records", n)) for n in (1, 2)] == ["1 record", "2 records"]


def test_a_rejected_report_in_russian_still_names_its_fields(russian: Path) -> None:
    """The reasons are translated; the field names and the values quoted are not."""
    with pytest.raises(ReportInvalidError) as caught:
        validate_report({"tlp": "PINK"}, now=datetime.now(UTC))
    rejected = caught.value
    english = str(rejected)
    russian_text = localise(rejected, "ru")
    assert "event_id: is required" in english
    assert "event_id: обязательно" in russian_text
    assert "tlp: 'PINK' не входит в CLEAR, GREEN, AMBER, AMBER+STRICT, RED" in russian_text
    assert russian_text.startswith("report отклонён: ")  # a label with no translation stays


def test_a_po_newer_than_its_mo_is_read_so_a_translation_is_never_stale(russian: Path) -> None:
    """A stale ``.mo`` (from an earlier set-up) loses to the ``.po`` dropped in after it."""
    stale = Catalog(locale="ru", domain="intelshare")
    stale.add("is required", "старый перевод")
    buffer = io.BytesIO()
    write_mo(buffer, stale)
    mo = russian / "intelshare.mo"
    mo.write_bytes(buffer.getvalue())
    old = time.time() - 60
    os.utime(mo, (old, old))
    i18n.translation.cache_clear()
    assert localise(msg("is required"), "ru") == "обязательно"
    os.utime(mo, None)  # now the .mo is the newer: it is the one read
    i18n.translation.cache_clear()
    assert localise(msg("is required"), "ru") == "старый перевод"


def test_fuzzy_translations_are_not_used(russian: Path) -> None:
    """A translation marked fuzzy waits for a translator's check: English shows meanwhile."""
    catalogue = Catalog(locale="ru", domain="intelshare")
    catalogue.add("is required", "обязательно", flags=["fuzzy"])
    with (russian / "intelshare.po").open("wb") as handle:
        write_po(handle, catalogue)
    i18n.translation.cache_clear()
    assert localise(msg("is required"), "ru") == "is required"


def test_use_locale_is_per_block_and_refuses_unknown_locales() -> None:
    """The page renders in the request's locale; outside the block the process's is back."""
    before = i18n.current_locale()
    with use_locale("ar"):
        assert i18n.current_locale() == "ar"
        with use_locale("zz"):
            assert i18n.current_locale() == "en"
    assert i18n.current_locale() == before


def test_a_translation_with_a_wrong_placeholder_falls_back_to_english(russian: Path) -> None:
    """A translator's renamed placeholder (``{valeur}``) cannot crash the command: that one
    message shows in English."""
    catalogue = Catalog(locale="ru", domain="intelshare")
    catalogue.add("{value} is not one of {allowed}", "{valeur} не входит в {allowed}")
    with (russian / "intelshare.po").open("wb") as handle:
        write_po(handle, catalogue)
    i18n.translation.cache_clear()
    message = msg("{value} is not one of {allowed}", value="'PINK'", allowed="RED")
    assert localise(message, "ru") == "'PINK' is not one of RED"


def test_narratives_in_any_script_survive_the_stix_and_misp_exports() -> None:
    """Kurdish, Russian and Tajik narratives come out of the MISP event and the STIX bundle
    exactly as they went in (the STIX path is also run end to end in test_exchange)."""
    import json

    from streams.formats.misp import event_text
    from streams.formats.stix import bundle_text
    from tests.factories import NARRATIVES, incident
    from tests.unit.disclosures import opened

    for lang, text in NARRATIVES.items():
        disclosure = opened(incident(narrative=text))
        misp = json.loads(event_text(disclosure))
        values = [a["value"] for o in misp["Event"]["Object"] for a in o["Attribute"]]
        assert text in values, lang
        stix = json.loads(bundle_text(disclosure))
        assert text in [o.get("description") for o in stix["objects"]], lang


def test_a_message_pickles_and_serialises_as_its_english_text() -> None:
    """A reason crossing a process (pickle) stays translatable; in JSON or Avro it is the
    English string."""
    import json
    import pickle

    message = msg_n("{n} record", "{n} records", 3)
    copy = pickle.loads(pickle.dumps(message))  # noqa: S301 (our own bytes)
    assert copy == "3 records"
    assert (copy.template, copy.plural, copy.number) == ("{n} record", "{n} records", 3)
    assert json.dumps({"reason": message}) == '{"reason": "3 records"}'
