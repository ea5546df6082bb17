"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def russian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A locale folder with a Russian catalogue of :data:`RUSSIAN`, as ``.po`` only."""
    catalogue = Catalog(locale="ru", domain="intelshare")
    for msgid, text in RUSSIAN.items():
        if isinstance(text, tuple):
            catalogue.add((msgid, "{n} records"), text)
        else:
            catalogue.add(msgid, text)
    folder = tmp_path / "ru" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "intelshare.po").open("wb") as handle:
        write_po(handle, catalogue)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translation.cache_clear()
    yield folder
    i18n.translation.cache_clear()
