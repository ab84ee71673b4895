"""Checking the stored trail against itself and the notary's signatures, and proving one record.

`verify` recomputes every leaf from the stored bytes, the hash chain, and the Merkle root at
every checkpoint, checks every signature with the pinned public key, and then looks for
records the trail does not cover. It reads only; it names the first position where the stored
trail stops agreeing with what was signed, and the kind of change found there.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from events import merkle
from events import trail as tr
from projections.queries import utc
from projections.tables import dead_letters, event_log, trail_checkpoints, trail_entries

MAX_FINDINGS = 50


@dataclass(frozen=True, slots=True)
class Finding:
    problem: str  # altered | deleted | inserted | reordered | bad-signature | checkpoint-mismatch
    position: int | None
    record_id: str | None
    detail: str


@dataclass
class Report:
    records: int = 0  # trail entries walked: the size of the tree they make
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # too recent to be signed yet

    @property
    def tree_size(self) -> int:
        return self.records

    @property
    def intact(self) -> bool:
        return not self.findings

    def found(self, *args) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(Finding(*args))


def verify(engine: Engine, public_key: bytes, grace: timedelta = timedelta(seconds=60)) -> Report:
    """`grace`: a record not yet covered, recorded less than this before the newest checkpoint
    was signed (or after), is pending rather than inserted: the notary signs a record within
    about a second of reading it, but may lag under load."""
    report = Report()
    with engine.connect() as conn:
        checkpoints = conn.execute(select(trail_checkpoints).order_by(trail_checkpoints.c.tree_size)).all()
        _check_signatures(checkpoints, public_key, report)
        found = _walk(conn, checkpoints, report)
        stored = sum(conn.scalar(select(func.count()).select_from(t)) for t in (event_log, dead_letters))
        if stored != found:  # some stored record is in no trail entry: find which
            last = checkpoints[-1] if checkpoints else None
            _check_coverage(conn, utc(last.signed_at) - grace if last else None, report)
    return report


def _check_signatures(checkpoints: list, public_key: bytes, report: Report) -> None:
    previous = 0
    pinned = tr.key_id(public_key)
    for cp in checkpoints:
        report.checkpoints += 1
        note = _note(cp)
        if cp.key_id != pinned:
            report.found("bad-signature", None, None,
                         f"checkpoint {cp.tree_size} is signed with key {cp.key_id}, not the pinned {pinned}")
        elif not tr.signature_valid(public_key, note, cp.signature):
            report.found("bad-signature", None, None,
                         f"checkpoint {cp.tree_size}: the signature does not verify over its note")
        if cp.previous_size != previous:
            report.found("deleted", None, None, f"checkpoint {cp.tree_size} follows {cp.previous_size}, "
                         f"but the previous checkpoint kept is {previous}")
        previous = cp.tree_size


def _walk(conn, checkpoints: list, report: Report) -> int:
    """Every trail entry in position order, against its record, the chain and the roots.
    Returns how many entries found their record. Hot at a million rows: rows are unpacked as
    tuples and hashed inline."""
    q = (select(trail_entries.c.position, trail_entries.c.record_id, trail_entries.c.leaf_hash,
                trail_entries.c.chain_hash, event_log.c.record, dead_letters.c.record)
         .select_from(trail_entries
                      .outerjoin(event_log, event_log.c.event_id == trail_entries.c.record_id)
                      .outerjoin(dead_letters, dead_letters.c.id == trail_entries.c.record_id))
         .order_by(trail_entries.c.position))
    sha256 = hashlib.sha256
    pending = iter(checkpoints)
    due = next(pending, None)
    frontier, chain, stored_chain = merkle.Frontier(), merkle.CHAIN_START, merkle.CHAIN_START
    expected = found = 0
    result = conn.execution_options(stream_results=True, yield_per=10_000).execute(q)
    for rows in result.partitions():
        for position, record_id, leaf, chain_hash, event_record, dead_record in rows:
            if position != expected:
                report.found("deleted" if position > expected else "inserted", expected, None,
                             f"the trail jumps from position {expected - 1} to {position}")
            record = event_record if event_record is not None else dead_record
            if record is None:
                report.found("deleted", position, record_id,
                             "the trail names this record but neither event_log nor dead_letters holds it")
            else:
                found += 1
                if sha256(b"\x00" + record).digest() != leaf:
                    report.found("altered", position, record_id,
                                 "its stored bytes no longer hash to the leaf the notary signed")
            linked = sha256(stored_chain + leaf).digest()
            chain = linked if chain == stored_chain else sha256(chain + leaf).digest()
            if linked != chain_hash:
                report.found("reordered", position, record_id,
                             "the hash chain breaks here: an entry was moved, added or removed")
            stored_chain = chain_hash  # resynchronise, so one break is reported once
            frontier.append(leaf)
            expected = position + 1
            while due is not None and due.tree_size <= frontier.size:
                _check_head(due, frontier, chain, report)
                due = next(pending, None)
    report.records = frontier.size
    if due is not None:
        report.found("deleted", frontier.size, None,
                     f"checkpoint {due.tree_size} covers {due.tree_size} records; the trail holds {frontier.size}")
    last = checkpoints[-1].tree_size if checkpoints else 0
    if frontier.size > last:
        report.found("inserted", last, None,
                     f"{frontier.size - last} trail entries lie beyond the last signed checkpoint ({last})")
    return found


def _check_head(cp, frontier: merkle.Frontier, chain: bytes, report: Report) -> None:
    if cp.tree_size != frontier.size or frontier.root() != cp.root_hash or chain != cp.chain_head:
        report.found("checkpoint-mismatch", cp.previous_size, None,
                     f"the trail's first {cp.tree_size} entries do not hash to the root and chain "
                     f"signed at {cp.tree_size}: an entry in positions {cp.previous_size}..{cp.tree_size - 1} "
                     f"or before was changed")


def _check_coverage(conn, settled_by, report: Report) -> None:
    """Records the trail does not name: inserted, unless too recent to have been signed."""
    covered = select(trail_entries.c.record_id)
    for table, key, at in ((event_log, event_log.c.event_id, event_log.c.recorded_at),
                           (dead_letters, dead_letters.c.id, dead_letters.c.recorded_at)):
        for record_id, recorded in conn.execute(select(key, at).where(key.not_in(covered)).order_by(at)):
            if settled_by is None or (recorded is not None and utc(recorded) > settled_by):
                report.pending.append(record_id)
            else:
                report.found("inserted", None, record_id,
                             f"{table.name} holds it, but no signed checkpoint covers it")


def prove(engine: Engine, record_id: str) -> dict[str, Any] | None:
    """An RFC 9162 inclusion proof of one record in the latest signed tree, with the record's
    bytes and the signed note, checkable offline by `govshare verify-proof` or any RFC 9162
    implementation plus an Ed25519 check."""
    with engine.connect() as conn:
        entry = conn.execute(select(trail_entries).where(trail_entries.c.record_id == record_id)).first()
        if entry is None:
            return None
        cp = _latest(conn)
        leaves = list(conn.scalars(select(trail_entries.c.leaf_hash)
                                   .where(trail_entries.c.position < cp.tree_size)
                                   .order_by(trail_entries.c.position)))
        record = conn.scalar(select(event_log.c.record).where(event_log.c.event_id == record_id))
        if record is None:
            record = conn.scalar(select(dead_letters.c.record).where(dead_letters.c.id == record_id))
    return {
        "format": "govshare-inclusion-proof/1",
        "algorithm": "RFC 9162 section 2.1.3 (SHA-256; leaf = H(0x00 || record), node = H(0x01 || l || r))",
        "record_id": record_id, "kind": entry.kind, "leaf_index": entry.position,
        "tree_size": cp.tree_size,
        "record": base64.b64encode(record or b"").decode(),
        "leaf_hash": entry.leaf_hash.hex(),
        "audit_path": [h.hex() for h in merkle.inclusion_path(entry.position, leaves)],
        "checkpoint": {"note": base64.b64encode(_note(cp)).decode(), "key_id": cp.key_id,
                       "signature": base64.b64encode(cp.signature).decode(),
                       "signature_algorithm": "Ed25519"},
    }


def latest_checkpoint(engine: Engine) -> dict[str, Any] | None:
    """The newest signed tree head, as an export's cover sheet."""
    with engine.connect() as conn:
        cp = _latest(conn)
        total = conn.scalar(select(func.count()).select_from(trail_entries))
    if cp is None:
        return None
    return {"origin": cp.origin, "tree_size": cp.tree_size, "root_hash": cp.root_hash.hex(),
            "chain_head": cp.chain_head.hex(), "signed_at": utc(cp.signed_at).isoformat(),
            "key_id": cp.key_id, "note": base64.b64encode(_note(cp)).decode(),
            "signature": base64.b64encode(cp.signature).decode(), "trail_entries": total}


def _latest(conn):
    return conn.execute(select(trail_checkpoints).order_by(trail_checkpoints.c.tree_size.desc())
                        .limit(1)).first()


def _note(cp) -> bytes:
    """The signed note of a stored checkpoint, rebuilt from its columns."""
    return tr.checkpoint_note(cp.origin, cp.tree_size, cp.root_hash, cp.chain_head, utc(cp.signed_at))
