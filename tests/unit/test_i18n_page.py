"""The oversight page in another language, without a browser: ``lang`` and ``dir`` per locale,
ids, numbers and times isolated left to right, CLDR dates, a mirrored chart, logical CSS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.dates import format_datetime

from streams import i18n
from streams.audit.records import AuditFilter
from streams.audit.verify import verify_log
from streams.i18n import use_locale
from streams.web.page import render_page
from streams.web.pageparts import STYLE, number
from tests.factories import NOW
from tests.unit.conftest import made_up_catalogue
from tests.unit.test_oversight import VERIFY, checkpoint, records


def _page(locale: str) -> str:
    chain = records(["kz-knb", "iq-ctd", "kz-knb"])
    with use_locale(locale):
        return render_page(chain, checkpoint(chain), verify_log(chain, None, VERIFY), AuditFilter())


@pytest.fixture
def arabic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An Arabic catalogue of a few of the page's messages (the translators' is tested by
    test_catalogues)."""
    messages = {
        "Per recipient": "لكل جهة مستلمة",
        "Disclosures matching the filters: {total} of {in_log} in the log": (
            "الإفصاحات المطابقة: {total} من {in_log} في السجل"
        ),
    }
    made_up_catalogue(tmp_path, monkeypatch, "ar", messages)
    yield
    i18n.translation.cache_clear()


@pytest.mark.parametrize(("locale", "direction"), [("ar", "rtl"), ("ckb", "rtl"), ("kk", "ltr")])
def test_the_page_declares_its_language_and_direction(locale: str, direction: str) -> None:
    """``<html lang dir>`` per locale; every language is offered, named in itself."""
    page = _page(locale)
    assert page.startswith(f'<!DOCTYPE html><html lang="{locale}" dir="{direction}">')
    assert 'href="/?lang=ru" lang="ru" dir="ltr" hreflang="ru">русский</a>' in page
    if locale != "ckb":
        assert 'hreflang="ckb">کوردیی ناوەندی</a>' in page


def test_english_stays_as_it_was() -> None:
    """Without a locale the page is English, left to right, with ISO 8601 times."""
    page = _page("en")
    assert page.startswith('<!DOCTYPE html><html lang="en" dir="ltr">')
    assert '<time datetime="2026-11-26T12:00:00Z"><bdi>2026-11-26T12:00:00Z</bdi></time>' in page


def test_ids_numbers_and_times_are_isolated_in_right_to_left_text(arabic: None) -> None:
    """In Arabic, the translated sentence keeps its counts in <bdi>, ids and agreement versions
    too, and times are CLDR's Arabic form with the ISO time for machines."""
    page = _page("ar")
    assert (
        'الإفصاحات المطابقة: <span id="total"><bdi>3</bdi></span> من '
        '<span id="in-log"><bdi>3</bdi></span> في السجل'
    ) in page
    assert "<h3>لكل جهة مستلمة</h3>" in page
    assert '<td class="disclosure nowrap"><bdi>d-0</bdi></td>' in page
    assert '<td class="agreement nowrap"><bdi>A-kz-knb v2</bdi></td>' in page
    assert '<a href="/?event=e-0&amp;lang=ar"><bdi>e-0</bdi></a>' in page
    arabic_time = format_datetime(NOW, "medium", tzinfo=NOW.tzinfo, locale="ar")
    assert f'<time datetime="2026-11-26T12:00:00Z"><bdi>{arabic_time}</bdi></time>' in page
    assert '<input type="hidden" name="lang" value="ar">' in page  # filtering keeps Arabic


def test_the_chart_mirrors_in_right_to_left() -> None:
    """In Arabic the count axis stands on the right and time runs right to left; in Kazakh
    as in English, left to right. SVG's text anchors follow the direction by themselves."""

    def first_bar_and_axis(page: str) -> tuple[float, float, float]:
        svg = re.search(r"<svg [^>]*>.*?</svg>", page, flags=re.S)
        assert svg is not None
        width = float(re.search(r'width="(\d+)"', svg.group(0)).group(1))  # type: ignore[union-attr]
        bars = [float(x) for x in re.findall(r'<rect x="([\d.]+)"[^>]*><title>', svg[0])]
        axis = float(re.search(r'class="y-tick" x="([\d.]+)"', svg[0]).group(1))  # type: ignore[union-attr]
        return bars[0] / width, bars[-1] / width, axis / width

    first, last, axis = first_bar_and_axis(_page("ar"))
    assert 'direction="rtl"' in _page("ar")
    assert axis > 0.8  # the count axis on the right
    assert first > last  # the earliest bar rightmost
    first, last, axis = first_bar_and_axis(_page("kk"))
    assert axis < 0.2
    assert first < last


def test_kazakh_dates_and_numbers_are_cldr_s() -> None:
    """Kazakh shows CLDR's date (``2026 ж. 26 қар.``) and groups digits with a space."""
    page = _page("kk")
    assert "2026\u202fж. 26 қар., 12:00:00" in page  # CLDR's narrow no-break space
    with use_locale("kk"):
        assert number(12345) == "<bdi>12\xa0345</bdi>"
    with use_locale("en"):
        assert number(12345) == "<bdi>12345</bdi>"


def test_the_style_uses_logical_properties_only() -> None:
    """No left/right in the CSS: margins, paddings and alignment mirror with ``dir``."""
    assert not re.search(r"(margin|padding|border)-(left|right)|text-align:(left|right)", STYLE)
    assert "margin-inline-end" in STYLE
    assert "text-align:start" in STYLE
