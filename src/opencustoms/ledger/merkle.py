"""RFC 9162 Merkle trees: tree heads, inclusion and consistency proofs, and their independent verifiers.

Hashes are SHA-256; a leaf hashes as ``H(0x00 || data)``, an interior node as ``H(0x01 || left || right)``, and a
tree of ``n > 1`` leaves splits at ``k``, the largest power of two smaller than ``n`` (RFC 9162, section 2.1.1).

Proofs are built from *perfect subtrees*: the node ``(level, index)`` is the root of the ``2**level`` leaves starting
at ``index * 2**level``. Every proof element is the hash of a range ``[start, end)`` of leaves, and every such range
is a few perfect subtrees folded right to left (``perfect_cover``). A log stores each perfect subtree's hash once,
when it becomes complete (``Frontier.append``), so any proof costs one look-up of ``O(log n)`` stored hashes and
``O(log n)`` hashing, whatever the size of the log.

The verifiers (``verify_inclusion``, ``verify_consistency``) need only the leaf hash, the proof, the sizes and the
roots: they are the RFC's algorithms (sections 2.1.3.2 and 2.1.4.2), written so a partner can run them with nothing
but this file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from opencustoms.ledger.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]
Node = tuple[int, int]  # (level, index) of a perfect subtree


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): where RFC 9162 splits a tree of n leaves."""
    if n < 2:
        raise ValueError(f"a tree of {n} leaves does not split")
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the leaf hashes (a stack of perfect subtrees, folded right to left at the end)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    frontier = Frontier()
    for h in leaf_hashes:
        frontier.append(h)
    return frontier.root()


# --- which ranges a proof is made of --------------------------------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose hashes form PATH(index, D[size]), in proof order (deepest first)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} entries", field="index")
    out: list[Range] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = split_point(end - start)
        if m < k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m = start + k, m - k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The leaf ranges whose hashes form PROOF(first, D[second]) (RFC 9162 SUBPROOF), in proof order. A first
    size of 0 gives no ranges: nodes before this version ask for it when they hold nothing yet, and an empty proof
    proves nothing (``verify_consistency`` refuses size 0; this node never asks for it)."""
    if not 0 <= first <= second:
        raise ProofError(
            f"no consistency proof from size {first} to size {second}: the first size must be between 0 and the second",
            field="first",
        )
    if first == 0 or first == second:
        return []
    out: list[Range] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        out.append((start, end))
    out.reverse()
    return out


def perfect_cover(start: int, end: int) -> list[Node]:
    """The perfect subtrees, left to right, that make up the RFC subtree over leaves [start, end)."""
    out: list[Node] = []
    while start < end:
        size = end - start
        k = size if size & (size - 1) == 0 else split_point(size)
        level = k.bit_length() - 1
        out.append((level, start >> level))
        start += k
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine perfect subtree hashes (left to right, as ``perfect_cover`` lists them) into their subtree's hash."""
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def hashes_of(ranges: Iterable[Range], lookup: Callable[[list[Node]], dict[Node, bytes]]) -> list[bytes]:
    """The hash of each range, from one ``lookup`` of every perfect subtree needed."""
    covers = [perfect_cover(a, b) for a, b in ranges]
    found = lookup(sorted({n for cover in covers for n in cover}))
    try:
        return [fold([found[n] for n in cover]) for cover in covers]
    except KeyError as exc:
        raise ProofError(f"the node store has no hash for subtree {exc.args[0]}; the tree is incomplete") from exc


def memory_lookup(leaf_hashes: Sequence[bytes]) -> Callable[[list[Node]], dict[Node, bytes]]:
    """A ``lookup`` over leaf hashes held in memory (computes each perfect subtree: for tests and small trees)."""

    def lookup(nodes: list[Node]) -> dict[Node, bytes]:
        out = {}
        for level, index in nodes:
            start = index << level
            chunk = leaf_hashes[start : start + (1 << level)]
            if len(chunk) != 1 << level:
                raise ProofError(f"subtree ({level}, {index}) is not complete in a tree of {len(leaf_hashes)}")
            out[(level, index)] = root_of(chunk)
        return out

    return lookup


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    size = len(leaf_hashes) if size is None else size
    return hashes_of(inclusion_ranges(index, size), memory_lookup(leaf_hashes[:size]))


