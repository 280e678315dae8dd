"""RFC 9162 conformance: the reference tree of RFC 6962 implementations (the vectors published with
transparency-dev/merkle and google/certificate-transparency), plus properties over every (m, n) up to 64."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencustoms.ledger import merkle
from opencustoms.ledger.errors import ProofError

LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def h(x: str) -> bytes:
    return bytes.fromhex(x)


# (leaf index, tree size, proof): 0-based indexes (the Go vectors number leaves from 1).
INCLUSION = [
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (0, 1, []),
]

CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

LEAF_HASHES = [merkle.leaf_hash(x) for x in LEAVES]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def test_empty_tree_is_sha256_of_nothing() -> None:
    assert merkle.root_of([]) == merkle.EMPTY_ROOT == hashlib.sha256(b"").digest() == ROOTS[0]


@pytest.mark.parametrize("size", range(0, 9))
def test_reference_roots(size: int) -> None:
    assert merkle.root_of(LEAF_HASHES[:size]) == ROOTS[size]


def test_split_is_the_largest_power_of_two_below_n_not_the_midpoint() -> None:
    assert [merkle.split_point(n) for n in (2, 3, 4, 5, 6, 7, 8, 9, 1000)] == [1, 2, 2, 4, 4, 4, 4, 8, 512]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_reference_inclusion_proofs_are_generated_and_verify(index: int, size: int, proof: list[bytes]) -> None:
    assert merkle.inclusion_proof(LEAF_HASHES, index, size) == proof
    merkle.verify_inclusion(index, size, LEAF_HASHES[index], proof, ROOTS[size])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_reference_consistency_proofs_are_generated_and_verify(first: int, second: int, proof: list[bytes]) -> None:
    assert merkle.consistency_proof(LEAF_HASHES, first, second) == proof
    merkle.verify_consistency(first, second, proof, ROOTS[first], ROOTS[second])


def _corrupt_inclusion(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes):  # type: ignore[no-untyped-def]
    """The probes of transparency-dev/merkle's verify_test.go: each must be rejected."""
    probes = [
        (index - 1, size, root, leaf, proof),
        (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof),
        (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof),
        (index, size, root, b"WrongLeaf", proof),
        (index, size, ROOTS[0], leaf, proof),
        (index, size, SOME_HASH, leaf, proof),
        (index, size, root, leaf, [*proof, b""]),
        (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]),
        (index, size, root, leaf, [root, *proof]),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        probes.append((index, size, root, leaf, wrong))
    if proof:
        probes.append((index, size, root, leaf, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [proof[0], SOME_HASH, *proof[1:]]))
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION[:4])
def test_corrupted_inclusion_proofs_are_rejected(index: int, size: int, proof: list[bytes]) -> None:
    for i, s, root, leaf, p in _corrupt_inclusion(index, size, proof, ROOTS[size], LEAF_HASHES[index]):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(i, s, leaf, p, root)


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY[1:])
def test_corrupted_consistency_proofs_are_rejected(first: int, second: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[first], ROOTS[second]
    probes = [
        (first - 1, second, r1, r2, proof),
        (first + 1, second, r1, r2, proof),
        (first ^ 2, second, r1, r2, proof),
        (first, second * 2, r1, r2, proof),
        (first, second // 2, r1, r2, proof),
        (first, second, b"WrongRoot", r2, proof),
        (first, second, r1, b"WrongRoot", proof),
        (first, second, r2, r1, proof),
        (first, second, r1, r2, []),
        (first, second, r1, r2, [*proof, b""]),
        (first, second, r1, r2, [*proof, r1]),
        (first, second, r1, r2, [*proof, r2]),
        (first, second, r1, r2, [b"", *proof]),
        (first, second, r1, r2, [r1, *proof]),
        (first, second, r1, r2, [r2, *proof]),
        (first, second, r1, r2, [proof[0], *proof]),
        (first, second, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        probes.append((first, second, r1, r2, wrong))
    for f, s, a, b, p in probes:
        with pytest.raises(ProofError):
            merkle.verify_consistency(f, s, p, a, b)


def test_trivial_consistency_cases() -> None:
    merkle.verify_consistency(1, 1, [], ROOTS[1], ROOTS[1])
    merkle.verify_consistency(5, 5, [], ROOTS[5], ROOTS[5])
    with pytest.raises(ProofError, match="back in time"):
        merkle.verify_consistency(2, 1, [], ROOTS[2], ROOTS[1])
    with pytest.raises(ProofError, match="forked"):
        merkle.verify_consistency(3, 3, [], ROOTS[3], ROOTS[4])
    with pytest.raises(ProofError, match="must be empty"):
        merkle.verify_consistency(3, 3, [ROOTS[0]], ROOTS[3], ROOTS[3])


def test_size_0_is_not_a_valid_first_size() -> None:
    """RFC 9162, 2.1.4: PROOF(m, D[n]) is defined for 0 < m, and its verifier fails an empty proof; an empty proof
    proves only first == second > 0 (with equal roots)."""
    for second in (0, 1, 5, 8):
        for proof in ([], [ROOTS[second]]):
            with pytest.raises(ProofError, match="size 0 is not a valid first size") as refused:
                merkle.verify_consistency(0, second, proof, ROOTS[0], ROOTS[second])
            assert refused.value.field == "first"
    with pytest.raises(ProofError, match="empty consistency proof cannot link size 1 to size 5"):
        merkle.verify_consistency(1, 5, [], ROOTS[1], ROOTS[5])


def test_inclusion_outside_the_tree_is_rejected() -> None:
    for index, size in ((0, 0), (1, 1), (2, 1)):
        with pytest.raises(ProofError, match="outside"):
            merkle.verify_inclusion(index, size, SOME_HASH, [], ROOTS[0])


TREE64 = [merkle.leaf_hash(i.to_bytes(2, "big") * (i % 5)) for i in range(64)]
ROOTS64 = [merkle.root_of(TREE64[:n]) for n in range(65)]


def test_frontier_roots_match_the_recursive_definition() -> None:
    def mth(leaves: list[bytes]) -> bytes:
        if len(leaves) == 1:
            return leaves[0]
        k = merkle.split_point(len(leaves))
        return merkle.node_hash(mth(leaves[:k]), mth(leaves[k:]))

    for n in range(1, 65):
        assert ROOTS64[n] == mth(TREE64[:n])


def test_every_inclusion_proof_up_to_64_verifies() -> None:
    for n in range(1, 65):
        for m in range(n):
            proof = merkle.inclusion_proof(TREE64, m, n)
            merkle.verify_inclusion(m, n, TREE64[m], proof, ROOTS64[n])


def test_every_consistency_proof_up_to_64_verifies() -> None:
    for n in range(1, 65):
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(TREE64, m, n)
            merkle.verify_consistency(m, n, proof, ROOTS64[m], ROOTS64[n])


@settings(max_examples=300)
@given(n=st.integers(2, 64), data=st.data())
def test_tampering_any_inclusion_node_fails(n: int, data: st.DataObject) -> None:
    m = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(TREE64, m, n)
    if not proof:
        return
    i = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    tampered = list(proof)
    tampered[i] = bytearray(tampered[i])
    tampered[i][bit // 8] ^= 1 << (bit % 8)
    tampered[i] = bytes(tampered[i])
    with pytest.raises(ProofError):
        merkle.verify_inclusion(m, n, TREE64[m], tampered, ROOTS64[n])
    other = data.draw(st.integers(0, n - 1).filter(lambda x: x != m))
    with pytest.raises(ProofError):
        merkle.verify_inclusion(other, n, TREE64[m], proof, ROOTS64[n])


@settings(max_examples=300)
@given(n=st.integers(2, 64), data=st.data())
def test_tampering_any_consistency_node_fails(n: int, data: st.DataObject) -> None:
    m = data.draw(st.integers(1, n - 1))
    proof = merkle.consistency_proof(TREE64, m, n)
    i = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    tampered = [bytearray(p) for p in proof]
    tampered[i][bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, [bytes(p) for p in tampered], ROOTS64[m], ROOTS64[n])
    # A different history of the first m entries is caught too.
    forged = list(TREE64[:n])
    j = data.draw(st.integers(0, m - 1))
    forged[j] = merkle.leaf_hash(b"rewritten")
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, merkle.consistency_proof(forged, m, n), ROOTS64[m], merkle.root_of(forged))


def test_frontier_reports_each_completed_perfect_subtree() -> None:
    frontier = merkle.Frontier()
    stored: dict[tuple[int, int], bytes] = {}
    for leaf in TREE64[:13]:
        for level, index, digest in frontier.append(leaf):
            stored[(level, index)] = digest
    assert frontier.root() == ROOTS64[13]
    assert stored[(3, 0)] == ROOTS64[8] and stored[(2, 2)] == merkle.root_of(TREE64[8:12])
    assert (2, 3) not in stored  # 12..15 is not complete at 13 leaves
    rebuilt = merkle.Frontier(13, [stored[n] for n in merkle.Frontier.nodes_for(13)])
    assert rebuilt.root() == ROOTS64[13]
    # proofs from the stored nodes alone equal the in-memory proofs
    proof = merkle.hashes_of(merkle.inclusion_ranges(9, 13), lambda ns: {n: stored[n] for n in ns})
    assert proof == merkle.inclusion_proof(TREE64, 9, 13)
