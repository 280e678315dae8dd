"""How deep a JSON text nests, measured without parsing it.

CPython's JSON parser, ``json.dumps`` and pydantic recurse once per nesting level: a text nested 100,000 levels deep
exhausts the stack (a RecursionError, or a segfault where a library raised the recursion limit). Every reader of
untrusted JSON — documents to verify, device payloads over MQTT and HTTP, declarations in JSON Lines — measures the
depth first with :func:`too_deep` and refuses a text deeper than its documented limit, before any parser sees it.
The scan runs at C speed: strings removed by one regular expression, brackets kept by ``bytes.translate``, the
running depth by numpy; a text with fewer brackets than the limit (most of them) is not scanned at all.
"""

from __future__ import annotations

import re

# a JSON string, or an unterminated one running to the end of the input: the pattern always matches at a quote, so
# the scan never backtracks (an unterminated string cannot make it quadratic)
_STRING = re.compile(rb'"(?:[^"\\]+|\\.)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1 opens, -1 closes


def _bytes(text: bytes | str) -> bytes:
    return text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text


def nesting_depth(text: bytes | str) -> int:
    """The deepest nesting of ``[`` and ``{`` outside strings (0 for a bare value), balanced or not."""
    brackets = _STRING.sub(b"", _bytes(text)).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    import numpy as np

    steps = np.frombuffer(brackets.translate(_STEPS), dtype=np.int8)
    return int(np.cumsum(steps, dtype=np.int64).max())


def too_deep(text: bytes | str, limit: int) -> bool:
    """Whether the text opens more than ``limit`` arrays / objects inside one another."""
    data = _bytes(text)
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    return nesting_depth(data) > limit
