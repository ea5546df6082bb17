"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from streams import i18n

RUSSIAN = {
    "is required": "обязательно",
    "{value} is not one of {allowed}": "{value} не входит в {allowed}",
    "{label} rejected: {detail}": "{label} отклонён: {detail}",
    "line {number}": "строка {number}",
    "{n} record": ("{n} запись", "{n} записи", "{n} записей"),
}
"""A made-up Russian catalogue: the mechanism is tested apart from the translators' work."""


def made_up_catalogue(
    root: Path, monkeypatch: pytest.MonkeyPatch, locale: str, messages: dict[str, Any]
) -> Path:
    """Write ``messages`` (msgid: text, or for a plural a tuple of forms) as the ``.po`` of
    ``locale`` under ``root``, and make ``root`` the locale folder for this test (the
    translations' cache is cleared, and must be again after the test). The catalogue's
    folder."""
    catalogue = Catalog(locale=locale, domain="intelshare")
    for msgid, text in messages.items():
        if isinstance(text, tuple):
            catalogue.add((msgid, "{n} records"), text)
        else:
            catalogue.add(msgid, text)
    folder = root / locale / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "intelshare.po").open("wb") as handle:
        write_po(handle, catalogue)
    monkeypatch.setattr(i18n, "LOCALE_DIR", root)
    i18n.translation.cache_clear()
    return folder


@pytest.fixture
def russian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A locale folder with a Russian catalogue of :data:`RUSSIAN`, as ``.po`` only."""
    yield made_up_catalogue(tmp_path, monkeypatch, "ru", RUSSIAN)
    i18n.translation.cache_clear()
