"""The webhook notifier: a thread of the API process. Each round it finds each active
subscription's new facts (web/facts.py) and records a delivery for each, then POSTs every
delivery that is due to its subscription's URL as a CloudEvent (HTTP binding, binary mode),
recording each attempt; a refused delivery is tried again with exponential backoff and given up
after GOVSHARE_WEBHOOK_ATTEMPTS tries (status failed, visible in the deliveries view).

A thread of the API rather than a stage of its own: it reads and writes only the API's tables
(and reads the projections, as the API does), `govshare up` already supervises the API process,
and the API's lifespan starts and stops it. One API process runs one notifier; the deliveries
table, not memory, holds what is owed, so a restart resumes where it was.

Deliveries are independent: one receiver's failing delivery does not hold back its later ones
(the receiver orders by `time` and dedupes by `ce-id` if it cares). Receivers are independent
too: each subscription's due deliveries are worked through by a worker of its own, in the order
they fell due, so a receiver that is slow to answer (up to GOVSHARE_WEBHOOK_TIMEOUT a delivery)
delays only its own.

Every delivery is signed as Standard Webhooks signs (web/signing.py) with the subscription's
secrets that have not expired: its newest, and one it replaced while that is in its grace period.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

import structlog
from sqlalchemy import Engine, insert, or_, select, update

from infra.api_store import api_attempts, api_deliveries, api_subscriptions, api_webhook_secrets
from infra.config import Settings
from web import facts, signing

log = structlog.get_logger("govshare.webhooks")

# Deliveries tried per round: a backlog is worked through round after round, and a stop
# request waits at most one batch.
BATCH = 100


def source(settings: Settings) -> str:
    """The CloudEvents `source` of every delivery: this deployment."""
    return f"/govshare/{settings.topic_prefix}"


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds after failed attempt number `attempt` (1, 2, ...) before the next one."""
    return min(settings.webhook_backoff_cap, settings.webhook_backoff_base * 2 ** (attempt - 1))


def now() -> datetime:
    return datetime.now(timezone.utc)


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


