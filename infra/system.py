"""govshare's System: its five stages, what each acts on and writes, and how each is built from
its Wiring. The one place the topology is written (runtime/system.py derives topics, filters,
signing keys and who may write what from it); `govshare topology` prints it.
"""
from __future__ import annotations

from datetime import timedelta

from events import deadline, sharing
from events.registry import all_kinds, classes_of
from events.rejection import EventRejected
from audit.trail import TrailCheckpointed, origin_of
from processors.grant_keeper import GrantKeeper
from processors.notary import Notary
from processors.deadline_engine import Scheduler
from processors.validator import Validator
from projections.runner import Projector
from runtime.system import DEAD_LETTERS, Reads, StageSpec, System, Wiring, classes


def publishable() -> tuple[type, ...]:
    """What departments publish: every event class a role may send."""
    return tuple(k.cls for k in all_kinds() if k.senders)


def _validator(w: Wiring) -> Validator:
    return Validator(w.engine, w.policies, w.topics, w.publisher, keys=w.keys, clock=w.clock,
                     department_keys=w.settings.department_key_dir)


def _deadlines(w: Wiring) -> Scheduler:
    return Scheduler(w.engine, w.policies, w.topics, w.publisher, keys=w.keys)


def _grants(w: Wiring) -> GrantKeeper:
    return GrantKeeper(w.engine, w.policies, w.topics, w.publisher,
                       access_wait=timedelta(seconds=w.settings.access_wait_seconds), keys=w.keys)


def _notary(w: Wiring) -> Notary:
    from audit import keys
    return Notary(w.engine, w.topics, w.publisher, keys.load_or_create(w.settings.trail_key_file), w.clock,
                  keys=w.keys, records=w.options.get("records"))


def _projector(w: Wiring) -> Projector:
    """`options`: `as_of` (a replay: only what was recorded by then), `extra` (a
    deployment's own read models) and `records` (shared with a notary in the same process)."""
    from audit import keys
    from projections.directory import Listed
    first = [Listed(d.id, d.name, d.policy_id, d.roles) for d in w.policies.departments.values()]
    return Projector(w.engine, w.topics, as_of=w.options.get("as_of"), extra=w.options.get("extra", ()),
                     records=w.options.get("records"),
                     ring=w.keys.ring, first=first, trail_keys=lambda: keys.ring_keys(w.settings.trail_key_file,
                                                                      origin_of(w.topics.prefix)))


SYSTEM = System(stages=(
    StageSpec("validator", _validator, handles=publishable(),
              emits=classes(publishable(), (EventRejected, DEAD_LETTERS)), reads=Reads.INBOXES),
    StageSpec("deadlines", _deadlines, handles=Scheduler.handles(), emits=classes_of(deadline.AGGREGATE),
              ticks=True),
    StageSpec("grants", _grants, handles=GrantKeeper.handles(),
              emits=classes_of(sharing.GRANT, sharing.SUPERVISION), ticks=True),
    StageSpec("notary", _notary, emits=(TrailCheckpointed,), reads=Reads.LOG, grouped=False, batch=2000),
    StageSpec("projector", _projector, reads=Reads.LOG, grouped=False, batch=2000),
), processes="validator deadlines+grants notary+projector")
"""Three processes by default (GOVSHARE_PROCESSES places them otherwise): the validator alone,
since it is the one a deployment scales out first (`validator*2`); the two engines, which read
the same event topics and act on few of them, over one consumer; the notary and the projector,
which both read the whole log, over one. Five processes cost five interpreters and five
consumers' buffers for the same work (bench/ figures in the README)."""