def consistency_proof(leaf_hashes: Sequence[bytes], first: int, second: int | None = None) -> list[bytes]:
    second = len(leaf_hashes) if second is None else second
    return hashes_of(consistency_ranges(first, second), memory_lookup(leaf_hashes[:second]))


# --- appending ------------------------------------------------------------------------------------------------------


class Frontier:
    """The right edge of a tree: the hashes of the perfect subtrees that make up its ``size`` leaves (one per set
    bit of ``size``, largest first). Appending a leaf returns every perfect subtree it completes, to be stored."""

    __slots__ = ("size", "hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} hashes, not {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)

    @staticmethod
    def nodes_for(size: int) -> list[Node]:
        """The perfect subtrees whose hashes make up the frontier of a tree of ``size`` leaves."""
        return perfect_cover(0, size) if size else []

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        index, level, h = self.size, 0, leaf
        completed = [(0, index, h)]
        while index & 1:
            h = node_hash(self.hashes.pop(), h)
            index >>= 1
            level += 1
            completed.append((level, index, h))
        self.hashes.append(h)
        self.size += 1
        return completed

    def root(self) -> bytes:
        return fold(self.hashes) if self.hashes else EMPTY_ROOT


# --- verifiers (RFC 9162 2.1.3.2 and 2.1.4.2) ------------------------------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte SHA-256 hash", field=what)


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from the leaf hash ``leaf`` at ``index`` in a tree of ``size``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} entries", field="index")
    _check_hash(leaf, "leaf_hash")
    fn, sn, r = index, size - 1, leaf
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")
        if sn == 0:
            raise ProofError(f"the inclusion proof is too long for leaf {index} of {size}", field="proof")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"the inclusion proof is too short for leaf {index} of {size}", field="proof")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree of ``size`` with
    ``root``."""
    _check_hash(root, "root")
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(
            f"the inclusion proof of leaf {index} does not lead to the root of the tree of {size}", field="proof"
        )


def verify_consistency(first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes) -> None:
    """Raise ProofError unless ``proof`` shows the tree (second, second_root) extends (first, first_root).

    RFC 9162 defines a consistency proof for ``0 < first <= second`` only (section 2.1.4.1: PROOF(m, D[n]) for
    0 < m < n; m = n is the empty proof of SUBPROOF(m, D[m], true)), and its verifier (2.1.4.2) fails an empty
    proof for first < second. A first size of 0 is refused: the empty tree is a prefix of every tree, so there is
    nothing to prove, and a caller holding no entries must check the entries it fetches against the second root
    instead (as ``partners.pull`` does). An empty proof is accepted only for ``first == second > 0`` with equal
    roots."""
    if first < 0 or second < first:
        raise ProofError(
            f"a tree of {second} entries cannot extend one of {first}: the log went back in time", field="second"
        )
    if first == 0:
        raise ProofError(
            "size 0 is not a valid first size for a consistency proof (RFC 9162, 2.1.4): the empty tree is a prefix "
            f"of every tree; check the {second} entries against the root of size {second} instead",
            field="first",
        )
    _check_hash(first_root, "first_root")
    _check_hash(second_root, "second_root")
    if first == second:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty", field="proof")
        if first_root != second_root:
            raise ProofError(f"two different roots for the same size {first}: the log forked", field="second_root")
        return
    if not proof:
        raise ProofError(f"an empty consistency proof cannot link size {first} to size {second}", field="proof")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"the consistency proof from {first} to {second} is too long", field="proof")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"the consistency proof from {first} to {second} is too short", field="proof")
    if fr != first_root:
        raise ProofError(
            f"the consistency proof does not lead to the root held for size {first}: the log's history changed",
            field="first_root",
        )
    if sr != second_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {second}", field="second_root")
