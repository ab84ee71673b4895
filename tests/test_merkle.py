"""The Merkle tree and audit paths follow RFC 9162, checked against the Certificate
Transparency reference roots; the checkpoint note and signature check."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events import merkle
from audit import trail as tr
from audit.trail import Signer
from processors.notary import extend_and_sign

# The leaves and roots of the Certificate Transparency reference test vectors (RFC 6962 trees;
# RFC 9162 hashes trees the same way).
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
             bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
LEAVES = [merkle.leaf_hash(d) for d in CT_LEAVES]


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_certificate_transparency_reference(size):
    assert merkle.root(LEAVES[:size]).hex() == CT_ROOTS[size - 1]


def test_an_empty_tree_is_the_hash_of_nothing():
    assert merkle.root([]) == hashlib.sha256(b"").digest()


def test_the_frontier_survives_storage_and_keeps_growing_to_the_same_root():
    frontier = merkle.Frontier()
    for leaf in LEAVES[:5]:
        frontier.append(leaf)
    restored = merkle.Frontier.from_bytes(frontier.size, frontier.to_bytes())
    for leaf in LEAVES[5:]:
        restored.append(leaf)
    assert restored.root().hex() == CT_ROOTS[-1]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 64, 100])
def test_every_leaf_s_audit_path_leads_to_the_root_and_no_other_leaf_s_does(size):
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    root = merkle.root(leaves)
    for index in range(size):
        path = merkle.inclusion_path(index, leaves)
        assert merkle.verify_inclusion(leaves[index], index, size, path, root)
        assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, size, path, root)
        if size > 1:
            assert not merkle.verify_inclusion(leaves[index], (index + 1) % size, size, path, root)
    assert not merkle.verify_inclusion(leaves[0], size, size, [], root)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 64, 100])
@pytest.mark.parametrize("order", ["in order", "reversed", "shuffled"])
def test_a_proven_tree_answers_as_the_audit_path_does_in_any_order_of_its_leaves(size, order):
    """ProvenTree checks a batch's records with the nodes earlier records proved: the same
    answers as a whole audit path each time, for the true leaf, a forged one, and a true leaf
    given another's place, before and after the rest of the tree is learned."""
    import random
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    root = merkle.root(leaves)
    indices = list(range(size))
    if order == "reversed":
        indices.reverse()
    elif order == "shuffled":
        random.Random(size).shuffle(indices)
    tree = merkle.ProvenTree(size, root)
    for index in indices:
        path = merkle.inclusion_path(index, leaves)
        assert not tree.includes(merkle.leaf_hash(b"forged"), index, path)
        if size > 1:
            other = (index + 1) % size
            assert not tree.includes(leaves[index], other, merkle.inclusion_path(other, leaves))
            assert not tree.includes(leaves[index], other, path)
        assert tree.includes(leaves[index], index, path)
    for index in range(size):  # every node known now: each answer from what was proven
        path = merkle.inclusion_path(index, leaves)
        assert tree.includes(leaves[index], index, path)
        assert not tree.includes(merkle.leaf_hash(b"forged"), index, path)
        if size > 1:
            assert not tree.includes(leaves[(index + 1) % size], index, path)
    assert not tree.includes(leaves[0], size, [])


def test_a_proven_tree_learns_nothing_from_a_path_that_fails():
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(8)]
    tree = merkle.ProvenTree(8, merkle.root(leaves))
    forged = [merkle.leaf_hash(b"x")] + merkle.inclusion_path(3, leaves)[1:]
    assert not tree.includes(leaves[3], 3, forged)
    assert list(tree.nodes) == [(0, 8)]

    def decode(text: bytes) -> bytes:
        if text == b"?":
            raise ValueError("not base64")
        return text
    assert not tree.includes(leaves[3], 3, [b"?"] * 3, decode=decode)
    assert tree.includes(leaves[3], 3, merkle.inclusion_path(3, leaves), decode=decode)


def test_a_checkpoint_verifies_only_with_its_key_and_its_exact_note():
    signer = Signer(Ed25519PrivateKey.generate())
    at = datetime(2026, 11, 21, 8, 0, tzinfo=timezone.utc)
    records = [tr.TrailRecord(tr.LeafKind.ACCEPTED, f"e{i}", CT_LEAVES[i]) for i in range(8)]
    cp = extend_and_sign(merkle.Frontier(), merkle.CHAIN_START, records, origin="govshare/test",
                         signer=signer, at=at)
    assert cp.root_hash.hex() == CT_ROOTS[-1] and cp.tree_size == 8
    assert tr.signature_valid(signer.public_key, tr.note_of(cp), cp.signature)
    assert tr.parse_note(tr.note_of(cp))["root_hash"] == cp.root_hash
    other = Signer(Ed25519PrivateKey.generate())
    assert not tr.signature_valid(other.public_key, tr.note_of(cp), cp.signature)
    moved = tr.checkpoint_note(cp.origin, 7, cp.root_hash, cp.chain_head, at)
    assert not tr.signature_valid(signer.public_key, moved, cp.signature)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 16, 17, 33])
def test_every_consistency_proof_verifies_and_any_change_before_it_fails(n):
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    new_root = merkle.root(leaves)
    for m in range(1, n + 1):
        old_root = merkle.root(leaves[:m])
        path = merkle.consistency_path(m, leaves)
        assert merkle.verify_consistency(m, n, old_root, new_root, path), (m, n)
        # The old tree rewritten at any leaf is no prefix of the new one.
        for changed in {0, m - 1}:
            forged = list(leaves)
            forged[changed] = merkle.leaf_hash(b"forged")
            assert not merkle.verify_consistency(m, n, merkle.root(forged[:m]), new_root, path)
        if path:
            bent = [bytes(32)] + path[1:]
            assert not merkle.verify_consistency(m, n, old_root, new_root, bent)
        assert not merkle.verify_consistency(m, n, old_root, merkle.leaf_hash(b"another tree"), path)


def test_a_consistency_proof_has_rfc_9162_s_length():
    # RFC 9162 section 2.1.4.3: in a tree of seven leaves, PROOF(3) is [c, d, g, l], PROOF(4) is
    # [l] and PROOF(6) is [i, j, k].
    expected = {3: 4, 4: 1, 6: 3}
    for m, length in expected.items():
        assert len(merkle.consistency_path(m, LEAVES[:7])) == length
