"""``intelshare submit`` in Russian: the rejections are Russian and still name each field, the
exit code is the one of English. A file of invalid reports is refused before any broker is
asked, so no broker is needed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from streams import cli
from streams.i18n import use_locale

BAD = '{"event_id": "x", "tlp": "PINK", "narrative": "ڕۆێڵ\\u0007"}\n{"kind": "incident"\n'
"""Two reports: one with many faults (a Kurdish narrative holding a BEL at character 5), one
that is not JSON."""


def test_submit_prints_russian_rejections_naming_the_fields(
    russian: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With a Russian catalogue, each rejection line says the field in the original and the
    reason in Russian; the exit code is 1, as in English."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(BAD, encoding="utf-8")
    with use_locale("ru"):
        code = cli.main(["submit", str(bad)])
    err = capsys.readouterr().err
    assert code == 1
    assert "строка 1: kind: обязательно" in err
    assert "строка 1: tlp: 'PINK' не входит в CLEAR, GREEN, AMBER, AMBER+STRICT, RED" in err
    assert "строка 1: narrative: holds a control character" in err  # not in this catalogue


def test_intelshare_lang_ru_gives_the_shipped_russian_rejections(tmp_path: Path) -> None:
    """``INTELSHARE_LANG=ru intelshare submit bad.jsonl``, with the Russian catalogue the
    package ships: every rejection names its field and gives its reason in Cyrillic; exit 1.
    (Fails until the Russian translation is in streams/locale/ru/LC_MESSAGES/.)"""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(BAD, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTELSHARE_")}
    env |= {"INTELSHARE_LANG": "ru", "INTELSHARE_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "submit", str(bad)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    for field in ("event_id", "kind", "tlp", "grading", "narrative", "report"):
        line = next((line for line in lines if f": {field}: " in line), None)
        assert line is not None, f"no rejection names {field}: {done.stderr}"
        assert re.search("[\u0400-\u04ff]", line.split(f": {field}: ", 1)[1]), line
    assert "'PINK'" in done.stderr  # the value quoted as given
    assert "CLEAR, GREEN, AMBER, AMBER+STRICT, RED" in done.stderr  # TLP labels untranslated
    assert "U+0007" in done.stderr
