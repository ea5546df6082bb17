"""The user's language: which locale, and the translations of intelshare's messages into it.

Catalogues are GNU gettext's, extracted and compiled with Babel (``streams/locale/``:
``intelshare.pot`` and ``<lang>/LC_MESSAGES/intelshare.po``, compiled to ``.mo`` by
``ops/setup``). English is the source language: a message id is its English text, so a missing
catalogue or message falls back to English.

Two ways a message is marked, one per layer:

- :func:`_` and :func:`ngettext` translate at once into the process's locale: the command line
  and the web page, which sit at the boundary with the user.
- :func:`msg` and :func:`msg_n` build a :class:`Message`: an English ``str`` (what logs,
  dead letters and tests see) that keeps its template and arguments, so the boundary can
  translate it with :func:`localise`. The pure core uses these: the reasons it gives travel on
  Kafka (``intel.deadletter``) and into logs, which must read the same whoever wrote them, and
  the core stays free of any process-wide language state.

The locale is read from the environment here rather than from :class:`~streams.settings.Settings`:
``--help`` and the errors about the settings themselves are printed before settings exist.

Placeholders are named, ``{field}``, so a translator can reorder them. Field names, topic
names, JSON keys, TLP labels and codes are arguments or literal parts of a message that
translators are told to keep (README, "Translating intelshare").
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "DOMAIN",
    "LOCALES",
    "LOCALE_DIR",
    "N_",
    "RTL_LOCALES",
    "Message",
    "_",
    "choose_locale",
    "current_locale",
    "direction",
    "localise",
    "msg",
    "msg_n",
    "negotiate",
    "ngettext",
    "translation",
    "use_locale",
]

DOMAIN = "intelshare"
LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("en", "ru", "ar", "ckb", "kk", "ky", "tg")
"""The shipped locales; ``en`` is the source language and has no catalogue."""
RTL_LOCALES = frozenset({"ar", "ckb"})
"""Locales written right to left."""
ENVIRONMENT = ("INTELSHARE_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
"""Where the locale is looked for, first match wins: intelshare's own setting, then GNU
gettext's order (``LC_ALL`` overrides ``LC_MESSAGES``, as in every POSIX program)."""


def _normalise(tag: str) -> str | None:
    """``ru_RU.UTF-8`` -> ``ru``, ``ckb-IQ`` -> ``ckb``; None for one we do not ship."""
    base = tag.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return base if base in LOCALES else None


def choose_locale(environ: Mapping[str, str] | None = None) -> str:
    """The locale of the first variable of :data:`ENVIRONMENT` that is set, or ``en``.

    ``LANGUAGE`` may list several (``kk:ru``): the first shipped one is taken. A set variable
    whose locale is not shipped (``C``, ``de_DE.UTF-8``) ends the search with English, as
    gettext does: a user who set ``LANG=de_DE`` has said what they want, and it is not ``LANG``'s
    neighbour.
    """
    env = os.environ if environ is None else environ
    for name in ENVIRONMENT:
        value = env.get(name, "").strip()
        if not value:
            continue
        for tag in value.split(":"):
            found = _normalise(tag)
            if found is not None:
                return found
        if name != "LANGUAGE":  # gettext goes on past a LANGUAGE it has no catalogue for
            return "en"
    return "en"


@cache
def translation(locale: str) -> gettext.NullTranslations:
    """The catalogue of ``locale``; English (the message ids) when there is none.

    The ``.mo`` that ``ops/setup`` compiles is read when it is at least as new as its ``.po``;
    otherwise (a package installed from source, as docker-compose does, or a ``.po`` dropped
    in after set-up) the ``.po`` is compiled in memory, so a translation never goes stale.
    Fuzzy entries are left out either way: English shows until a translator confirms them.
    """
    if locale == "en" or locale not in LOCALES:
        return gettext.NullTranslations()
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    if po.is_file():
        return _compiled(po, locale)
    return gettext.NullTranslations()


