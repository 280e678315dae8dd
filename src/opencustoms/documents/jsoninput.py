"""Reading untrusted JSON (documents to verify, records to issue) without letting it crash the process.

CPython's JSON parser, ``json.dumps`` and pydantic recurse once per nesting level: a body nested 100,000 levels deep
exhausts the C stack (a segfault when a library has raised the recursion limit, a RecursionError and a 500
otherwise). So the nesting depth is measured on the raw bytes **before** parsing (opencustoms.jsondepth, at C speed:
(strings removed by one regular expression, brackets kept by ``bytes.translate``, the running depth by numpy), and a
document deeper than ``OPENCUSTOMS_DOCUMENTS_MAX_DEPTH`` (64 by default; wrapped OpenAttestation documents are about
six levels deep) is refused with the place where it goes too deep. Objects that arrive already parsed are measured
by an iterative walk (:func:`check_value_depth`), never by recursion.

Everything else JSON can carry that a verifier cannot use is refused here too, with the field: text that is not
UTF-8, malformed JSON, ``NaN`` / ``Infinity`` (not JSON, though Python's parser accepts them), and a key given twice
in one object (parsers disagree on which value wins, so two verifiers could read two different documents).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from opencustoms.documents.errors import DocumentFormatError, DocumentTooDeepError
from opencustoms.jsondepth import too_deep

DEFAULT_MAX_DEPTH = 64
_LEAVES = frozenset({str, int, float, bool, type(None)})
# a JSON string (or an unterminated one: never backtracks, as in opencustoms.jsondepth), or one structural character
_TOKEN = re.compile(rb'"(?:[^"\\]+|\\.)*(?:"|\\?\Z)|[\[\]{},:]', re.DOTALL)


def _depth_error(limit: int, path: list[str], where: str, what: str = "the document") -> DocumentFormatError:
    shown = ".".join(path[:12]) + (" …" if len(path) > 12 else "")
    return DocumentTooDeepError(
        f"{what} is nested deeper than {limit} levels ({where}{', under ' + shown if shown else ''}); wrapped "
        "OpenAttestation documents and the records to issue are a few levels deep: send the file unchanged "
        "(the limit is OPENCUSTOMS_DOCUMENTS_MAX_DEPTH)",
        field=shown or "document",
    )


def _deep_path(raw: bytes, limit: int) -> tuple[int, list[str]]:
    """Where the text first goes deeper than ``limit``: its byte offset and the keys / indices leading there.
    Only run on the refusal path (a token loop in Python)."""
    stack: list[list[Any]] = []  # per open container: its kind and the key or index being read
    last_string = b'""'
    for match in _TOKEN.finditer(raw):
        token = match.group()
        first = token[:1]
        if first == b'"':
            last_string = token
        elif first == b":":
            if stack and stack[-1][0] == "{":
                try:
                    stack[-1][1] = str(json.loads(last_string))
                except ValueError:
                    stack[-1][1] = last_string.decode("utf-8", "replace").strip('"')
        elif first == b",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
        elif first in (b"[", b"{"):
            stack.append(["[", 0] if first == b"[" else ["{", "?"])
            if len(stack) > limit:
                return match.start(), [str(entry[1]) for entry in stack[:-1]]
        elif stack:
            stack.pop()
    return len(raw), [str(entry[1]) for entry in stack]


def check_raw_depth(raw: bytes | str, limit: int = DEFAULT_MAX_DEPTH, what: str = "the document") -> None:
    """Refuse JSON text nested deeper than ``limit`` levels, without parsing it."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if too_deep(data, limit):
        offset, path = _deep_path(data, limit)
        raise _depth_error(limit, path, f"at byte {offset}", what)


def _exceeds(node: dict[str, Any] | list[Any], remaining: int) -> bool:
    """Whether a container holds containers more than ``remaining`` levels below it. Recursion bounded by the
    limit (at most 200 levels, see the setting), never by the data."""
    children = node.values() if type(node) is dict else node
    if _LEAVES.issuperset(map(type, children)):  # most containers hold only text and numbers: no Python loop
        return False
    for child in children:
        if isinstance(child, dict | list) and (remaining == 0 or _exceeds(child, remaining - 1)):
            return True
    return False


def check_value_depth(value: Any, limit: int = DEFAULT_MAX_DEPTH) -> None:
    """Refuse a parsed value (dicts and lists) nested deeper than ``limit`` levels."""
    if not isinstance(value, dict | list) or not _exceeds(value, limit - 1):
        return
    # refused: find where, by an iterative walk that also records the path
    stack: list[tuple[Any, int, list[str]]] = [(value, 1, [])]
    while stack:
        node, depth, path = stack.pop()
        if depth > limit:
            raise _depth_error(limit, path, "in the data given")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1, [*path, str(key)] if depth <= 12 else path))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise DocumentFormatError(
            f"the key {twice[:100]!r} appears twice in one object; JSON readers disagree on which value counts, so "
            "such a document cannot be verified: send the document's .json file unchanged",
            field=twice[:100],
        )
    return out


def _no_constant(name: str) -> Any:
    raise DocumentFormatError(
        f"{name} is not a JSON number (JSON has no NaN or Infinity); send the document's .json file unchanged",
        field="document",
    )


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise DocumentFormatError(
            f"the number {text[:40]} is too large for a JSON reader (it overflows to infinity)", field="document"
        )
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise DocumentFormatError(
            f"a number with {len(text)} digits cannot be read; write identifiers as strings", field="document"
        ) from exc


def loads(raw: bytes | str, limit: int = DEFAULT_MAX_DEPTH, what: str = "the document") -> Any:
    """Parse untrusted JSON text: depth checked on the raw text first; not UTF-8, malformed JSON, NaN/Infinity and
    duplicate keys are refused with :class:`DocumentFormatError`."""
    check_raw_depth(raw, limit, what)
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise DocumentFormatError(
            f"{what} is not UTF-8 text (byte {exc.start} cannot be read); send the .json file as it was issued",
            field="document",
        ) from exc
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_no_constant,
            parse_float=_float,
            parse_int=_int,
        )
    except json.JSONDecodeError as exc:
        raise DocumentFormatError(
            f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; send {what} unchanged",
            field="document",
        ) from exc
    except RecursionError as exc:  # pragma: no cover - the depth check above refuses such text first
        raise _depth_error(limit, [], "while reading", what) from exc
