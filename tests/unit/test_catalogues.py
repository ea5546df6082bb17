"""The message catalogues of streams/locale: the template holds every marked message, and
every shipped locale translates every one of them, keeping its placeholders.

These read the catalogues where the package reads them, so a translator's ``.po`` dropped into
``streams/locale/<lang>/LC_MESSAGES/`` is what they check.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from streams.i18n import DOMAIN, LOCALE_DIR, LOCALES
from streams.settings import PROJECT_ROOT

POT = LOCALE_DIR / f"{DOMAIN}.pot"
KEYWORDS = {"_": None, "N_": None, "msg": None, "ngettext": (1, 2), "msg_n": (1, 2)}
"""The marking functions of streams/i18n.py, as ops/catalogues passes them to pybabel."""
PLACEHOLDER = re.compile(r"(?<!\{)\{[^{}]*\}(?!\})")
"""A str.format placeholder (``{field}``, ``{n}``, ``{mode:o}``), not an escaped brace."""


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale, domain=DOMAIN)


def _ids(message: Message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_the_template_holds_every_marked_message() -> None:
    """Extracting again finds no message the committed .pot lacks: run `ops/catalogues
    extract` (and commit) after marking a new message."""
    template = _read(POT)
    known = {message.id for message in template if message.id}
    found: set[str | tuple[str, ...]] = set()
    for folder in ("streams", "agents"):
        for _file, _line, text, _comments, _context in extract_from_dir(
            PROJECT_ROOT / folder,
            method_map=[("**.py", "python")],
            keywords=KEYWORDS,
        ):
            found.add(text if isinstance(text, str) else tuple(text[:2]))
    missing = {text for text in found if text and text not in known}
    assert not missing, f"not in {POT.name}: {sorted(map(str, missing))[:10]}"


@pytest.mark.parametrize("locale", [code for code in LOCALES if code != "en"])
def test_every_message_is_translated_keeping_its_placeholders(locale: str) -> None:
    """Every msgid of the .pot has a translation in this locale's .po, not fuzzy, every plural
    form filled, with exactly the placeholders of the English (a translator reorders them,
    never renames or drops them: they carry field names, ids and counts)."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    assert po.is_file(), f"no catalogue {po}: `ops/catalogues init {locale}`"
    template, catalogue = _read(POT), _read(po, locale)
    problems = []
    for source in template:
        if not source.id:
            continue
        found = catalogue.get(source.id)
        label = _ids(source)[0][:70]
        if found is None:
            problems.append(f"missing: {label}")
            continue
        if found.fuzzy:
            problems.append(f"fuzzy: {label}")
        forms = found.string if isinstance(found.string, tuple) else (found.string,)
        wanted = set().union(*(_placeholders(text) for text in _ids(source)))
        for form in forms:
            if not form:
                problems.append(f"untranslated: {label}")
            elif _placeholders(form) - wanted or (wanted - {"{n}"}) - _placeholders(form):
                problems.append(f"placeholders {sorted(_placeholders(form))}: {label}")
    assert not problems, f"{locale}: {len(problems)} problems, e.g. {problems[:8]}"


def _marked_calls() -> list[tuple[str, int, set[str], set[str] | None]]:
    """Each call of a marking function with a literal message: (file, line, the message's
    placeholder names, the keyword names given, or None when ``**`` passes some)."""
    calls = []
    for path in sorted((PROJECT_ROOT / "streams").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            count = {"_": 1, "msg": 1, "ngettext": 2, "msg_n": 2}.get(node.func.id)
            texts = [a.value for a in node.args[: count or 0] if isinstance(a, ast.Constant)]
            if not count or len(texts) != count or not all(isinstance(t, str) for t in texts):
                continue
            names = {
                p.strip("{}").split("!")[0].split(":")[0] for t in texts for p in _placeholders(t)
            }
            given = {k.arg for k in node.keywords}
            line = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
            calls.append((line, count, names, None if None in given else given))  # type: ignore[arg-type]
    return calls


def test_every_placeholder_of_a_marked_message_is_given_by_its_call() -> None:
    """A ``{name}`` in a message and the ``name=`` of its call agree, so no translation can
    fail to format (a plural message's ``{n}`` is its count)."""
    wrong = []
    for line, count, names, given in _marked_calls():
        if given is None:
            continue
        expected = names - ({"n"} if count == 2 else set())
        if expected != given - ({"n"} if count == 2 else set()):
            wrong.append(f"{line}: {sorted(names)} vs {sorted(given)}")
    assert not wrong, wrong


def test_no_marked_message_is_hidden_from_extraction() -> None:
    """Every literal message of a marking call is in the .pot, including a call inside an
    f-string, which pybabel does not see (``f'<span>{_("verified")}</span>'`` was never
    translated): mark it outside the f-string."""
    known = {message.id for message in _read(POT) if message.id}
    count = {"_": 1, "N_": 1, "msg": 1, "ngettext": 2, "msg_n": 2}
    hidden = []
    for folder in ("streams", "agents"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                    continue
                wanted = count.get(node.func.id, 0)
                texts = [a.value for a in node.args[:wanted] if isinstance(a, ast.Constant)]
                if not wanted or len(texts) != wanted or not all(isinstance(t, str) for t in texts):
                    continue
                message = texts[0] if wanted == 1 else tuple(texts)
                if message not in known:
                    hidden.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {texts[0]!r}")
    assert not hidden, hidden