class Notifier:
    def __init__(self, settings: Settings, api: Engine, projections, *, now: Callable[[], datetime] = now):
        self.settings, self.api, self.projections, self.now = settings, api, projections, now
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="govshare-webhooks", daemon=True)
        self._workers: dict[int, threading.Thread] = {}  # subscription id -> its worker, while it works
        self._lock = threading.Lock()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        deadline = time.monotonic() + self.settings.webhook_timeout + 5
        if self.thread.is_alive():
            self.thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.round()
            except Exception as exc:  # the database away, a projection not there yet: next round
                log.warning("webhooks.round-failed", error=str(exc).splitlines()[0] if str(exc) else repr(exc))
            self.stopping.wait(self.settings.webhook_poll_seconds)

    def round(self) -> int:
        """Find new facts, then hand each subscription with deliveries due to its worker; how
        many workers were started."""
        self.find()
        return self.deliver()

    def find(self) -> None:
        with self.api.connect() as conn:
            subscriptions = conn.execute(select(api_subscriptions).where(api_subscriptions.c.active)).all()
        for sub in subscriptions:
            position = json.loads(sub.position)["trail"]
            with self.projections().connect() as read:
                found, scanned = facts.scan(read, sub.department, json.loads(sub.kinds), position)
            if scanned == position:
                continue
            with self.api.begin() as conn:
                for fact in found:
                    mine = (api_deliveries.c.subscription_id == sub.id) & (api_deliveries.c.event_id == fact.id)
                    if conn.execute(select(api_deliveries.c.id).where(mine)).first() is None:
                        conn.execute(insert(api_deliveries).values(
                            subscription_id=sub.id, event_id=fact.id, kind=fact.kind,
                            cloudevent=json.dumps(fact.cloudevent(source(self.settings)), ensure_ascii=False),
                            status="pending", attempts=0, next_attempt_at=self.now(), created_at=self.now()))
                conn.execute(update(api_subscriptions).where(api_subscriptions.c.id == sub.id)
                             .values(position=json.dumps({"trail": scanned})))

    def _due(self, subscription_id: int | None = None):
        found = (select(api_deliveries, api_subscriptions.c.url)
                 .join(api_subscriptions, api_subscriptions.c.id == api_deliveries.c.subscription_id)
                 .where(api_subscriptions.c.active, api_deliveries.c.status == "pending",
                        api_deliveries.c.next_attempt_at <= self.now()))
        if subscription_id is not None:
            found = found.where(api_deliveries.c.subscription_id == subscription_id)
        return found

    def deliver(self) -> int:
        """Start a worker for each subscription with deliveries due and none working already."""
        with self.api.connect() as conn:
            due = conn.execute(select(self._due().subquery().c.subscription_id).distinct()).scalars().all()
        started = 0
        with self._lock:
            for subscription_id in sorted(due):
                if subscription_id in self._workers or self.stopping.is_set():
                    continue
                worker = threading.Thread(target=self._work, args=(subscription_id,), daemon=True,
                                          name=f"govshare-webhooks-{subscription_id}")
                self._workers[subscription_id] = worker
                worker.start()
                started += 1
        return started

    def _work(self, subscription_id: int) -> None:
        """One subscription's queue: its due deliveries, batch after batch, until none is due."""
        try:
            while not self.stopping.is_set() and self.deliver_to(subscription_id):
                pass
        except Exception as exc:  # the database away: the next round starts this worker again
            log.warning("webhooks.worker-failed", subscription=subscription_id,
                        error=str(exc).splitlines()[0] if str(exc) else repr(exc))
        finally:
            with self._lock:
                self._workers.pop(subscription_id, None)

    def deliver_to(self, subscription_id: int) -> int:
        """Try a subscription's due deliveries one after the other, the earliest due first (a
        tie in order of recording); how many were tried."""
        with self.api.connect() as conn:
            due = conn.execute(self._due(subscription_id)
                               .order_by(api_deliveries.c.next_attempt_at, api_deliveries.c.id).limit(BATCH)).all()
        tried = 0
        for delivery in due:
            if self.stopping.is_set():
                break
            self._attempt(delivery)
            tried += 1
        return tried

    def secrets(self, subscription_id: int) -> list[str]:
        """The secrets that sign a subscription's deliveries now: the newest first, then any it
        replaced whose grace period has not ended."""
        at = self.now()
        with self.api.connect() as conn:
            rows = conn.execute(select(api_webhook_secrets.c.secret, api_webhook_secrets.c.expires_at)
                                .where(api_webhook_secrets.c.subscription_id == subscription_id,
                                       or_(api_webhook_secrets.c.expires_at.is_(None),
                                           api_webhook_secrets.c.expires_at > at))
                                .order_by(api_webhook_secrets.c.id.desc())).all()
        # Compared here too: SQLite keeps the instants as text, which compares by its spelling.
        return [r.secret for r in rows if r.expires_at is None or aware(r.expires_at) > at]

    def _attempt(self, delivery) -> None:
        at = self.now()
        status, error = post(delivery.url, json.loads(delivery.cloudevent), self.settings.webhook_timeout,
                             secrets=self.secrets(delivery.subscription_id), at=at)
        number = delivery.attempts + 1
        at = self.now()
        if status is not None and 200 <= status < 300:
            outcome, retry = "delivered", None
        elif number >= self.settings.webhook_attempts:
            outcome, retry = "failed", None
        else:
            outcome, retry = "pending", at + timedelta(seconds=backoff(self.settings, number))
        with self.api.begin() as conn:
            conn.execute(insert(api_attempts).values(
                delivery_id=delivery.id, attempt=number, status_code=status, error=error,
                attempted_at=at, next_attempt_at=retry))
            conn.execute(update(api_deliveries).where(api_deliveries.c.id == delivery.id).values(
                status=outcome, attempts=number, next_attempt_at=retry or at))
        log.info("webhooks.attempt", delivery=delivery.id, url=delivery.url, attempt=number,
                 status=status, error=error, outcome=outcome)


def post(url: str, event: dict, timeout: float, *, secrets: Iterable[str] = (),
         at: datetime | None = None) -> tuple[int | None, str | None]:
    """POST `event` in the CloudEvents HTTP binary mode: its attributes as ce-* headers, its
    data as the body, signed with `secrets` as sent `at` (web/signing.py); (HTTP status, None)
    or (status or None, why it failed)."""
    headers = {f"ce-{k}": _header(str(v)) for k, v in event.items() if k not in ("data", "datacontenttype")}
    headers["Content-Type"] = event.get("datacontenttype", "application/json")
    body = json.dumps(event.get("data"), ensure_ascii=False).encode()
    # The message id is the CloudEvent's (ce-id), as sent: the same on every retry of it.
    headers.update(signing.headers(headers["ce-id"], int((at or now()).timestamp()), body, secrets))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as answer:
            return answer.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"
    except (OSError, ValueError) as exc:  # refused, unreachable, timed out, a bad URL
        reason = getattr(exc, "reason", None) or exc
        return None, str(reason) or type(exc).__name__


# The HTTP binding, 3.1.3.2: space, '"', '%' and anything outside printable ASCII in a ce-*
# header are percent-encoded (an entry id may be Chinese).
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


def _header(value: str) -> str:
    return urllib.parse.quote(value, safe=_HEADER_SAFE)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery: the URL registered is the one posted to
    (following one would turn the POST into a GET elsewhere)."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)
