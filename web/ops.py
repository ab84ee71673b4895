"""The operator's endpoints: /healthz (the process answers), /readyz (every stage joined and
caught up), /metrics (Prometheus text, counted from the projections and the log at each scrape)."""
from __future__ import annotations

from datetime import datetime, timezone

from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from infra.system import SYSTEM

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="200 while the process is up")
def healthz():
    return {"status": "ok"}


@router.get("/readyz", summary="200 once every stage has joined and caught up, else 503 naming which")
def readyz(request: Request):
    from infra.health import report
    settings = request.app.state.settings
    try:
        stages = {s["stage"]: s for s in report(settings)["stages"]}
        # Each grouped stage's consumer group: its process's, as the deployment places them.
        group = {name: settings.consumer_group(process) for process in settings.placement()
                 for name in process.stages if SYSTEM.stage(name).grouped}
        joined = _joined(request.app.state.kafka(), sorted(set(group.values())))
    except (Exception, SystemExit) as exc:  # no broker yet, no database yet: not ready, and why
        return JSONResponse({"ready": False, "error": f"{type(exc).__name__}: {exc}"}, status_code=503)
    lag_allowed = request.app.state.ready_lag
    waiting = []
    for name in SYSTEM.names:
        if name in group and not joined.get(group[name]):
            waiting.append({"stage": name, "reason": "its consumer group has no member yet"})
        elif stages[name]["lag"] > lag_allowed:
            waiting.append({"stage": name, "reason": f"{stages[name]['lag']} records behind the log"})
    body = {"ready": not waiting, "not_ready": waiting,
            "lag": {name: stages[name]["lag"] for name in SYSTEM.names}}
    return JSONResponse(body, status_code=200 if not waiting else 503)


def _joined(kafka: dict[str, str], groups: list[str]) -> dict[str, bool]:
    """Each group: has it a member holding partitions (the stage's process is in and assigned)?"""
    admin = AdminClient(kafka)
    found = {}
    for group, future in admin.describe_consumer_groups(groups, request_timeout=5).items():
        try:
            described = future.result()
        except Exception:
            found[group] = False
            continue
        # Stable: its members joined and hold their partitions (Tansu answers no member list,
        # so the state is what tells; a group nobody joined is EMPTY or DEAD).
        found[group] = described.state == ConsumerGroupState.STABLE
    return found


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request):
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(request.app.state))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _Scrape:
    """One scrape's numbers, read when Prometheus asks: nothing is counted in this process, so
    a restarted API, or two of them, report the same."""

    def __init__(self, state):
        self.state = state

    def collect(self):
        from infra.health import report
        from projections.queries import tallies
        found = tallies(self.state.projections())
        accepted = CounterMetricFamily("govshare_events_accepted", "events accepted, by type", labels=["type"])
        for kind, count in sorted(found["accepted"].items()):
            accepted.add_metric([kind], count)
        yield accepted
        rejected = CounterMetricFamily("govshare_events_rejected", "events refused, by type and rule",
                                       labels=["type", "rule"])
        for (kind, rule), count in sorted(found["rejected"].items()):
            rejected.add_metric([kind, rule], count)
        yield rejected
        yield CounterMetricFamily("govshare_dead_letters", "messages that could not be decoded",
                                  value=found["dead_lettered"])
        deadlines = GaugeMetricFamily("govshare_deadlines", "legal deadlines open (pending) and fallen "
                                      "due undone (overdue)", labels=["status"])
        for status, count in found["deadlines"].items():
            deadlines.add_metric([status], count)
        yield deadlines
        if found["signed_at"] is not None:
            yield GaugeMetricFamily("govshare_trail_checkpoint_age_seconds",
                                    "seconds since the newest signed trail checkpoint",
                                    value=(datetime.now(timezone.utc) - found["signed_at"]).total_seconds())
        try:
            stages = report(self.state.settings)["stages"]
        except (Exception, SystemExit):  # the log unreachable: the projections' numbers still count
            return
        lag = GaugeMetricFamily("govshare_consumer_lag", "records each stage has yet to read", labels=["stage"])
        parked = GaugeMetricFamily("govshare_parked", "events each stage set aside", labels=["stage"])
        for s in stages:
            lag.add_metric([s["stage"]], s["lag"])
            parked.add_metric([s["stage"]], s["parked"])
        yield lag
        yield parked
