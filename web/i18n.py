"""The languages people read govshare in: Simplified Chinese first (zh_CN, the default), English
available. Every text a person reads comes from the gettext catalogs in web/locale (Babel's PO
files, read and compiled when first used), never from dictionaries in code:

- the interface's own sentences, msgids in English in the templates (`{{ _("Overview") }}`);
- the domain's codes (event types, states, duty kinds, outcomes, roles, rules, columns, ...),
  each under a message context naming what it is: `label("status", "breached")` is 逾期.

The language of a request is set once (`use`) and read by every gettext call in it, through a
context variable, so a page renders whole in one language.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Iterator

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = Path(__file__).parent / "locale"
DEFAULT = "zh_CN"
LANGUAGES = {"zh_CN": "中文", "en": "English"}
_current: ContextVar[str] = ContextVar("govshare_language", default=DEFAULT)


@cache
def translations(language: str) -> Translations:
    """The catalog of `language`, compiled in memory from its PO file."""
    import io
    with open(LOCALES / language / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def language_of(asked: str | None) -> str:
    """The language to answer in: the one asked for (`?lang=`, a cookie, as `en`, `en-US`,
    `zh_CN`) if govshare has it, else Chinese. A browser's own preference is not asked: the
    dashboard is for Chinese supervisors, whatever machine they sit at."""
    primary = (asked or "").replace("-", "_").split("_")[0].lower()
    return next((known for known in LANGUAGES if known.split("_")[0].lower() == primary), DEFAULT)


@contextmanager
def use(language: str) -> Iterator[None]:
    token = _current.set(language)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> str:
    return _current.get()


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(_current.get()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).npgettext(context, singular, plural, n)


def label(context: str, code: object, jurisdiction: str | None = None) -> str:
    """A code as a person reads it: its catalog label in the current language (the code itself
    where the catalog has none, which the catalogs' test does not let pass); `jurisdiction`: a
    policy profile whose text names the code otherwise (Ningbo's 受限共享类), under the context
    `<context>@<policy id>`."""
    if code is None or code == "":
        return "—"
    if jurisdiction and has_label(_current.get(), f"{context}@{jurisdiction}", str(code)):
        return pgettext(f"{context}@{jurisdiction}", str(code))
    return pgettext(context, str(code))


def has_label(language: str, context: str, code: str) -> bool:
    """Whether the catalog of `language` translates the code (for the test that fails on a
    missing label)."""
    found = translations(language)._catalog.get(f"{context}\x04{code}")  # gettext's key for a context
    return bool(found)
