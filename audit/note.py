"""C2SP signed notes (https://c2sp.org/signed-note), Ed25519 keys only: the format
golang.org/x/mod/sumdb/note reads and writes, so any of its implementations checks govshare's
checkpoints without re-wrapping them.

A signed note is a text ending in a newline, a blank line, and one signature line or more:

    — <key name> <base64(key id (4 bytes, big-endian) || Ed25519 signature over the text)>

A key is named (the trail uses its origin as the name) and identified by its key id, the first
four bytes of SHA-256(name || "\\n" || 0x01 || public key). govshare writes a key id as eight
lowercase hex digits, as the verifier key `<name>+<key id>+<base64(0x01 || public key)>` does.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

ED25519 = 0x01  # the signature type byte C2SP assigns to Ed25519
ED25519_KEY_SIZE = 32
KEY_ID_SIZE = 4  # bytes; eight hex digits as govshare writes it
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
SEPARATOR = "\n\n"  # the last blank line splits the text from its signatures
MAX_SIGNATURES = 100  # sumdb/note's bound; C2SP asks verifiers to accept at least 16


class NoteError(ValueError):
    """Text that is not a well-formed signed note or verifier key."""


def valid_name(name: str) -> bool:
    """C2SP: a key name is non-empty and holds neither Unicode spaces nor '+'."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: bytes) -> str:
    """The C2SP key id of an Ed25519 key under a name, as eight hex digits."""
    if not valid_name(name):
        raise NoteError(f"{name!r} is no key name: it must be non-empty, without spaces or '+'")
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()
    return digest[:KEY_ID_SIZE].hex()


def vkey(name: str, public_key: bytes) -> str:
    """The verifier key of sumdb/note's NewVerifier: what a verifier pins."""
    encoded = base64.b64encode(bytes([ED25519]) + public_key).decode()
    return f"{name}+{key_id(name, public_key)}+{encoded}"


def parse_vkey(text: str) -> tuple[str, bytes]:
    """The name and Ed25519 public key of a verifier key, its key id checked."""
    name, _, rest = text.strip().partition("+")
    hex_id, _, encoded = rest.partition("+")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NoteError("a verifier key ends in base64") from None
    if not valid_name(name) or len(hex_id) != 2 * KEY_ID_SIZE or not raw:
        raise NoteError("a verifier key reads <name>+<8 hex digits>+<base64 key>")
    if raw[0] != ED25519 or len(raw) != 1 + ED25519_KEY_SIZE:
        raise NoteError("the verifier key is not an Ed25519 key (type 0x01, 32 bytes)")
    public_key = raw[1:]
    if key_id(name, public_key) != hex_id.lower():
        raise NoteError(f"the verifier key's id {hex_id} is not the id of its name and key")
    return name, public_key


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    key_id: str  # eight hex digits
    signature: bytes

    def line(self) -> str:
        blob = bytes.fromhex(self.key_id) + self.signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True, slots=True)
class SignedNote:
    text: str  # ends in a newline; what each signature signs
    signatures: tuple[Signature, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def parse(message: str) -> SignedNote:
    """A signed note's text and signature lines, checked for form only (not signatures)."""
    if any(ord(c) < 0x20 and c != "\n" for c in message):
        raise NoteError("a signed note holds no control characters but newlines")
    split = message.rfind(SEPARATOR)
    if split < 0:
        raise NoteError("no blank line separates the note's text from its signatures")
    text, block = message[:split + 1], message[split + len(SEPARATOR):]
    if not block.endswith("\n"):
        raise NoteError("the note has no signature lines, or the last does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"more than {MAX_SIGNATURES} signatures")
    return SignedNote(text, tuple(_signature(line) for line in lines))


def _signature(line: str) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError(f"a signature line starts with an em dash and a space: {line[:40]!r}")
    name, _, encoded = line[len(SIGNATURE_PREFIX):].partition(" ")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        blob = b""
    if not valid_name(name) or len(blob) <= KEY_ID_SIZE:
        raise NoteError(f"a signature line reads '— <key name> <base64>': {line[:40]!r}")
    return Signature(name, blob[:KEY_ID_SIZE].hex(), blob[KEY_ID_SIZE:])
