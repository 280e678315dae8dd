"""Pseudonymisation: a keyed HMAC-SHA256 of an identifier with a per-installation secret.

A plain hash of a trader number is reversed by hashing every possible number (a dictionary attack); a keyed hash
is not, as long as the key stays secret. The same identifier always gives the same pseudonym within one
installation, so analytics can count, join and learn on pseudonyms without seeing who is behind them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from opencustoms.config import Settings
from opencustoms.errors import ConfigurationError

PREFIX = "p_"
KEY_FILE = "pseudonym.key"
_PATTERN = re.compile(PREFIX + "[0-9a-f]{24}")


def load_key(settings: Settings) -> bytes:
    """The installation's secret: OPENCUSTOMS_PSEUDONYM_KEY, or <data_dir>/pseudonym.key created once (0600)."""
    if settings.pseudonym_key:
        if len(settings.pseudonym_key) < 32:
            raise ConfigurationError(
                "OPENCUSTOMS_PSEUDONYM_KEY is shorter than 32 characters; use e.g. `python -c "
                '"import secrets; print(secrets.token_hex(32))"`'
            )
        return settings.pseudonym_key.encode()
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


class Pseudonymiser:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ConfigurationError("the pseudonymisation key must be at least 16 bytes")
        self._key = key

    def __call__(self, identifier: str) -> str:
        digest = hmac.new(self._key, identifier.encode("utf-8"), hashlib.sha256).hexdigest()
        return PREFIX + digest[:24]


def pseudonymise(identifier: str, key: bytes) -> str:
    """The pseudonym of ``identifier`` under ``key`` ('p_' + 24 hex digits of HMAC-SHA256)."""
    return Pseudonymiser(key)(identifier)


def is_pseudonym(text: str) -> bool:
    """Whether ``text`` has the form of a pseudonym ('p_' + 24 hex digits)."""
    return _PATTERN.fullmatch(text) is not None


def identifiers_with(pseudonym: str, identifiers: Iterable[str], pseudonymise: Callable[[str], str]) -> tuple[str, ...]:
    """The ``identifiers`` whose pseudonym is ``pseudonym``: a keyed hash cannot be inverted, so each is hashed and
    compared (about a million a second). A reader searching by pseudonym is answered this way, never by the
    identifier itself."""
    return tuple(i for i in identifiers if pseudonymise(i) == pseudonym)