def _compiled(po: Path, locale: str) -> gettext.NullTranslations:
    import io

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalogue = read_po(handle, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


_chosen: list[str] = []
_request: ContextVar[str | None] = ContextVar("intelshare_locale", default=None)


def current_locale() -> str:
    """The locale of the request being served (:func:`use_locale`), else the process's, chosen
    from the environment on first use."""
    asked = _request.get()
    if asked is not None:
        return asked
    if not _chosen:
        _chosen.append(choose_locale())
    return _chosen[0]


@contextmanager
def use_locale(locale: str) -> Iterator[None]:
    """Within the block (and only in this thread or task), :func:`_` translates into
    ``locale``: how the web page answers each request in the language it asked for."""
    token = _request.set(locale if locale in LOCALES else "en")
    try:
        yield
    finally:
        _request.reset(token)


def negotiate(asked: str | None, accept_language: str | None) -> str:
    """The page's locale: ``?lang=`` when it names a shipped locale, else the best of the
    ``Accept-Language`` header (RFC 9110 §12.5.4 weights), else English."""
    if asked:
        found = _normalise(asked)
        if found is not None:
            return found
    ranked: list[tuple[float, int, str]] = []
    for order, part in enumerate((accept_language or "").split(",")[:32]):
        tag, _sep, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        found = _normalise(tag) if tag and tag != "*" else None
        if found is not None and weight > 0:
            ranked.append((-weight, order, found))
    return min(ranked)[2] if ranked else "en"


def direction(locale: str) -> str:
    """``rtl`` or ``ltr``, for the ``dir`` attribute."""
    return "rtl" if locale in RTL_LOCALES else "ltr"


def _(message: str, /, **args: Any) -> str:
    """``message`` translated into the process's locale, its ``{name}`` placeholders filled."""
    text = translation(current_locale()).gettext(message)
    return _filled(text, message, args) if args else text


def ngettext(singular: str, plural: str, n: int, /, **args: Any) -> str:
    """The form of ``singular``/``plural`` for ``n`` in the process's locale; ``{n}`` and the
    other placeholders filled."""
    text = translation(current_locale()).ngettext(singular, plural, n)
    return _filled(text, singular if n == 1 else plural, {**args, "n": n})


def _filled(text: str, english: str, args: Mapping[str, Any]) -> str:
    """``text`` with its placeholders filled; the English when a translation names one the
    message does not have (a translator's slip must not stop the command)."""
    try:
        return text.format(**args)
    except (KeyError, IndexError, ValueError, AttributeError):
        return english.format(**args)


def N_(message: str, /) -> str:
    """Marks ``message`` for extraction without translating it (a table of texts translated
    where shown)."""
    return message


class Message(str):
    """English text that can be translated later: the ``str`` is the English message, and
    :meth:`in_locale` renders the same template and arguments in another locale."""

    template: str
    plural: str | None
    number: int | None
    args: dict[str, Any]

    def __new__(
        cls, template: str, plural: str | None, number: int | None, args: dict[str, Any]
    ) -> Message:
        english = plural if plural is not None and number != 1 else template
        fill = {**args, "n": number} if number is not None else args
        self = super().__new__(cls, english.format(**fill) if fill else english)
        self.template, self.plural, self.number, self.args = template, plural, number, args
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # str's own pickling would call __new__ with the English text alone
        return (Message, (self.template, self.plural, self.number, self.args))

    def in_locale(self, locale: str) -> str:
        """This message in ``locale`` (arguments that are messages translated too)."""
        catalogue = translation(locale)
        if self.plural is not None and self.number is not None:
            text = catalogue.ngettext(self.template, self.plural, self.number)
            fill = {**self.args, "n": self.number}
        else:
            text = catalogue.gettext(self.template)
            fill = self.args
        if not fill:
            return text
        shown = {
            k: localise(v, locale) if isinstance(v, Message | BaseException) else v
            for k, v in fill.items()
        }
        return _filled(
            text, self.plural if self.plural and self.number != 1 else self.template, shown
        )


def msg(template: str, /, **args: Any) -> Message:
    """A message of the core, translated at the boundary (see :class:`Message`)."""
    return Message(template, None, None, args)


def msg_n(singular: str, plural: str, n: int, /, **args: Any) -> Message:
    """A message with a count ``{n}``, its form chosen by the locale's plural rule."""
    return Message(singular, plural, n, args)


def localise(text: object, locale: str | None = None) -> str:
    """``text`` in ``locale`` (default: the process's): a :class:`Message` is translated, an
    exception whose first argument is one is rendered from it, anything else is ``str()``."""
    where = current_locale() if locale is None else locale
    if isinstance(text, Message):
        return text.in_locale(where)
    render = getattr(text, "localised", None)
    if isinstance(text, BaseException) and callable(render):
        return str(render(where))
    if isinstance(text, BaseException) and text.args and isinstance(text.args[0], Message):
        return text.args[0].in_locale(where)
    return str(text)
