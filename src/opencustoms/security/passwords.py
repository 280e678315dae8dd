"""Staff passwords: the rules a new password must follow, and argon2id hashing (argon2-cffi).

Only hashes are stored (``user_passwords``, with the failure counters of the lockout); the database work and the
audit entries are in ``security.service`` (``set_password``, ``sign_in_with_password``). This module holds no
database code, so the CLI can check a password against the rules before opening anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from opencustoms.security.errors import UserError

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from opencustoms.config import Settings

MAX_LENGTH = 1024  # characters; hashing is costly enough without megabyte passwords

# A few passwords long enough to pass the length rule that every guessing list starts with.
COMMON = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "qwertyuiop12",
        "qwertyuiopasdf",
        "qwerty123456",
        "iloveyou1234",
        "welcome12345",
        "administrator",
        "opencustoms123",
        "changeme1234",
        "letmein12345",
        "aaaaaaaaaaaa",
        "abcdefghijkl",
        "abc123456789",
    }
)


@dataclass(frozen=True)
class PasswordRules:
    """What a new password must be: at least ``min_length`` characters (OPENCUSTOMS_PASSWORD_MIN_LENGTH), at most
    :data:`MAX_LENGTH`, not containing the username, not one of the commonest passwords."""

    min_length: int = 12

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordRules:
        return cls(min_length=settings.password_min_length)

    def check(self, password: str, username: str) -> None:
        """UserError (field ``password``) naming the first rule the password breaks."""
        if len(password) < self.min_length:
            raise UserError(
                f"the password breaks the rule min_length: it has {len(password)} characters, it needs at least "
                f"{self.min_length} (OPENCUSTOMS_PASSWORD_MIN_LENGTH); a few unrelated words make a long one",
                field="password",
            )
        if len(password) > MAX_LENGTH:
            raise UserError(
                f"the password breaks the rule max_length: at most {MAX_LENGTH} characters", field="password"
            )
        if password != password.strip():
            raise UserError(
                "the password breaks the rule no_outer_spaces: it starts or ends with a space (forms drop those)",
                field="password",
            )
        if username and username.lower() in password.lower():
            raise UserError(
                "the password breaks the rule not_username: it contains the username; choose another",
                field="password",
            )
        if password.lower() in COMMON or len(set(password)) < 4:
            raise UserError(
                "the password breaks the rule not_common: it is one of the first a guesser tries; choose another",
                field="password",
            )


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    return hasher().hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("not the password of anyone")


def verify(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``. Without a hash (an unknown user, a user without a password) a
    dummy hash is verified, so the answer takes as long as for a real user (no user enumeration by timing)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        matched = hasher().verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(matched) and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash was made with weaker parameters than today's (it is replaced at the next sign-in)."""
    return hasher().check_needs_rehash(password_hash)
