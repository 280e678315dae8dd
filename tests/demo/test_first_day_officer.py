"""The first-day officer test (issue #14): an officer who has never seen the product signs in to the demo with
the password it printed, opens the red lane and reads why 20 red declarations are red, in English and in French.
Every reason shown is a sentence: no feature name, no raw category code, no word left in English on the French
pages."""

from __future__ import annotations

import html
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from opencustoms.demo import run
from opencustoms.risk import explain

SNAKE = re.compile(r"\b[a-z]+_[a-z0-9_]+\b")  # uv_z, rate_hs6_origin, cat_origin
PSEUDONYM = re.compile(r"\bp_[0-9a-f]{8,}\b")  # a party's pseudonym is a name, not a feature
WORD = re.compile(r"[A-Za-zÀ-ÿ']{3,}")
# what is data, not the platform's words: an officer's own note quoted (“…”, « … »), an identifier with a slash
# (a log's origin), a name (capitalised words after the sentence's first: companies, places)
QUOTED = re.compile(r"“[^”]*”|«[^»]*»")
IDENTIFIER = re.compile(r"\S*/\S*")


def own_words(text: str) -> set[str]:
    """The words the platform wrote in a sentence: its first word and every word in lower case."""
    plain = IDENTIFIER.sub(" ", QUOTED.sub(" ", text))
    words = WORD.findall(plain)
    return {w.lower() for i, w in enumerate(words) if i == 0 or w[0].islower()}


def english_only_words() -> set[str]:
    """Words the English sentences use and no French sentence does (the risk catalogue's and the signals')."""
    from opencustoms import wording

    paths = [explain.CATALOGUE_PATH]
    signals = Path(wording.__file__).parent / "signals.toml"
    if signals.exists():
        paths.append(signals)
    words: dict[str, set[str]] = {"en": set(), "fr": set()}
    for path in paths:
        for entry in wording.Catalogue(path).entries.values():
            for lang in words:
                if isinstance(entry.get(lang), str):
                    template = re.sub(r"\{[^}]*\}", " ", entry[lang])
                    words[lang] |= {w.lower() for w in WORD.findall(template)}
    return words["en"] - words["fr"]


class Reasons(HTMLParser):
    """The texts of a page's reasons: each item of ``ul.reasons`` (its own text) and each evidence row of a
    ``table.bars`` (first cell), and the queue's ``td.top-reason`` cells."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._stack: list[str] = []
        self._current: list[str] | None = None
        self._lists = 0
        self._cell = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "ul" and "reasons" in classes:
            self._lists += 1
        if self._lists and tag == "li":
            self._open()
        if self._lists and tag == "table":
            self._close()
        if self._lists and tag == "tr":
            self._cell = 0
        if self._lists and tag == "td":
            self._cell += 1
            if self._cell == 1:
                self._open()
        if tag == "td" and "top-reason" in classes:
            self._open()
        if tag == "a":
            self._close()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("li", "td"):
            self._close()
        if tag == "ul" and self._lists:
            self._lists -= 1

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)

    def _open(self) -> None:
        self._close()
        self._current = []

    def _close(self) -> None:
        if self._current is not None:
            text = " ".join("".join(self._current).split())
            if text:
                self.texts.append(html.unescape(text))
        self._current = None


def reasons_on(page: str) -> list[str]:
    parser = Reasons()
    parser.feed(page)
    return parser.texts


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("first-day")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        run.main(check=True, count=2500, seed=5, host="127.0.0.1", port=0, console=Console(quiet=True))
    return folder / "var" / "demo"


def test_an_officer_reads_why_twenty_red_declarations_are_red(demo: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from opencustoms.api import create_app
    from opencustoms.config import Settings
    from opencustoms.context import Platform

    passwords = dict(line.split("\t") for line in (demo / "passwords.txt").read_text().splitlines())
    platform = Platform(Settings(database_url=f"sqlite:///{demo / 'demo.db'}", data_dir=demo, administration="NL"))
    english_only = english_only_words()
    problems: list[Any] = []
    with TestClient(create_app(platform)) as client:
        login = client.get("/ui/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert csrf is not None
        signed = client.post(
            "/ui/login",
            data={"username": "officer", "password": passwords["officer"], "method": "password", "csrf_token": csrf[1]},
            follow_redirects=False,
        )
        assert signed.status_code in (302, 303), signed.text
        queue = client.get("/ui/queue?lane=red&lang=en")
        assert queue.status_code == 200
        references = list(dict.fromkeys(re.findall(r'href="/ui/declarations/([^"#?]+)"', queue.text)))[:20]
        assert len(references) == 20, f"the demo's red lane holds {len(references)} declarations"
        for lang in ("en", "fr"):
            pages = [client.get(f"/ui/queue?lane=red&lang={lang}").text]
            pages += [client.get(f"/ui/declarations/{ref}?lang={lang}").text for ref in references]
            # each declaration's unit value against the price reference the model used
            checks = [re.search(r'<p class="price-check">(.*?)</p>', page, re.S) for page in pages[1:]]
            assert all(checks), "every red declaration shows its price check"
            word = "Valeur unitaire" if lang == "fr" else "Unit value"
            assert sum(word in c[1] for c in checks if c) >= 10, [c[1] for c in checks if c][:3]
            for page in pages:
                texts = reasons_on(page)
                assert texts, "a red declaration shows its reasons"
                for text in texts:
                    plain = PSEUDONYM.sub("", text)
                    if not re.match(r"^[A-ZÀ-Ý0-9>«]", text) or len(text.split()) < 3:
                        problems.append((lang, "not a sentence", text))
                    if SNAKE.search(plain) or " = " in plain or "cat_" in plain:
                        problems.append((lang, "a feature name or raw code", text))
                    if lang == "fr":
                        left = own_words(plain) & english_only
                        if left:
                            problems.append((lang, f"English words {sorted(left)}", text))
    assert not problems, "\n".join(map(str, problems[:20]))
