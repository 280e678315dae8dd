"""The demo generator's output, pinned: the same seed gives the same declarations, byte for byte.

The expected digests were computed on the generator before its catalogue and tables moved from Python literals into
``opencustoms/demo/data/`` (issue #14); any change to the data files, their loading or the drawing order shows here.
When the generator is changed on purpose, recompute the digests and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from opencustoms.demo.generator import generate

# (seed, importing administration, fraud rate) -> SHA-256 over the first 2,000 declarations and their truth.
# NL is the default administration, US a non-EU one with its own currency, PL an EU member without its own
# address table (it takes the default one).
EXPECTED = {
    (0, "NL", 0.08): "acde68045d7d66ff650744cff800c3d0be0794c5fa6f3aa426051f0359626b0c",
    (7, "US", 0.08): "073ad9e561abb77eb94be0aa38a2be23b9dc69060303b2c3a6b8d88c64089d9d",
    (3, "PL", 0.3): "8308070cbc31415d5de81b484dd4adba88360a8992697738fee03325009b4013",
}


@pytest.mark.parametrize(("seed", "country", "fraud_rate"), list(EXPECTED))
def test_same_seed_gives_the_recorded_declarations(seed: int, country: str, fraud_rate: float) -> None:
    h = hashlib.sha256()
    for declaration, truth in generate(2000, seed=seed, country=country, fraud_rate=fraud_rate):
        h.update(json.dumps(declaration, sort_keys=True).encode())
        h.update(repr(truth).encode())
    assert h.hexdigest() == EXPECTED[(seed, country, fraud_rate)]
