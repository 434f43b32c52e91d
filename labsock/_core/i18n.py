"""The language labsock speaks to a student: English, or a translation.

Messages a student reads go through :func:`gettext` (imported as ``_`` where
used). The language follows the notebook: the Portuguese notebooks call
``labsock.set_language("pt_BR")`` in their first cell; otherwise the standard
variables decide (``LANGUAGE``, then ``LC_ALL``, ``LC_MESSAGES``, ``LANG``),
as for any gettext program. A language without a catalog falls back to
English, the source language, silently: nothing breaks, it is only not
translated.

Catalogs are gettext files in ``labsock/locale/LANG/LC_MESSAGES/labsock.po``,
compiled to ``.mo`` beside them by ``make translations``.

>>> set_language("xx_YY")       # no such catalog: English
>>> language(), gettext("hello")
('en', 'hello')
>>> gettext("hello")
'hello'
>>> set_language(None)          # back to the environment's choice
"""

from __future__ import annotations

import gettext as _gettext
import os
from pathlib import Path

__all__ = ["LOCALE_DIR", "gettext", "language", "ngettext", "set_language"]

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "labsock"

_translations: _gettext.NullTranslations = _gettext.NullTranslations()
_language = "en"
_chosen: str | None = None  # set_language's choice; None follows the environment


def _candidates(lang: str) -> list[str]:
    """``pt_BR.UTF-8`` -> ``["pt_BR", "pt"]``: the forms gettext looks for."""
    base = lang.split(".")[0].split("@")[0].replace("-", "_")
    return [base, base.split("_")[0]] if "_" in base else [base]


def _load(langs: list[str]) -> str | None:
    global _translations, _language
    for lang in langs:
        for form in _candidates(lang):
            if form in ("C", "POSIX", "en") or form.startswith("en_"):
                _translations, _language = _gettext.NullTranslations(), "en"
                return None
            try:
                found = _gettext.translation(DOMAIN, LOCALE_DIR, languages=[form])
            except OSError:
                continue
            _translations, _language = found, form
            return form
    _translations, _language = _gettext.NullTranslations(), "en"
    return None


def _from_environment() -> list[str]:
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return [v for v in value.split(":") if v]
    return []


def set_language(lang: str | None) -> None:
    """Speak ``lang`` (``"pt_BR"``, ``"pt"``, ``"en"``) from now on.

    ``None`` goes back to following the environment (``LANGUAGE``, ``LC_ALL``,
    ``LC_MESSAGES``, ``LANG``). A language with no catalog falls back to
    English; :func:`language` says which one labsock now speaks. (Nothing is
    returned, so the cell that calls it shows no output.)
    """
    global _chosen
    _chosen = lang
    _load(_from_environment() if lang is None else [lang])


def language() -> str:
    """The language labsock speaks now: ``"en"`` or a catalog's name (``"pt_BR"``)."""
    return _language


def gettext(message: str) -> str:
    """``message`` in the current language (itself in English)."""
    return _translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, in the current language."""
    return _translations.ngettext(singular, plural, n)


_load(_from_environment())
