"""C2SP signed notes and checkpoints, without a service: the format matches sumdb/note's own
example byte for byte, a checkpoint parses as a C2SP tlog-checkpoint with the key id the spec
defines, checkpoints signed before notes still verify, and consistency proofs check offline."""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit import note
from events import merkle
from audit import trail as tr
from audit.trail import Signer
from processors.notary import extend_and_sign

# The example of golang.org/x/mod/sumdb/note's package documentation: its signer key (the
# Ed25519 seed after the type byte), verifier key, text and signed message.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_MESSAGE = GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
AT = datetime(2026, 11, 21, 8, 0, tzinfo=timezone.utc)


def spec_key_id(name: str, public_key: bytes) -> str:
    """c2sp.org/signed-note, Ed25519: SHA-256(key name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\x0a" + b"\x01" + public_key).digest()[:4].hex()


def public(signer: Signer | Ed25519PrivateKey) -> bytes:
    return (signer if isinstance(signer, Signer) else Signer(signer)).public_key


def checkpoint(signer: Signer, leaves: int, origin: str = "govshare/test") -> tr.TrailCheckpointed:
    records = [tr.TrailRecord(tr.LeafKind.ACCEPTED, f"e{i}", i.to_bytes(4, "big")) for i in range(leaves)]
    return extend_and_sign(merkle.Frontier(), merkle.CHAIN_START, records, origin=origin, signer=signer, at=AT)


def test_the_go_example_signs_and_parses_byte_for_byte():
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(GO_SKEY.split("+", 4)[-1])[1:])
    name, public_key = note.parse_vkey(GO_VKEY)
    assert (name, public_key) == ("PeterNeumann", public(key))
    assert note.vkey(name, public_key) == GO_VKEY
    signed = note.SignedNote(GO_TEXT, (note.Signature(name, note.key_id(name, public_key),
                                                      key.sign(GO_TEXT.encode())),))
    assert signed.encode() == GO_MESSAGE
    assert note.parse(GO_MESSAGE) == signed


@pytest.mark.parametrize("name", ["", "has space", "a+b", "tab\there", "nbsp\u00a0"])
def test_a_key_name_has_no_spaces_or_plus(name):
    assert not note.valid_name(name)
    with pytest.raises(note.NoteError):
        note.key_id(name, bytes(32))


@pytest.mark.parametrize("message, why", [
    (GO_TEXT + "\u2014 PeterNeumann AAAA\n", "no blank line"),
    (GO_TEXT + "\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "em dash"),
    (GO_MESSAGE[:-1], "newline"),
    ("\x1b[31m" + GO_MESSAGE, "control"),
    (GO_TEXT + "\n\u2014 PeterNeumann AAAA\n", "<base64>"),
])
def test_a_malformed_note_is_refused(message, why):
    with pytest.raises(note.NoteError, match=why):
        note.parse(message)


def test_a_checkpoint_is_a_c2sp_tlog_checkpoint_in_a_signed_note():
    signer = Signer(Ed25519PrivateKey.generate())
    cp = checkpoint(signer, 5)
    text = tr.checkpoint_of(cp).signed_note()
    body, _, signatures = text.rpartition("\n\n")
    origin, size, root, *extensions = body.split("\n")
    assert (origin, int(size), base64.b64decode(root)) == ("govshare/test", 5, cp.root_hash)
    assert [line.split(" ")[0] for line in extensions] == ["chain", "time"]
    [line] = signatures.rstrip("\n").split("\n")
    dash, name, blob = line.split(" ")
    assert (dash, name) == ("\u2014", origin)
    blob = base64.b64decode(blob)
    assert blob[:4].hex() == spec_key_id(origin, signer.public_key) == cp.key_id
    Ed25519PublicKey.from_public_bytes(signer.public_key).verify(blob[4:], (body + "\n").encode())
    assert tr.checkpoint_of_text(text) == tr.checkpoint_of(cp)


def test_a_legacy_checkpoint_verifies_and_is_named_in_a_note_by_its_key():
    signer = Signer(Ed25519PrivateKey.generate())
    cp = checkpoint(signer, 3)
    legacy = tr.stored_checkpoint(cp.origin, tr.note_of(cp), tr.legacy_key_id(signer.public_key), cp.signature)
    assert len(legacy.signatures[0].key_id) == tr.LEGACY_KEY_ID_HEX
    bare = tr.Keys.of(signer.public_key)
    named = tr.Keys((tr.TrustedKey(signer.public_key, cp.origin),))
    assert bare.problem(legacy.body, legacy.signatures) is None
    assert named.problem(legacy.body, legacy.signatures) is None
    assert legacy.signed_note(named) == tr.checkpoint_of(cp).signed_note()
    with pytest.raises(ValueError, match="before C2SP notes"):
        legacy.signed_note()
    other = tr.Keys.of(public(Ed25519PrivateKey.generate()))
    assert "not the pinned key" in other.problem(legacy.body, legacy.signatures)


def test_a_key_pinned_by_name_matches_only_that_name():
    signer = Signer(Ed25519PrivateKey.generate())
    cp = tr.checkpoint_of(checkpoint(signer, 2, origin="govshare/a"))
    assert tr.Keys((tr.TrustedKey(signer.public_key, "govshare/a"),)).problem(cp.body, cp.signatures) is None
    assert tr.Keys((tr.TrustedKey(signer.public_key, "govshare/b"),)).problem(cp.body, cp.signatures)


def consistency_proof(old: tr.TrailCheckpointed, new: tr.TrailCheckpointed, leaves: list[bytes]) -> dict:
    return {"old_size": old.tree_size, "new_size": new.tree_size,
            "old_checkpoint": tr.checkpoint_of(old).signed_note(), "new_checkpoint": tr.checkpoint_of(new).signed_note(),
            "path": [base64.b64encode(h).decode() for h in merkle.consistency_path(old.tree_size, leaves)]}


def test_a_consistency_proof_checks_offline_and_a_fork_does_not():
    signer = Signer(Ed25519PrivateKey.generate())
    old, new = checkpoint(signer, 3), checkpoint(signer, 7)
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(7)]
    proof = consistency_proof(old, new, leaves)
    assert tr.check_consistency(proof, signer.public_key) == []
    # The same key signs a tree of 7 whose first record differs: no proof makes it extend the old.
    forked = [merkle.leaf_hash(b"rewritten")] + leaves[1:]
    fork = tr.stored_checkpoint(new.origin, tr.checkpoint_note(new.origin, 7, merkle.root(forked),
                                                              new.chain_head, AT), new.key_id, b"")
    fork = tr.stored_checkpoint(fork.origin, fork.body, fork.signatures[0].key_id, signer.sign(fork.body))
    lie = proof | {"new_checkpoint": fork.signed_note(),
                   "path": [base64.b64encode(h).decode() for h in merkle.consistency_path(3, forked)]}
    [problem] = tr.check_consistency(lie, signer.public_key)
    assert "forked or rewritten history" in problem
    [problem, *_] = tr.check_consistency(proof, public(Ed25519PrivateKey.generate()))
    assert "not the pinned key" in problem
    assert tr.check_consistency({"old_checkpoint": "nonsense"}, signer.public_key)[0].startswith(
        "not a consistency proof")
