"""The one model-file reader of the pillars that learn: plain numpy / scikit-learn payloads load, a file that
would run code is refused, a file whose hash moved is refused naming the remedy."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from opencustoms import modelfile
from opencustoms.errors import OpenCustomsError


class _RunsCode:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("true",))


class _Evaluates:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (eval, ("1 + 1",))


def test_a_model_payload_round_trips(tmp_path: Path) -> None:
    fitted = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    payload = {"format": "x", "model": fitted, "codes": {"a", "b"}, "weights": np.arange(3.0)}
    digest = modelfile.write(tmp_path / "m.bin", modelfile.dumps(payload))
    loaded = modelfile.loads(modelfile.read_verified(tmp_path / "m.bin", digest, OpenCustomsError, "retrain"))
    assert loaded["codes"] == {"a", "b"} and list(loaded["model"].predict([[3.0]])) == [1]


@pytest.mark.parametrize("hostile", [_RunsCode(), _Evaluates()])
def test_a_file_that_would_run_code_is_refused(hostile: object) -> None:
    with pytest.raises(pickle.UnpicklingError):
        modelfile.loads(pickle.dumps({"format": "x", "model": hostile}))


def test_a_missing_or_altered_file_is_refused_with_the_remedy(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    with pytest.raises(OpenCustomsError, match="is missing; retrain") as missing:
        modelfile.read_verified(path, "0" * 64, OpenCustomsError, "retrain")
    assert missing.value.field == "model"
    digest = modelfile.write(path, modelfile.dumps({"format": "x"}))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(OpenCustomsError, match="altered or replaced — retrain"):
        modelfile.read_verified(path, digest, OpenCustomsError, "retrain")
