"""Checking the stored trail against itself, the notary's signatures and outside anchors, and
proving one record.

`verify` recomputes every leaf from the stored bytes, the hash chain, and the Merkle root at
every checkpoint, checks every signature with the pinned public key, rebuilds every column
stored beside a record from the sealed bytes, and then looks for records the trail does not
cover. The database alone cannot show that its newest checkpoints were cut away with their
records, nor which record of a checkpoint's range was rewritten together with its hashes; two
outside anchors can:

- the signed `TrailCheckpointed` events on the trail topic (`anchor`): the newest one must be
  in the database, and the leaves each carries (they hash to its signed root) name the record
  at every position;
- a checkpoint a security team kept (`kept`): an RFC 9162 consistency proof shows that today's
  signed tree extends it.

It reads only; it names the first position where the stored trail stops agreeing with what was
signed, and the kind of change found there.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

from sqlalchemy import Engine, func, select

from events import merkle
from audit import trail as tr
from events.codec import decode_dead_letter, decode_payload, decode_record
from events.errors import EventError
from projections.queries import utc
from projections.sealed import dead_letter_columns, event_columns, rejection_columns
from projections.tables import dead_letters, event_log, rejections, trail_checkpoints, trail_entries

MAX_FINDINGS = 50
# How far ahead of the verifier's clock a record's time may lie and still be pending: the
# clocks of the validator's and the verifier's hosts differ a little. A deployment choice.
CLOCK_SKEW = timedelta(seconds=10)
# The columns of event_log and dead_letters checked against the sealed record, in a fixed order.
EVENT_COLUMNS = ("event_type", "aggregate_type", "aggregate_id", "sequence", "occurred_at",
                 "recorded_at", "actor_department", "actor_person", "actor_role", "policy_id",
                 "correlation_id", "causation_id", "source")
LETTER_COLUMNS = ("source", "reason", "event_id", "value", "headers")


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
    pending: list[str] = field(default_factory=list)  # too recent to be signed, or to be projected
    newest: dict[str, Any] | None = None  # the newest signed checkpoint known, and its age
    anchor: str = "none"  # which outside anchors were checked
    consistency: dict[str, Any] | None = None  # the proof from a kept checkpoint

    @property
    def tree_size(self) -> int:
        return self.records

    @property
    def intact(self) -> bool:
        return not self.findings

    def found(self, *args) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(Finding(*args))


@dataclass
class _Signed:
    """The trail as the signed checkpoints on the trail topic carry it."""
    leaves: list[bytes] = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)
    newest: tr.TrailCheckpointed | None = None


def verify(engine: Engine, keys: tr.Keys | bytes, grace: timedelta = timedelta(seconds=60), *,
           now: datetime | None = None, skew: timedelta = CLOCK_SKEW,
           anchor: Sequence[tr.TrailCheckpointed] | None = None,
           kept: tr.Checkpoint | None = None, progress: Callable[[int], None] | None = None) -> Report:
    """`keys`: the pinned keys (a key ring, or one bare public key). `grace`: how long a record
    may wait to be signed and its checkpoint projected before its absence from the trail counts
    as an insertion (the notary signs within about a second of reading a record, but lags under
    load). `anchor`: the checkpoints read from the trail topic, in order. `kept`: a checkpoint
    kept outside the system (`tr.checkpoint_of_text`). `progress`: told how many trail entries
    were walked, after each page of them."""
    now = now or datetime.now(timezone.utc)
    keys = tr.Keys.of(keys)
    report = Report()
    signed = _signed_trail(anchor, keys, report) if anchor is not None else None
    with engine.connect() as conn:
        checkpoints = conn.execute(select(trail_checkpoints).order_by(trail_checkpoints.c.tree_size)).all()
        _check_signatures(checkpoints, keys, report)
        leaves: list[bytes] | None = [] if kept is not None else None
        found = _walk(conn, checkpoints, report, signed, leaves, skew, progress)
        _check_rejections(conn, report)
        stored = sum(conn.scalar(select(func.count()).select_from(t)) for t in (event_log, dead_letters))
        if stored != found:  # some stored record is in no trail entry: find which
            _check_coverage(conn, now, grace, skew, signed, report)
    anchors = []
    if signed is not None:
        _check_newest(signed, checkpoints, now, grace, report)
        anchors.append(f"the trail topic ({len(anchor)} checkpoint messages)")
    if kept is not None:
        _check_kept(kept, keys, checkpoints, leaves, report)
        anchors.append(f"the kept checkpoint of {kept.tree_size}")
    report.anchor = " and ".join(anchors) or "none"
    newest = max((c for c in (signed.newest if signed else None, checkpoints[-1] if checkpoints else None)
                  if c is not None), key=lambda c: c.tree_size, default=None)
    if newest is not None:
        at = utc(newest.signed_at)
        report.newest = {"tree_size": newest.tree_size, "signed_at": at.isoformat(),
                         "age_seconds": round((now - at).total_seconds(), 1)}
    return report


def _check_signatures(checkpoints: list, keys: tr.Keys, report: Report) -> None:
    previous = 0
    for cp in checkpoints:
        report.checkpoints += 1
        problem = keys.problem(_note(cp), _checkpoint(cp).signatures)
        if problem:
            report.found("bad-signature", None, None, f"checkpoint {cp.tree_size}: {problem}")
        if cp.previous_size != previous:
            report.found("deleted", None, None, f"checkpoint {cp.tree_size} follows {cp.previous_size}, "
                         f"but the previous checkpoint kept is {previous}")
        previous = cp.tree_size


def _signed_trail(anchor: Sequence[tr.TrailCheckpointed], keys: tr.Keys, report: Report) -> _Signed:
    """The leaves the trail topic's checkpoints carry, kept only where a pinned key signed
    the checkpoint and the leaves hash to its signed root (the signature covers the note, and
    the note the root, so leaves that reproduce it are the ones signed)."""
    by_size: dict[int, tr.TrailCheckpointed] = {}
    for cp in anchor:
        # Checked before a size seen already is skipped: a forged checkpoint naming the size
        # of a signed one is reported, not taken for a republished copy.
        problem = keys.problem(tr.note_of(cp), tr.checkpoint_of(cp).signatures)
        if problem:
            report.found("bad-signature", None, None, f"the trail topic holds a checkpoint of "
                         f"{cp.tree_size} records that no pinned key signed: {problem}")
            continue
        by_size.setdefault(cp.tree_size, cp)  # a republished checkpoint: the same bytes again
    signed, frontier = _Signed(), merkle.Frontier()
    for size in sorted(by_size):
        cp = by_size[size]
        if cp.previous_size != frontier.size:
            report.found("deleted", frontier.size, None, f"the trail topic's checkpoints jump from "
                         f"{frontier.size} to {cp.previous_size} records")
            break
        trial = merkle.Frontier(frontier.size, list(frontier.nodes))
        for leaf in cp.leaves:
            trial.append(leaf.leaf_hash)
        if trial.root() != cp.root_hash:
            report.found("checkpoint-mismatch", cp.previous_size, None, f"the trail topic's checkpoint "
                         f"{cp.tree_size} carries leaves that do not hash to its signed root")
            break
        frontier = trial
        signed.leaves.extend(leaf.leaf_hash for leaf in cp.leaves)
        signed.record_ids.extend(leaf.record_id for leaf in cp.leaves)
        signed.newest = cp
    return signed


def _walk(conn, checkpoints: list, report: Report, signed: _Signed | None,
          leaves: list[bytes] | None, skew: timedelta, progress: Callable[[int], None] | None = None) -> int:
    """Every trail entry in position order, against its record, the chain, the roots, the
    signed leaves of the trail topic, and the columns beside the record. Returns how many
    entries found their record. Hot at a million rows: rows are unpacked as tuples and
    hashed inline."""
    q = (select(trail_entries.c.position, trail_entries.c.record_id, trail_entries.c.leaf_hash,
                trail_entries.c.chain_hash, trail_entries.c.checkpoint_size, event_log.c.record,
                dead_letters.c.record, dead_letters.c.recorded_at,
                *(event_log.c[c] for c in EVENT_COLUMNS), *(dead_letters.c[c] for c in LETTER_COLUMNS))
         .select_from(trail_entries
                      .outerjoin(event_log, event_log.c.event_id == trail_entries.c.record_id)
                      .outerjoin(dead_letters, dead_letters.c.id == trail_entries.c.record_id))
         .order_by(trail_entries.c.position))
    sha256 = hashlib.sha256
    signed_at = {cp.tree_size: utc(cp.signed_at) for cp in checkpoints}
    signed_leaves = signed.leaves if signed is not None else []
    pending = iter(checkpoints)
    due = next(pending, None)
    frontier, chain, stored_chain = merkle.Frontier(), merkle.CHAIN_START, merkle.CHAIN_START
    expected = found = 0
    result = conn.execution_options(stream_results=True, yield_per=10_000).execute(q)
    for rows in result.partitions():
        for row in rows:
            position, record_id, leaf, chain_hash, covered_by, event_record, dead_record, arrived = row[:8]
            if position != expected:
                report.found("deleted" if position > expected else "inserted", expected, None,
                             f"the trail jumps from position {expected - 1} to {position}")
            if position < len(signed_leaves) and (signed_leaves[position] != leaf
                                                  or signed.record_ids[position] != record_id):
                report.found("altered", position, signed.record_ids[position],
                             f"the trail topic's signed checkpoint puts record {signed.record_ids[position]} "
                             f"(leaf {signed_leaves[position].hex()[:16]}) here; the database holds "
                             f"{record_id} (leaf {leaf.hex()[:16]})")
            record = event_record if event_record is not None else dead_record
            if record is None:
                report.found("deleted", position, record_id,
                             "the trail names this record but neither event_log nor dead_letters holds it")
            else:
                found += 1
                if sha256(b"\x00" + record).digest() != leaf:
                    report.found("altered", position, record_id,
                                 "its stored bytes no longer hash to the leaf the notary signed")
                elif event_record is not None:
                    _check_columns(row[8:8 + len(EVENT_COLUMNS)], EVENT_COLUMNS, _event_says(record),
                                   position, record_id, report)
                else:
                    _check_columns(row[8 + len(EVENT_COLUMNS):], LETTER_COLUMNS, _letter_says(record),
                                   position, record_id, report)
                    sealed_by = signed_at.get(covered_by)
                    if sealed_by is not None and (arrived is None or utc(arrived) > sealed_by + skew):
                        report.found("altered", position, record_id, f"dead_letters.recorded_at says "
                                     f"{arrived}, after the checkpoint that sealed it was signed ({sealed_by})")
            linked = sha256(stored_chain + leaf).digest()
            chain = linked if chain == stored_chain else sha256(chain + leaf).digest()
            if linked != chain_hash:
                report.found("reordered", position, record_id,
                             "the hash chain breaks here: an entry was moved, added or removed")
            stored_chain = chain_hash  # resynchronise, so one break is reported once
            frontier.append(leaf)
            if leaves is not None:
                leaves.append(leaf)
            expected = position + 1
            while due is not None and due.tree_size <= frontier.size:
                _check_head(due, frontier, chain, report)
                due = next(pending, None)
        if progress is not None:  # once a page, not in the per-row loop
            progress(frontier.size)
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


def _event_says(record: bytes) -> dict[str, Any] | None:
    try:
        envelope, _ = decode_record(record)
    except (EventError, ValueError, EOFError, IndexError, KeyError, TypeError):
        return None
    return event_columns(envelope)


def _letter_says(record: bytes) -> dict[str, Any] | None:
    try:
        return dead_letter_columns(decode_dead_letter(record))
    except (ValueError, EOFError, IndexError, KeyError, TypeError):
        return None


def _check_columns(stored: Sequence, names: Sequence[str], sealed: dict[str, Any] | None,
                   position: int | None, record_id: str, report: Report) -> None:
    """Each column a reader sees beside the record must say what the sealed record says."""
    if sealed is None:
        report.found("altered", position, record_id, "its stored bytes no longer decode")
        return
    wrong = [f"{name} reads {value!r} but the sealed record says {sealed[name]!r}"
             for name, value in zip(names, stored)
             if (utc(value) if isinstance(value, datetime) else value) != sealed[name]]
    if wrong:
        report.found("altered", position, record_id, "a column was rewritten: " + "; ".join(wrong))


def _check_rejections(conn, report: Report) -> None:
    """The rejections read model restates the sealed EventRejected records: each row must."""
    names = [c.name for c in rejections.c if c.name != "event_id"]
    q = (select(rejections.c.event_id, event_log.c.record, *(rejections.c[n] for n in names))
         .select_from(rejections.outerjoin(event_log, event_log.c.event_id == rejections.c.event_id)))
    for row in conn.execute(q):
        event_id, record = row[0], row[1]
        if record is None:
            report.found("inserted", None, event_id, "rejections holds it, but no sealed record does")
            continue
        try:
            envelope, payload = decode_record(record)
            sealed = rejection_columns(decode_payload(payload), envelope)
        except (EventError, ValueError, EOFError, IndexError, KeyError, TypeError, AttributeError):
            sealed = None
        _check_columns(row[2:], names, sealed, None, event_id, report)


def _check_coverage(conn, now: datetime, grace: timedelta, skew: timedelta, signed: _Signed | None,
                    report: Report) -> None:
    """Records the trail does not name: inserted, unless signed on the trail topic and not yet
    projected here, or recorded within `grace` of now (never later than `skew` after it)."""
    covered = select(trail_entries.c.record_id)
    on_topic = set(signed.record_ids) if signed is not None else set()
    for table, key, at in ((event_log, event_log.c.event_id, event_log.c.recorded_at),
                           (dead_letters, dead_letters.c.id, dead_letters.c.recorded_at)):
        for record_id, recorded in conn.execute(select(key, at).where(key.not_in(covered)).order_by(at)):
            recorded = utc(recorded)
            if record_id in on_topic or (recorded is not None and now - grace <= recorded <= now + skew):
                report.pending.append(record_id)
            elif recorded is not None and recorded > now + skew:
                report.found("inserted", None, record_id, f"{table.name} holds it, recorded at "
                             f"{recorded.isoformat()}: in the future, beyond the {skew.total_seconds():g} s "
                             f"clock skew allowed, and no signed checkpoint covers it")
            else:
                report.found("inserted", None, record_id,
                             f"{table.name} holds it, but no signed checkpoint covers it")


def _check_newest(signed: _Signed, checkpoints: list, now: datetime, grace: timedelta, report: Report) -> None:
    """The newest checkpoint signed on the trail topic must be in the database once `grace`
    has passed: a trail cut back, newest checkpoints, entries and records together, leaves
    no trace inside the database."""
    newest = signed.newest
    held = checkpoints[-1].tree_size if checkpoints else 0
    if newest is None or newest.tree_size <= held:
        return
    if now - utc(newest.signed_at) <= grace:
        report.pending.append(f"checkpoint {newest.tree_size}")
        return
    missing = signed.record_ids[held:newest.tree_size]
    report.found("deleted", held, missing[0] if missing else None,
                 f"the trail topic holds checkpoint {newest.tree_size} signed at "
                 f"{utc(newest.signed_at).isoformat()}; the database's newest is {held}: positions "
                 f"{held}..{newest.tree_size - 1} ({len(missing)} records) are missing")


def checkpoint_of_file(data: dict[str, Any]) -> tr.Checkpoint:
    """A kept checkpoint from the JSON of `govshare checkpoint --json`, an export's cover sheet
    or an inclusion proof (`tr.checkpoint_of_text` also reads a signed note)."""
    return tr.checkpoint_of_json(data)


def _check_kept(kept: tr.Checkpoint, keys: tr.Keys, checkpoints: list, leaves: list[bytes],
                report: Report) -> None:
    """A checkpoint kept outside: signed by a pinned key, and today's newest signed tree
    extends it (RFC 9162 consistency proof from the stored leaves)."""
    problem = keys.problem(kept.body, kept.signatures)
    if problem:
        report.found("bad-signature", None, None, f"the kept checkpoint: {problem}")
        return
    m = kept.tree_size
    newest = checkpoints[-1] if checkpoints else None
    n = newest.tree_size if newest else 0
    if m > n or m > len(leaves):
        report.found("deleted", n, None, f"the kept checkpoint covers {m} records; the trail's newest "
                     f"signed checkpoint covers {n}: the trail was cut back")
        return
    if m == 0:
        report.consistency = {"from": 0, "to": n, "path": [], "verified": True}
        return
    path = merkle.consistency_path(m, leaves[:n])
    ok = merkle.verify_consistency(m, n, kept.root_hash, newest.root_hash, path)
    report.consistency = {"from": m, "to": n, "path": [h.hex() for h in path], "verified": ok}
    if not ok:
        report.found("checkpoint-mismatch", 0, None, f"today's signed tree of {n} records does not "
                     f"extend the kept checkpoint of {m}: a record in positions 0..{m - 1} was changed")
    elif merkle.root(leaves[:m]) != kept.root_hash:
        # The two signed heads agree, but the stored entries under the kept one are not those.
        report.found("checkpoint-mismatch", 0, None, f"the trail's first {m} entries do not hash to "
                     f"the kept checkpoint's root: a record in positions 0..{m - 1} was changed")


def prove(engine: Engine, record_id: str, keys: tr.Keys | None = None) -> dict[str, Any] | None:
    """An RFC 9162 inclusion proof of one record in the latest signed tree, with the record's
    bytes and the signed note, checkable offline by `govshare verify-proof` or any RFC 9162
    implementation plus an Ed25519 check. `keys` name a checkpoint signed before C2SP notes."""
    with engine.connect() as conn:
        entry = conn.execute(select(trail_entries).where(trail_entries.c.record_id == record_id)).first()
        if entry is None:
            return None
        cp = _latest(conn)
        leaves = list(conn.scalars(select(trail_entries.c.leaf_hash)
                                   .where(trail_entries.c.position < cp.tree_size)
                                   .order_by(trail_entries.c.position)))
        record = conn.scalar(select(event_log.c.record).where(event_log.c.event_id == record_id))
        signer = record and _signer(conn, record)
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
                       "signature_algorithm": "Ed25519", **_signed_note(cp, keys)},
        **({"signer": signer} if signer else {}),
    }


def _signer(conn, record: bytes) -> dict[str, Any] | None:
    """Who signed a submitted event: its department, the key's id and public key, and the
    directory event that registered the key (itself provable), so `verify-proof` checks the
    signature offline. None for what govshare emitted."""
    envelope, _ = decode_record(record)
    if envelope.signing_key is None:
        return None
    registered = conn.execute(select(event_log.c.event_id, event_log.c.record).where(
        event_log.c.event_type == "DepartmentKeyRegistered",
        event_log.c.aggregate_id == envelope.actor.department)).all()
    for event_id, stored in registered:
        key = decode_payload(decode_record(stored)[1])
        if key.key_id == envelope.signing_key:
            return {"department": envelope.actor.department, "key_id": key.key_id,
                    "public_key": key.public_key, "registered_by": event_id}
    return {"department": envelope.actor.department, "key_id": envelope.signing_key, "public_key": None}


def latest_checkpoint(engine: Engine, keys: tr.Keys | None = None) -> dict[str, Any] | None:
    """The newest signed tree head, as an export's cover sheet: its fields, and the C2SP signed
    note (`keys` name a checkpoint signed before C2SP notes; without them it has none)."""
    with engine.connect() as conn:
        cp = _latest(conn)
        total = conn.scalar(select(func.count()).select_from(trail_entries))
    if cp is None:
        return None
    return {"origin": cp.origin, "tree_size": cp.tree_size, "root_hash": cp.root_hash.hex(),
            "chain_head": cp.chain_head.hex(), "signed_at": utc(cp.signed_at).isoformat(),
            "key_id": cp.key_id, "note": base64.b64encode(_note(cp)).decode(),
            "signature": base64.b64encode(cp.signature).decode(), "trail_entries": total,
            **_signed_note(cp, keys)}


def prove_consistency(engine: Engine, old: tr.Checkpoint | int, new: tr.Checkpoint | int | None,
                      keys: tr.Keys | None = None) -> dict[str, Any]:
    """An RFC 9162 section 2.1.4 consistency proof between two signed checkpoints, each given
    as kept (a signed note) or by its tree size (a checkpoint the trail signed at that size);
    `new` None is the newest. Checkable offline by `govshare verify-consistency`. ValueError
    says why no proof can be made."""
    with engine.connect() as conn:
        old, new = _resolve(conn, old, keys), _resolve(conn, new, keys)
        if old.tree_size > new.tree_size:
            raise ValueError(f"the old checkpoint covers {old.tree_size} records, more than the new "
                             f"one's {new.tree_size}")
        leaves = list(conn.scalars(select(trail_entries.c.leaf_hash)
                                   .where(trail_entries.c.position < new.tree_size)
                                   .order_by(trail_entries.c.position)))
    if len(leaves) < new.tree_size:
        raise ValueError(f"the trail holds {len(leaves)} entries, fewer than the {new.tree_size} "
                         f"the new checkpoint signs")
    m, n = old.tree_size, new.tree_size
    path = merkle.consistency_path(m, leaves) if 0 < m < n else []
    return {
        "format": "govshare-consistency-proof/1",
        "algorithm": "RFC 9162 section 2.1.4 (SHA-256; leaf = H(0x00 || record), node = H(0x01 || l || r))",
        "old_size": m, "new_size": n,
        "old_checkpoint": old.signed_note(keys), "new_checkpoint": new.signed_note(keys),
        "path": [base64.b64encode(h).decode() for h in path],
    }


def _resolve(conn, given: tr.Checkpoint | int | None, keys: tr.Keys | None) -> tr.Checkpoint:
    if isinstance(given, tr.Checkpoint):
        return given
    q = select(trail_checkpoints)
    q = q.order_by(trail_checkpoints.c.tree_size.desc()).limit(1) if given is None else \
        q.where(trail_checkpoints.c.tree_size == given)
    row = conn.execute(q).first()
    if row is None:
        raise ValueError("the trail has no signed checkpoint yet" if given is None else
                         f"the trail signed no checkpoint of {given} records")
    return _checkpoint(row)


def _latest(conn):
    return conn.execute(select(trail_checkpoints).order_by(trail_checkpoints.c.tree_size.desc())
                        .limit(1)).first()


def _note(cp) -> bytes:
    """The signed body of a stored checkpoint, rebuilt from its columns."""
    return tr.checkpoint_note(cp.origin, cp.tree_size, cp.root_hash, cp.chain_head, utc(cp.signed_at))


def _checkpoint(cp) -> tr.Checkpoint:
    return tr.stored_checkpoint(cp.origin, _note(cp), cp.key_id, cp.signature)


def _signed_note(cp, keys: tr.Keys | None) -> dict[str, str]:
    """{"signed_note": ...}, or nothing for a checkpoint signed before C2SP notes whose key
    `keys` do not hold."""
    try:
        return {"signed_note": _checkpoint(cp).signed_note(keys)}
    except ValueError:
        return {}
