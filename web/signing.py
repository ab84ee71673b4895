"""Webhook signatures as Standard Webhooks makes them (https://www.standardwebhooks.com/, "v1"):
each delivery carries

    webhook-id:        the message's id, the same on every retry of it (the CloudEvent's id)
    webhook-timestamp: when it was sent, in unix seconds
    webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>

where the key is the base64-decoded part of the subscription's secret `whsec_<base64>`. While
a replaced secret is in its grace period both sign, their signatures separated by a space; a
receiver takes the delivery if any one of them verifies with a secret it holds."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random
from typing import Iterable

PREFIX = "whsec_"
KEY_BYTES = 32  # Standard Webhooks asks for 24 to 64


def new_secret() -> str:
    return PREFIX + base64.b64encode(random.token_bytes(KEY_BYTES)).decode("ascii")


def key_of(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(message_id: str, timestamp: int, body: bytes, secrets: Iterable[str]) -> dict[str, str]:
    """The three headers of a signed delivery (no webhook-signature when there is no secret)."""
    found = {"webhook-id": message_id, "webhook-timestamp": str(timestamp)}
    signatures = [signature(s, message_id, timestamp, body) for s in secrets]
    if signatures:
        found["webhook-signature"] = " ".join(signatures)
    return found
