"""Every interface string the templates and pages use has a translation in every language, none is left over, and
placeholders survive translation."""

from __future__ import annotations

import re
from pathlib import Path

from opencustoms.web import i18n

WEB = Path(i18n.__file__).parent
CALL = re.compile(r"""\b_\(\s*(["'])((?:\\.|(?!\1).)*)\1""")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def used_messages() -> set[str]:
    found = set(i18n.DYNAMIC_MESSAGES)
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("routes/*.py"), WEB / "core.py"]:
        for match in CALL.finditer(path.read_text(encoding="utf-8")):
            found.add(match.group(2).replace("\\'", "'").replace('\\"', '"'))
    return found


def test_every_message_is_translated_in_every_language() -> None:
    used = used_messages()
    assert len(used) > 200
    for lang in i18n.LANGUAGES:
        if lang == "en":
            continue
        catalogue = i18n.CATALOGUES[lang]
        missing = sorted(used - set(catalogue))
        assert not missing, f"{lang}: missing translations for {missing[:10]}"
        unused = sorted(set(catalogue) - used)
        assert not unused, f"{lang}: translations of messages no page uses: {unused[:10]}"
        for message, translation in catalogue.items():
            assert set(PLACEHOLDER.findall(message)) == set(PLACEHOLDER.findall(translation)), message


def test_gettext_and_language_negotiation() -> None:
    assert i18n.gettext("fr", "Risk queue") == "File de ciblage"
    assert i18n.gettext("fr", "Model %(v)s promoted.", v="m1") == "Modèle m1 mis en service."
    assert i18n.gettext("de", "Risk queue") == "Risk queue"
    assert i18n.negotiate("de-DE,fr;q=0.8,en;q=0.9") == "en"
    assert i18n.negotiate("de-DE,fr;q=0.8") == "fr"
    assert i18n.negotiate("de") == "en" and i18n.negotiate(None) == "en"
