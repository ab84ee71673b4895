"""The audit trail's cryptography, apart from the event contract: the Merkle tree and hash chain
(RFC 9162), C2SP signed notes, what a trail record and a signed checkpoint are and the offline
checks of proofs, and the key files a deployment signs with."""
