"""A supervised HS6 model learnt from the administration's own confirmed declarations.

Features: character n-grams (2-5, within word boundaries) and word n-grams (1-2) of the goods description, TF-IDF
weighted. Classifier: a linear model (``SGDClassifier`` with the logistic loss, one-vs-rest), fast to train on a
CPU and to apply in well under a millisecond. Codes seen fewer than ``min_examples`` times are left to the lexical
suggester, which also fills whatever probability the model does not claim (see :func:`combine`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

from opencustoms import modelfile
from opencustoms.classification.errors import ClassificationDataError, ClassificationModelError

FORMAT = "opencustoms-hs-model-1"
MIN_EXAMPLES = 2  # a code seen fewer times than this is left to the lexical suggester
MIN_TRAINING_ROWS = 20
FAMILIARITY_POWER = 2.0  # see combine()
_KEYS = (
    "scikit_learn",
    "seed",
    "alpha",
    "min_examples",
    "vectorizer",
    "classifier",
    "class_counts",
    "memory_texts",
    "memory_codes",
    "memory",
    "training_rows",
    "training_hash",
)


class DescriptionModel:
    """``fit(descriptions, codes)`` then ``predict_proba(descriptions)`` over ``classes_`` (HS6 codes)."""

    def __init__(self, *, seed: int = 0, alpha: float = 1e-5, min_examples: int = MIN_EXAMPLES) -> None:
        self.seed = seed
        self.alpha = alpha
        self.min_examples = min_examples

    def fit(self, descriptions: list[str], codes: list[str]) -> DescriptionModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import SGDClassifier
        from sklearn.pipeline import FeatureUnion

        counts = Counter(codes)
        keep = [i for i, c in enumerate(codes) if counts[c] >= self.min_examples]
        kept_codes = [codes[i] for i in keep]
        if len(keep) < MIN_TRAINING_ROWS or len(set(kept_codes)) < 2:
            raise ClassificationDataError(
                f"{len(keep)} confirmed goods descriptions over {len(set(kept_codes))} codes (seen at least "
                f"{self.min_examples} times); at least {MIN_TRAINING_ROWS} over 2 codes are needed. Record more "
                "inspection results (a compliant inspection confirms the declared code)",
                field="training_rows",
            )
        self.vectorizer_ = FeatureUnion(
            [
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(2, 5),
                        sublinear_tf=True,
                        min_df=1,
                        strip_accents="unicode",
                        lowercase=True,
                    ),
                ),
                (
                    "word",
                    TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode", lowercase=True),
                ),
            ]
        )
        x = self.vectorizer_.fit_transform([descriptions[i] for i in keep])
        self.classifier_ = SGDClassifier(
            loss="log_loss", alpha=self.alpha, max_iter=30, tol=1e-4, random_state=self.seed, n_jobs=1
        ).fit(x, kept_codes)
        self.classes_ = np.asarray(self.classifier_.classes_)
        self.class_counts_ = {str(c): int(counts[c]) for c in self.classes_}
        # The distinct confirmed descriptions and their codes: the nearest past declarations shown as evidence,
        # and how familiar a new description is (see :func:`combine`).
        memory = sorted({(descriptions[i].strip().lower(), codes[i]) for i in keep})
        self.memory_texts_ = [m[0] for m in memory]
        self.memory_codes_ = [m[1] for m in memory]
        self.memory_ = self.vectorizer_.transform(self.memory_texts_).T.tocsr()
        self.training_rows_ = len(keep)
        self.training_hash_ = hashlib.sha256(
            "\n".join(f"{d}\t{c}" for d, c in sorted(zip(descriptions, codes, strict=True))).encode()
        ).hexdigest()
        return self

    def predict_proba(self, descriptions: list[str]) -> np.ndarray:
        return np.asarray(self.classifier_.predict_proba(self.vectorizer_.transform(descriptions)))

    def nearest(self, descriptions: list[str], k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarity (0-1) to the ``k`` nearest confirmed descriptions, and their indices in
        ``memory_texts_``; shape (n, k) each."""
        x = self.vectorizer_.transform(descriptions)
        sims = np.asarray((x @ self.memory_).todense()) / 2  # two unit-length views side by side
        k = min(k, sims.shape[1])
        idx = np.argsort(-sims, axis=1)[:, :k]
        return np.take_along_axis(sims, idx, axis=1), idx

    # --- files -----------------------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        import sklearn

        payload = {
            "format": FORMAT,
            "scikit_learn": sklearn.__version__,
            "seed": self.seed,
            "alpha": self.alpha,
            "min_examples": self.min_examples,
            "vectorizer": self.vectorizer_,
            "classifier": self.classifier_,
            "class_counts": self.class_counts_,
            "memory_texts": self.memory_texts_,
            "memory_codes": self.memory_codes_,
            "memory": self.memory_,
            "training_rows": self.training_rows_,
            "training_hash": self.training_hash_,
        }
        return modelfile.dumps(payload)

    def save(self, path: str | Path) -> str:
        """Write the model file; returns its SHA-256 (checked before every load)."""
        return modelfile.write(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> DescriptionModel:
        import sklearn

        try:
            payload = modelfile.loads(data)
        except Exception as exc:
            raise ClassificationModelError(
                f"not an OpenCustoms HS model file ({exc.__class__.__name__}); train one with `opencustoms hs train`",
                field="model",
            ) from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT or not set(_KEYS) <= set(payload):
            raise ClassificationModelError(
                f"the model file is not in format {FORMAT!r}; retrain it with `opencustoms hs train`", field="model"
            )
        if str(payload["scikit_learn"]).split(".")[:2] != sklearn.__version__.split(".")[:2]:
            raise ClassificationModelError(
                f"the model was saved with scikit-learn {payload['scikit_learn']}, this installation has "
                f"{sklearn.__version__}; retrain it with `opencustoms hs train`",
                field="model",
            )
        model = cls(seed=payload["seed"], alpha=payload["alpha"], min_examples=payload["min_examples"])
        model.vectorizer_ = payload["vectorizer"]
        model.classifier_ = payload["classifier"]
        model.classes_ = np.asarray(model.classifier_.classes_)
        model.class_counts_ = payload["class_counts"]
        model.memory_texts_ = payload["memory_texts"]
        model.memory_codes_ = payload["memory_codes"]
        model.memory_ = payload["memory"]
        model.training_rows_ = payload["training_rows"]
        model.training_hash_ = payload["training_hash"]
        return model

    @classmethod
    def load(cls, path: str | Path, file_hash: str | None = None) -> DescriptionModel:
        remedy = "retrain with `opencustoms hs train`"
        return cls.from_bytes(modelfile.read_verified(path, file_hash, ClassificationModelError, remedy))


def combine(
    model_proba: np.ndarray,
    model_classes: np.ndarray,
    lexical_conf: np.ndarray,
    lexical_codes: np.ndarray,
    familiarity: np.ndarray,
    power: float = FAMILIARITY_POWER,
) -> tuple[np.ndarray, np.ndarray]:
    """One distribution over the lexical codes (every HS6): ``w × model + (1 − w) × lexical``, where the model's
    share ``w`` is the description's *familiarity* (cosine similarity to its nearest confirmed description, 0-1) to
    the power ``power``. A linear model is confidently wrong on wordings it never saw (its probabilities are
    normalised over the codes it knows), so how close the description is to the history decides whom to follow, not
    the model's own top probability (measured: docs/benchmarks.md). Returns (combined scores, ``w`` per row)."""
    index = {str(c): i for i, c in enumerate(lexical_codes)}
    columns = np.asarray([index.get(str(c), -1) for c in model_classes])
    known = columns >= 0
    share = np.clip(familiarity, 0.0, 1.0) ** power
    out = (1 - share)[:, None] * lexical_conf
    out[:, columns[known]] += share[:, None] * model_proba[:, known]
    return out, share
