"""A lexical HS suggester: goods descriptions matched against the HS nomenclature texts, no training.

Every HS6 subheading is one document. Subheading texts alone are often short or say only "Other", so by default a
document also carries its heading's and chapter's texts (the *hierarchical context*), and the texts of the same code
in the other shipped edition. Two views are combined: word n-grams (1-2) and character n-grams (3-5, within word
boundaries, which absorb plurals, typos and compound words). The word view is weighted either by TF-IDF (cosine) or
by BM25; the character view is always TF-IDF cosine. Which of these measures best is in docs/benchmarks.md
(``benchmarks/hs_classify.py``); the default is the winner there: context documents, character view only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opencustoms.reference.hs import Nomenclature

# Words that carry no classification meaning in the nomenclature's drafting style.
_STOP_WORDS_TEXT = """a an and or of the for to in on with by as at from its their than whether not nor
other others nes n.e.s elsewhere specified included including excluding kind kinds type types
heading headings subheading subheadings chapter chapters put up containing"""
NOMENCLATURE_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


@dataclass(frozen=True)
class LexicalConfig:
    """One lexical method. ``context``: add heading and chapter texts to each subheading document;
    ``weighting``: ``tfidf`` or ``bm25`` for the word view; ``char_weight``: share of the character view in the
    combined score (0 = words only, 1 = characters only)."""

    context: bool = True
    weighting: str = "tfidf"
    char_weight: float = 1.0
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (3, 5)
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    name: str = field(default="", compare=False)

    def label(self) -> str:
        if self.name:
            return self.name
        parts = ["context" if self.context else "subheading-only"]
        if self.char_weight < 1:
            parts.append(f"word-{self.weighting}")
        if self.char_weight > 0:
            parts.append("char")
        return "+".join(parts)


DEFAULT_CONFIG = LexicalConfig()


def subheading_documents(
    primary: Nomenclature, others: tuple[Nomenclature, ...] = (), *, context: bool = True
) -> tuple[list[str], list[str]]:
    """The HS6 codes of ``primary`` and one text per code (see the module's docstring)."""
    codes = sorted(c for c, e in primary.entries.items() if e.level == 6)
    texts = []
    for code in codes:
        parts: list[str] = []
        for nom in (primary, *others):
            entry = nom.entries.get(code)
            if entry is None:
                continue
            if entry.description not in parts:
                parts.append(entry.description)
            if context:
                for level_code in (code[:4], code[:2]):
                    upper = nom.entries.get(level_code)
                    if upper is not None and upper.description not in parts:
                        parts.append(upper.description)
        texts.append(" . ".join(parts))
    return codes, texts


def _word_vectorizer(config: LexicalConfig, *, bm25: bool) -> Any:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    options: dict[str, Any] = {
        "lowercase": True,
        "strip_accents": "unicode",
        "token_pattern": r"(?u)\b[^\W\d_][^\W\d_]+\b",
        "stop_words": sorted(NOMENCLATURE_STOP_WORDS),
        "ngram_range": config.word_ngrams,
    }
    if bm25:
        return CountVectorizer(**options)
    return TfidfVectorizer(sublinear_tf=True, **options)


class LexicalSuggester:
    """Fit on (codes, texts); :meth:`scores` gives one row of similarities per description, one column per code."""

    def __init__(self, config: LexicalConfig = DEFAULT_CONFIG) -> None:
        self.config = config

    def fit(self, codes: list[str], texts: list[str]) -> LexicalSuggester:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.codes_ = np.asarray(codes)
        self.texts_ = list(texts)
        cfg = self.config
        self.word_: Any = None
        self.char_: Any = None
        if cfg.char_weight < 1:
            bm25 = cfg.weighting == "bm25"
            self.word_ = _word_vectorizer(cfg, bm25=bm25)
            counts = self.word_.fit_transform(texts)
            # Stored transposed (terms × codes, CSR): a description's product with it is 100× faster than with the
            # codes × terms matrix transposed at each call.
            self.word_matrix_ = (self._bm25(counts) if bm25 else counts).T.tocsr()
        if cfg.char_weight > 0:
            self.char_ = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=cfg.char_ngrams,
                lowercase=True,
                strip_accents="unicode",
                sublinear_tf=True,
                min_df=1,
            )
            self.char_matrix_ = self.char_.fit_transform(texts).T.tocsr()
        return self

    def _bm25(self, counts: Any) -> Any:
        import scipy.sparse as sp

        cfg = self.config
        counts = sp.csr_matrix(counts, dtype=np.float64)
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        norm = cfg.bm25_k1 * (1 - cfg.bm25_b + cfg.bm25_b * lengths / max(lengths.mean(), 1e-9))
        weighted = counts.copy()
        rows = np.repeat(np.arange(n_docs), np.diff(counts.indptr))
        tf = weighted.data
        weighted.data = idf[weighted.indices] * tf * (cfg.bm25_k1 + 1) / (tf + norm[rows])
        return weighted.tocsr()

    def scores(self, descriptions: list[str]) -> np.ndarray:
        """Similarities in [0, 1] (BM25 scores are divided by each description's best), shape (n, codes)."""
        cfg = self.config
        total = np.zeros((len(descriptions), len(self.codes_)))
        if self.word_ is not None:
            query = self.word_.transform(descriptions)
            if cfg.weighting == "bm25":
                query.data[:] = 1.0
                word = np.asarray((query @ self.word_matrix_).todense())
                best = word.max(axis=1, keepdims=True)
                word = np.divide(word, best, out=np.zeros_like(word), where=best > 0)
            else:
                word = np.asarray((query @ self.word_matrix_).todense())
            total += (1 - cfg.char_weight) * word
        if self.char_ is not None:
            char = np.asarray((self.char_.transform(descriptions) @ self.char_matrix_).todense())
            total += cfg.char_weight * char
        return total

    def matched_terms(self, description: str, code_index: int, limit: int = 6) -> list[str]:
        """The description's words found in the code's document (the same word, or one sharing its first five
        letters, so "trousers" finds "trouser"): the evidence shown to the reader."""
        doc_words = set(_words(self.texts_[code_index]))
        stems = {w[:5] for w in doc_words if len(w) >= 5}
        found: list[str] = []
        for word in _words(description):
            if (word in doc_words or (len(word) >= 5 and word[:5] in stems)) and word not in found:
                found.append(word)
        return found[:limit]


def _words(text: str) -> list[str]:
    import re
    import unicodedata

    plain = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return [w for w in re.findall(r"[a-z][a-z]+", plain) if w not in NOMENCLATURE_STOP_WORDS and len(w) > 2]
