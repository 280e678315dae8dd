"""The session cookie: encrypted and authenticated, refused when altered, sealed with another key or expired."""

from __future__ import annotations

import time

from opencustoms.web.session import MAX_AGE_S, Session, derive_key, seal, unseal

KEY = derive_key(b"k" * 32)


def test_round_trip_and_refusals() -> None:
    session = Session(token="oc_secret", lang="fr")
    sealed = seal(session, KEY)
    assert "oc_secret" not in sealed  # encrypted, not only signed
    opened = unseal(sealed, KEY)
    assert opened is not None and opened.token == "oc_secret" and opened.lang == "fr" and opened.csrf == session.csrf
    tampered = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]
    assert unseal(tampered, KEY) is None
    assert unseal(sealed, derive_key(b"other-key" * 4)) is None
    assert unseal(sealed, KEY, now=time.time() + MAX_AGE_S + 1) is None
    assert unseal("not base64 at all!", KEY) is None and unseal(None, KEY) is None


def test_login_rotates_the_csrf_token() -> None:
    session = Session()
    before = session.csrf
    session.login("oc_x")
    assert session.csrf != before and session.check_csrf(session.csrf) and not session.check_csrf(before)
    assert not session.check_csrf("") and not session.check_csrf(None)
