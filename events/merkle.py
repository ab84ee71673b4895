"""The Merkle tree of RFC 9162 (Certificate Transparency v2), section 2.1, over SHA-256.

Leaves are hashed with a 0x00 prefix and interior nodes with 0x01, so no leaf can pass for a
node. The tree's head can be extended one leaf at a time from a compact frontier (the roots of
its perfect subtrees), which is what the notary keeps between checkpoints; audit paths follow
RFC 9162 section 2.1.3 so that any implementation of that algorithm checks govshare's proofs.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """One link of the hash chain: each record's hash commits to every record before it."""
    return hashlib.sha256(previous + leaf).digest()


CHAIN_START = bytes(HASH_SIZE)


class Frontier:
    """The roots of the perfect subtrees of a tree of `size` leaves, largest first.

    Appending a leaf merges equal-sized subtrees the way binary addition carries; the root is
    the right-to-left fold of the frontier, which equals RFC 9162's MTH for any size.
    """

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()):
        if len(nodes) != bin(size).count("1"):
            raise ValueError(f"a frontier of {size} leaves has {bin(size).count('1')} nodes, not {len(nodes)}")
        self.size, self.nodes = size, list(nodes)

    def append(self, leaf: bytes) -> None:
        node, size = leaf, self.size
        while size & 1:
            node = node_hash(self.nodes.pop(), node)
            size >>= 1
        self.nodes.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        node = self.nodes[-1]
        for left in reversed(self.nodes[:-1]):
            node = node_hash(left, node)
        return node

    def to_bytes(self) -> bytes:
        return b"".join(self.nodes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        return cls(size, [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def _split(n: int) -> int:
    """The largest power of two smaller than n (RFC 9162 section 2.1.1)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1, from the leaf's sibling up to the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    path: list[bytes] = []
    lo, hi = 0, len(leaves)
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(root(leaves[lo + k:hi]))
            hi = lo + k
        else:
            path.append(root(leaves[lo:lo + k]))
            lo += k
    path.reverse()
    return path


def all_paths(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root and every leaf's audit path (as `inclusion_path` gives one), in one pass:
    O(n log n) for a batch of n records, where n calls of `inclusion_path` would be O(n^2)."""
    if len(leaves) == 1:
        return leaves[0], [[]]
    k = _split(len(leaves))
    left, left_paths = all_paths(leaves[:k])
    right, right_paths = all_paths(leaves[k:])
    return node_hash(left, right), [p + [right] for p in left_paths] + [p + [left] for p in right_paths]


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    """The verification algorithm of RFC 9162 section 2.1.3.2, step by step."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
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
    return sn == 0 and r == expected_root


class ProvenTree:
    """The nodes of one tree already proven to hash up to its root (by the range of leaves each
    covers), so that the records of a batch, read one by one, each cost a hash or two rather
    than a whole audit path: a leaf whose hash is a proven node's is in the tree at that place.
    Sound because a node is kept only once the hashes above it reached a proven node (the root
    at first), and two different children cannot hash to one parent (SHA-256's collision
    resistance). The root itself must be vouched for by the caller (a signature over it)."""

    def __init__(self, size: int, root_hash: bytes):
        self.size = size
        self.nodes: dict[tuple[int, int], bytes] = {(0, size): root_hash}

    def includes(self, leaf: bytes, index: int, path: Sequence, decode: Callable[[Any], bytes] = bytes) -> bool:
        """Whether `leaf` is leaf `index` of the tree, given its audit path (RFC 9162 section
        2.1.3, leaf-side first); `decode` turns a path element into its hash, only for the
        elements the proof reaches (the rest of a path is never read)."""
        if not 0 <= index < self.size:
            return False
        # The ranges from the root down to the leaf: each level's own node and its sibling.
        levels, lo, hi = [], 0, self.size
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                levels.append((lo + k, hi))
                hi = lo + k
            else:
                levels.append((lo, lo + k))
                lo += k
        if len(path) != len(levels):
            return False
        node, own, learned = leaf, (index, index + 1), []
        for element, sibling in zip(path, reversed(levels)):
            proven = self.nodes.get(own)
            if proven is not None:
                if proven != node:
                    return False
                break
            try:
                other = decode(element)
            except ValueError:
                return False
            learned += ((own, node), (sibling, other))
            if sibling[0] < own[0]:
                node, own = node_hash(other, node), (sibling[0], own[1])
            else:
                node, own = node_hash(node, other), (own[0], sibling[1])
        else:
            if self.nodes.get(own) != node:
                return False
        self.nodes.update(learned)
        return True


def consistency_path(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1: the nodes that show the tree of `first`
    leaves is a prefix of the tree of all `leaves` (nothing in it was changed or removed)."""
    if not 0 < first <= len(leaves):
        raise ValueError(f"no consistency proof from {first} leaves to {len(leaves)}")
    return _subproof(first, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [root(leaves)]
    k = _split(n)
    if m <= k:
        return _subproof(m, leaves[:k], whole) + [root(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [root(leaves[:k])]


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       path: Sequence[bytes]) -> bool:
    """The verification algorithm of RFC 9162 section 2.1.4.2, step by step."""
    if first == second:
        return not path and first_root == second_root
    if not 0 < first < second or not path:
        return False
    path = list(path)
    if first & (first - 1) == 0:  # an exact power of two: its root is a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
