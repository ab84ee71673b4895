"""Department keys from the command line (`govshare keygen`, `govshare revoke-key`): the files
a department's systems sign with, and the platform administrator's events that register and
revoke their public keys in the directory (events/directory.py)."""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, inspect, select

from events import directory
from events.signing import DepartmentKey, Keystore, key_id, public_from_text, public_text
from events.topics import Topics
from infra.config import Settings, never_created
from infra.database import make_engine
from audit.keys import PLATFORM_ADMIN
from infra.stages import bootstrap
from infra.submit import submit_lines
from processors import store
from projections.tables import event_log

# How long an administrator's change is retried while the projections catch up with the
# department's last change (its next sequence is read from them).
SEQUENCE_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Written:
    private: Path
    public: Path
    key_id: str
    public_key: str


def keygen(department: str, directory_path: Path) -> Written:
    private = directory_path / f"{department}.pem"
    if private.exists():
        raise SystemExit(f"govshare: {private} exists; a key is never overwritten (revoke it, move it "
                         f"away, then make a new one)")
    key = DepartmentKey.generate(department)
    key.write(private)
    return Written(private, private.with_suffix(".pub"), key.key_id, public_text(key.public_raw))


def written_in(department: str, directory_path: Path) -> Written:
    """A key pair `keygen` wrote earlier, as its public file holds it (the private key may be
    elsewhere: it stays with the department)."""
    public = directory_path / f"{department}.pub"
    try:
        raw = public_from_text(public.read_text(encoding="utf-8").strip())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"govshare: no public key of {department} at {public}: {exc}") from None
    return Written(public.with_suffix(".pem"), public, key_id(raw), public_text(raw))


def directory_started(settings: Settings) -> bool:
    """Whether the validator has registered its first directory. Until it has (before the
    first `govshare up`), the public keys in the department key directory are registered with
    it when it starts; after, a key is registered only by the administrator's event."""
    url = settings.stage_url("validator")
    if never_created(url):
        return False
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(store.directory_versions.name):
                return False
            return conn.execute(select(store.directory_versions.c.department_id).limit(1)).first() is not None
    finally:
        engine.dispose()


def admin_key_file(settings: Settings) -> Path:
    """The platform administrator's private key, which `govshare up` makes before any stage
    starts where the deployment provided none (audit/keys.py `prepare`)."""
    return settings.department_key_dir / f"{PLATFORM_ADMIN}.pem"


def register_key(settings: Settings, department: str, written: Written) -> dict[str, Any]:
    return _as_admin(settings, "DepartmentKeyRegistered", department,
                     {"key_id": written.key_id, "public_key": written.public_key})


def revoke_key(settings: Settings, department: str, key_id: str, reason: str) -> dict[str, Any]:
    return _as_admin(settings, "DepartmentKeyRevoked", department, {"key_id": key_id, "reason": reason})


def _as_admin(settings: Settings, event_type: str, department: str, payload: dict) -> dict[str, Any]:
    """Submit the platform administrator's change, signed with its key, after the department's
    last change as the projections hold it (retried while they catch up)."""
    deadline = time.monotonic() + SEQUENCE_WAIT_SECONDS
    projections = make_engine(settings.projection_url, read_only=True)
    try:
        while True:
            sequence = _last_sequence(projections, department)
            if sequence is None:
                if time.monotonic() < deadline:  # the first directory may not be projected yet
                    time.sleep(0.5)
                    continue
                raise SystemExit(f"govshare: no department {department} in the directory "
                                 f"(`govshare query departments`)")
            result = submit_as_admin(settings, event_type, department, sequence + 1, payload)
            if result.get("rule") != "sequence-out-of-order" or time.monotonic() > deadline:
                return result
            time.sleep(0.5)  # the projections are behind the validator: read the sequence again
    finally:
        projections.dispose()


def submit_as_admin(settings: Settings, event_type: str, aggregate_id: str, sequence: int,
                    payload: dict) -> dict[str, Any]:
    """One event of the platform administrator, signed with its key; its verdict."""
    admin = admin_key_file(settings)
    if not admin.is_file():
        raise SystemExit(f"govshare: no platform administrator key at {admin}: whoever holds it submits "
                         f"{event_type} with `govshare submit --key`")
    keys = Keystore(single=DepartmentKey.read(admin))
    line = {"id": str(uuid.uuid4()), "type": event_type, "aggregate_id": aggregate_id,
            "sequence": sequence, "payload": payload,
            "actor": {"department": PLATFORM_ADMIN, "person": "cli", "role": "PLATFORM_ADMIN"}}
    [result] = submit_lines([json.dumps(line, ensure_ascii=False)], settings.kafka(bootstrap(settings)),
                            Topics(settings.topic_prefix), keys=keys)
    return result


def _last_sequence(projections, department: str) -> int | None:
    with projections.connect() as conn:
        if not inspect(conn).has_table(event_log.name):
            return None
        return conn.execute(select(func.max(event_log.c.sequence)).where(
            event_log.c.aggregate_type == directory.AGGREGATE,
            event_log.c.aggregate_id == department)).scalar_one()
