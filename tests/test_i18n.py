"""Chinese first: every code a person reads has its zh_CN label (and its English one) in the
gettext catalogs, every sentence of the interface its zh_CN translation; a missing one fails
here, before a supervisor meets a raw code or an English sentence."""
from __future__ import annotations

import dataclasses
import enum
import importlib
import typing
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from events.registry import all_kinds
from processors.rules import deadlines
from processors.profiles import load_all
from projections.views import VIEWS
from web import i18n
from web.dashboard import display

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("zh_CN", "en")
ENUM_MODULES = ("events.catalog", "events.deadline", "events.envelope", "events.objection", "events.sharing",
                "events.checkpoint")


def _payload_fields() -> set[str]:
    found: set[str] = set()

    def walk(cls: type) -> None:
        if not dataclasses.is_dataclass(cls) or cls in seen:
            return
        seen.add(cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            found.add(f.name)
            kind = hints.get(f.name)
            for inner in (kind, *typing.get_args(kind), *(a for t in typing.get_args(kind) for a in typing.get_args(t))):
                if isinstance(inner, type):
                    walk(inner)
    seen: set[type] = set()
    for kind in all_kinds():
        walk(kind.cls)
    return found


def codes() -> list[tuple[str, str]]:
    """Every (context, code) the pages show, read from where the code defines them."""
    policies = load_all()
    found = [("event", k.event_type) for k in all_kinds()]
    for profile in policies.profiles.values():
        found += [("rule", r) for r in profile.rules] + [("kind", k) for k in profile.limits]
    found += [("kind", getattr(deadlines, name)) for name in dir(deadlines)
              if name.isupper() and isinstance(getattr(deadlines, name), str)
              and getattr(deadlines, name).islower() and "-" in getattr(deadlines, name)]
    for module in map(importlib.import_module, ENUM_MODULES):
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, enum.Enum) and value.__module__ == module.__name__:
                found += [(name, e.value) for e in value]
    for view in VIEWS.values():
        found += [("view", view.name)] + [("column", c) for c in view.columns]
        for f in view.filters:
            found.append(("filter", f.name))
            found += [(f.labels, c) for c in f.choices or ()]
    found += [("field", f) for f in _payload_fields()]
    found += [("fact", f) for f in ("met", "breached", "rectification", "criticism", "usage-violation")]
    found += [("action", a) for a in ("rectification-ordered", "criticism-circulated", "usage-violation")]
    found += [("path", p) for p in ("auto", "conditional", "desensitized")]
    found += [("violation", v) for v in ("no-grant", "grant-expired", "grant-revoked", "grant-withdrawn", "other-entry",
                                         "items-outside-grant", "other-purpose", "other-method", "other-scenario",
                                         "before-grant", "not-the-grantee", "third-party")]
    found += [("actor", a) for a in ("data authority", "requester (may dispute)", "leadership group")]
    found += [(display.FIELDS[f], None) for f in ()]  # (the enums above cover FIELDS' contexts)
    return sorted(set(found))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_code_a_page_shows_has_its_label(language):
    missing = [f"{context}|{code}" for context, code in codes() if not i18n.has_label(language, context, code)]
    assert not missing, f"{len(missing)} codes without a {language} label: {missing[:40]}"


def test_the_chinese_labels_are_chinese_and_one_code_one_label():
    with i18n.use("zh_CN"):
        labels: dict[tuple[str, str], str] = {}
        for context, code in codes():
            text = i18n.label(context, code)
            assert any("\u4e00" <= c <= "\u9fff" for c in text), f"{context}|{code}: {text!r} is not Chinese"
            assert (context, text) not in labels, f"{context}: {code} and {labels[(context, text)]} read alike ({text})"
            labels[(context, text)] = code


def test_the_official_terms_of_the_texts():
    with i18n.use("zh_CN"):
        assert i18n.label("ShareType", "UNCONDITIONAL") == "无条件共享"
        assert i18n.label("ShareType", "CONDITIONAL") == "有条件共享"
        assert i18n.label("ShareType", "NON_SHAREABLE") == "不予共享"
        assert i18n.label("ShareType", "CONDITIONAL", "ningbo-haishu-2021") == "受限共享类"  # Ningbo Art. 16
        assert i18n.label("status", "breached") == "已逾期"
        assert i18n.label("action", "criticism-circulated") == "通报批评"
        assert "责令" in i18n.label("action", "rectification-ordered")
        assert i18n.label("view", "problems") == "问题清单"
        assert "脱敏" in i18n.label("path", "desensitized")
    with i18n.use("en"):
        assert i18n.label("ShareType", "UNCONDITIONAL") == "Unconditional sharing"


def test_every_sentence_of_the_interface_is_translated():
    """What `pybabel extract -F babel.cfg` finds in the templates and the web code, each in the
    zh_CN catalog (the same keywords the catalog is maintained with)."""
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "label": ((1, "c"), 2)}
    method_map = [("web/**.py", "python"), ("web/dashboard/templates/**.html", "jinja2")]
    options = {"web/dashboard/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    missing = []
    for _, _, message, comments, context in extract_from_dir(ROOT, method_map, options, keywords=keywords):
        msgid = message[0] if isinstance(message, tuple) else message
        if context:
            if not i18n.has_label("zh_CN", context, msgid):
                missing.append(f"{context}|{msgid}")
        elif not i18n.translations("zh_CN")._catalog.get(msgid):
            missing.append(msgid)
    assert not missing, f"untranslated: {missing}"


def test_the_reader_s_language_is_chinese_unless_asked_otherwise():
    assert i18n.language_of(None) == "zh_CN"
    assert i18n.language_of("en") == i18n.language_of("en-US") == "en"
    assert i18n.language_of("fr") == "zh_CN"
    with i18n.use("en"):
        assert display.last_day("2026-12-14T16:00:00+00:00") == "by 12/14/2026"
    with i18n.use("zh_CN"):
        # A limit ends at the start of the next day, Beijing time: its last day is the one before.
        assert display.last_day("2026-12-14T16:00:00+00:00") == "截止 2026年12月14日"
