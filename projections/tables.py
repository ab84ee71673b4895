"""The projection database's tables. Only projections write them; queries only read."""
from __future__ import annotations

from sqlalchemy import (
    Boolean,
    DDL,
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)

metadata = MetaData()


def _when(name: str, **kw) -> Column:
    return Column(name, DateTime(timezone=True), **kw)


event_log = Table(
    "event_log", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", Integer, nullable=False),
    Column("event_type", String(100), nullable=False, index=True),
    Column("aggregate_type", String(64), nullable=False),
    Column("aggregate_id", String(200), nullable=False, index=True),
    Column("sequence", Integer, nullable=False),
    _when("occurred_at", nullable=False),
    _when("recorded_at", index=True),
    Column("actor_department", String(100), nullable=False, index=True),
    Column("actor_person", String(200), nullable=False),
    Column("actor_role", String(32), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("correlation_id", String(36), nullable=False),
    Column("causation_id", String(36)),
    Column("source", String(255), nullable=False),
    Column("record", LargeBinary, nullable=False),  # govshare.Envelope Avro bytes, payload included
    UniqueConstraint("aggregate_type", "aggregate_id", "sequence"),
)

catalog_entries = Table(
    "catalog_entries", metadata,
    Column("entry_id", String(200), primary_key=True),
    Column("title", String(500), nullable=False),
    Column("provider", String(100), nullable=False, index=True),
    Column("policy_id", String(64), nullable=False),
    Column("share_type", String(32), nullable=False, index=True),
    # Its open type (开放属性): the open catalog is the entries whose data is open (Ningbo Art. 22).
    Column("open_type", String(32), index=True),
    Column("status", String(32), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("pending_revision_id", String(200)),
    _when("registered_at", nullable=False),
    _when("updated_at", nullable=False),
    # Where and when its data was aggregated to the platform, and last refreshed there.
    Column("aggregated_to", String(200)),
    _when("aggregated_at"),
    _when("refreshed_at"),
    # The security risk assessment of opening it to the public (OpenDataRiskAssessed), if any.
    Column("open_risk_assessment", String(200)),
)

catalog_entry_versions = Table(
    "catalog_entry_versions", metadata,
    Column("entry_id", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("actor_department", String(100), nullable=False),
    Column("actor_person", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Column("attributes", Text, nullable=False),
    _when("recorded_at", nullable=False),
)

catalog_revisions = Table(
    "catalog_revisions", metadata,
    Column("entry_id", String(200), primary_key=True),
    Column("revision_id", String(200), primary_key=True),
    # A revision id may be submitted again after its rejection: each submission is its own row.
    Column("sequence", Integer, primary_key=True, autoincrement=False),
    Column("status", String(32), nullable=False),
    Column("obligation_id", String(200)),
    Column("attributes", Text, nullable=False),
    Column("decision_note", Text, nullable=False, default=""),
    _when("submitted_at", nullable=False),
    _when("decided_at"),
)

catalog_obligations = Table(
    "catalog_obligations", metadata,
    Column("entry_id", String(200), primary_key=True),
    Column("obligation_id", String(200), primary_key=True),
    Column("trigger", String(32), nullable=False),
    Column("reference", Text, nullable=False),
    Column("received_on", String(10), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("extensions_granted", Integer, nullable=False, default=0),
    Column("extension_requested", Integer, nullable=False, default=0),
    _when("raised_at", nullable=False),
    _when("closed_at"),
)

rejections = Table(
    "rejections", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("rejected_event_id", String(36), nullable=False, index=True),
    Column("rejected_event_type", String(100), nullable=False),
    Column("aggregate_type", String(64), nullable=False),
    Column("aggregate_id", String(200), nullable=False, index=True),
    Column("rule", String(100), nullable=False, index=True),
    Column("article", String(200), nullable=False),
    Column("message", Text, nullable=False),
    Column("policy_id", String(64), nullable=False),
    _when("recorded_at", nullable=False, index=True),
    # Who tried (the refusal's own actor, in event_log, is the validator); null in rejections
    # recorded before EventRejected carried them.
    Column("attempted_by_department", String(100), index=True),
    Column("attempted_by_person", String(200), index=True),
    Column("attempted_by_role", String(32)),
    Column("attempted_key_id", String(100)),
    # Who tried is the department whose registered key signed the refused event, where one did;
    # the department the event named instead, if another, is kept here (projections/sealed.py).
    Column("claimed_department", String(100)),
)

dead_letters = Table(
    "dead_letters", metadata,
    Column("id", String(300), primary_key=True),
    Column("source", String(300), nullable=False),
    Column("reason", Text, nullable=False),
    Column("event_id", String(100)),  # the ce_id header, when the bytes had one
    Column("value", LargeBinary),
    Column("headers", Text, nullable=False),
    _when("recorded_at", nullable=False),
    Column("record", LargeBinary, nullable=False),  # govshare.DeadLetter Avro: what the trail hashes
)

# The audit trail: event_log and dead_letters hold each record's bytes; these two tables hold
# the order and hashes the notary signed. Nothing updates or deletes a row of any of the four
# (see APPEND_ONLY below); `govshare verify` recomputes them all.
trail_entries = Table(
    "trail_entries", metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", String(300), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # ACCEPTED | REJECTED | DEAD_LETTERED
    Column("leaf_hash", LargeBinary, nullable=False),  # SHA-256(0x00 || record), RFC 9162
    Column("chain_hash", LargeBinary, nullable=False),  # SHA-256(previous chain_hash || leaf_hash)
    Column("checkpoint_size", BigInteger, nullable=False),  # the checkpoint that appended it
)

trail_checkpoints = Table(
    "trail_checkpoints", metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("previous_size", BigInteger, nullable=False),
    Column("origin", String(200), nullable=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("chain_head", LargeBinary, nullable=False),
    _when("signed_at", nullable=False, index=True),
    Column("key_id", String(32), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("event_id", String(36), nullable=False, unique=True),
)

# Checkpoints read before every record they cover was projected (the records come on other
# topics, in no fixed order relative to the trail topic) wait here, so the trail never names a
# record the database does not hold yet.
trail_pending = Table(
    "trail_pending", metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False),
    Column("payload", LargeBinary, nullable=False),  # the TrailCheckpointed payload as published
)

APPEND_ONLY = (event_log, dead_letters, trail_entries, trail_checkpoints)

deadlines = Table(
    "deadlines", metadata,
    Column("deadline_id", String(64), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("subject_type", String(64), nullable=False),
    Column("subject_id", String(200), nullable=False, index=True),
    Column("obligation_id", String(200)),
    Column("party", String(100), nullable=False, index=True),
    Column("policy_id", String(64), nullable=False),
    Column("article", String(300), nullable=False),
    Column("started_on", String(10), nullable=False),
    _when("due_at", nullable=False, index=True),
    _when("warn_at"),
    Column("status", String(16), nullable=False, index=True),
    Column("extensions", Integer, nullable=False, default=0),
    Column("escalates", String(64)),
    _when("warned_at"),
    _when("closed_at"),
    # due_at counted days beyond the official working-day schedule: it may still move.
    Column("provisional", Boolean, nullable=False, default=False),
)

supervision_actions = Table(
    "supervision_actions", metadata,
    Column("event_id", String(36), primary_key=True),
    # usage-violation | usage-corrected | rectification-ordered | criticism-circulated
    Column("action", String(32), nullable=False),
    Column("party", String(100), nullable=False, index=True),
    Column("deadline_id", String(64), nullable=False),
    Column("article", String(300), nullable=False),
    _when("due_at"),
    _when("recorded_at", nullable=False, index=True),
)

objections = Table(
    "objections", metadata,
    Column("objection_id", String(200), primary_key=True),
    Column("entry_id", String(200), nullable=False, index=True),
    Column("reporter", String(100), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("records", Text, nullable=False),
    Column("fields", Text, nullable=False),
    Column("expected", Text, nullable=False),
    Column("urgent", Integer, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("outcome", String(32), index=True),
    Column("note", Text),
    Column("round", Integer, nullable=False),
    Column("total_natural_days", Integer),
    _when("reported_at", nullable=False, index=True),
    _when("resolved_at"),
    _when("closed_at"),
)

data_versions = Table(
    # One data version may correct the problems of several objections at once.
    "data_versions", metadata,
    Column("entry_id", String(200), primary_key=True),
    Column("data_version", String(100), primary_key=True),
    Column("objection_id", String(200), primary_key=True),
    Column("records", Text, nullable=False),
    Column("fields", Text, nullable=False),
    Column("event_id", String(36), nullable=False),
    _when("recorded_at", nullable=False),
)

share_requests = Table(
    "share_requests", metadata,
    Column("request_id", String(200), primary_key=True),
    Column("entry_id", String(200), nullable=False, index=True),
    Column("requester", String(100), nullable=False, index=True),
    Column("policy_id", String(64), nullable=False),
    # requested (until the route shows) | auto | conditional | desensitized
    Column("path", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("next_actor", String(100)),
    Column("items", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("scenario", Text, nullable=False),
    Column("method", String(32), nullable=False),
    Column("period_end", String(10), nullable=False),
    Column("provider_answer", String(16)),
    Column("reasons", Text),
    _when("submitted_at", nullable=False, index=True),
    _when("decided_at"),
    # The security assessment that lets its data go abroad (CrossBorderAssessed), if any.
    Column("cross_border_assessment", String(200)),
    # The assessment that lets its data land at the user by exchange (ExchangeAssessed), if any.
    Column("exchange_assessment", String(200)),
)

grants = Table(
    "grants", metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("request_id", String(200), nullable=False, unique=True),
    Column("entry_id", String(200), nullable=False),
    Column("grantee", String(100), nullable=False, index=True),
    Column("items", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("scenario", Text, nullable=False),
    Column("method", String(32), nullable=False),
    Column("desensitized", Integer, nullable=False),
    Column("automatic", Integer, nullable=False),
    _when("valid_until", nullable=False),
    Column("status", String(16), nullable=False, index=True),
    _when("opened_at", nullable=False, index=True),
    _when("closed_at"),
)

accesses = Table(
    "accesses", metadata,
    Column("access_id", String(200), primary_key=True),
    Column("grant_id", String(64), index=True),
    Column("department", String(100), nullable=False, index=True),
    Column("entry_id", String(200), nullable=False),
    Column("items", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("recipient", String(100), nullable=False),
    Column("person", String(200), nullable=False),
    Column("method", String(32)),  # null for a version-1 access, which did not state it
    Column("scenario", Text),
    _when("occurred_at", nullable=False, index=True),
    Column("abroad", Boolean),  # provided abroad (version 3); null before it was stated
)

usage_violations = Table(
    # Kept apart from `accesses`: the flag and the access are different aggregates and may be
    # projected in either order, so neither updates the other's row.
    "usage_violations", metadata,
    Column("access_id", String(200), primary_key=True),
    Column("violations", Text, nullable=False),  # JSON list
    Column("article", String(300), nullable=False),
    _when("recorded_at", nullable=False),
)

problems = Table(
    "problems", metadata,
    Column("request_id", String(200), primary_key=True),
    Column("entry_id", String(200), nullable=False),
    Column("requester", String(100), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("escalated_to", String(100), nullable=False),
    _when("listed_at", nullable=False),
    # The leadership group's decision (LeadershipDecided): None while the problem waits for it.
    Column("outcome", String(32)),
    _when("decided_at"),
)

incidents = Table(
    # Security incidents as their departments reported them (events/incident.py): what was
    # admitted (users not told) is kept as said, for supervision to read.
    "incidents", metadata,
    Column("incident_id", String(200), primary_key=True),
    Column("department", String(100), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("entries", Text, nullable=False),  # JSON list of entry ids
    Column("remedies", Text, nullable=False),
    Column("users_informed", Boolean, nullable=False),
    Column("reported_to", String(200), nullable=False),
    _when("reported_at", nullable=False),
)

scorecard_facts = Table(
    # One row per fact a department is scored on (a deadline met or breached, a sanction, a
    # usage violation), with the month, quarter and year it counts in, in the department's
    # jurisdiction's zone: the scorecards are these rows counted (projections/scorecards.py),
    # so each count can be traced to its events and a new weighting needs no rebuild.
    "scorecard_facts", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("department", String(100), nullable=False),
    # met | breached | rectification | criticism | usage-violation | incident | incident-uninformed
    Column("fact", String(32), nullable=False),
    Column("kind", String(64)),  # the deadline's kind, for met and breached
    Column("subject_id", String(200), nullable=False),  # the deadline, or the access flagged
    _when("at", nullable=False),
    Column("month", String(7), nullable=False),  # 2026-11
    Column("quarter", String(7), nullable=False),  # 2026-Q4
    Column("year", String(4), nullable=False),  # 2026
)
for _period in ("month", "quarter", "year"):
    Index(f"ix_scorecard_facts_department_{_period}", scorecard_facts.c.department,
          scorecard_facts.c[_period])


departments = Table(
    # The department directory as its events made it (events/directory.py): the one directory
    # the supervisors' views, the API's scoping and the scorecards read. Seeded from the file
    # govshare started with (policies/departments.toml) while no event has filled it.
    "departments", metadata,
    Column("department_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("roles", String(200), nullable=False),  # comma-separated
    Column("authority", Boolean, nullable=False),
    _when("changed_at"),  # None: as seeded
)


def _append_only(table: Table) -> None:
    """The database itself refuses to change a trail record: a reader, a bug or an operator's
    slip cannot rewrite history, and one who drops the guard is caught by `govshare verify`."""
    name = table.name
    message = f"{name} is append-only: the audit trail is never changed"
    for when in ("UPDATE", "DELETE"):
        event.listen(table, "after_create", DDL(
            f"CREATE TRIGGER {name}_no_{when.lower()} BEFORE {when} ON {name} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END").execute_if(dialect="sqlite"))
    event.listen(table, "after_create", DDL(
        "CREATE OR REPLACE FUNCTION govshare_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION '%% is append-only: the audit trail is never changed', "
        "TG_TABLE_NAME; END $$").execute_if(dialect="postgresql"))
    event.listen(table, "after_create", DDL(
        f"CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {name} "
        f"FOR EACH ROW EXECUTE FUNCTION govshare_append_only()").execute_if(dialect="postgresql"))
    event.listen(table, "after_create", DDL(
        f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION govshare_append_only()").execute_if(dialect="postgresql"))


for _table in APPEND_ONLY:
    _append_only(_table)

# Supervisor views filter by status and page in a fixed order: with the pair indexed, a page
# is read in order instead of sorting every match (bench.rebuild: the published catalog page
# at a million events went from 27 ms to 3 ms on SQLite).
for _table, _order in ((catalog_entries, "entry_id"), (share_requests, "submitted_at"),
                       (grants, "opened_at"), (deadlines, "due_at"), (objections, "reported_at")):
    Index(f"ix_{_table.name}_status_{_order}", _table.c.status, _table.c[_order])

entrustments = Table(
    # Contractors the data authorities approved departments to entrust with shared data
    # (events/entrustment.py): an access naming one as its recipient is no third party's.
    "entrustments", metadata,
    Column("entrustment_id", String(200), primary_key=True),
    Column("department", String(100), nullable=False, index=True),
    Column("contractor", String(200), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("reference", String(200), nullable=False),
    Column("valid_until", Date, nullable=False),
    Column("approved_by", String(100), nullable=False),
    _when("approved_at", nullable=False),
    Column("kind", String(16)),  # ENTRUSTED or COOPERATION
)

uncatalogued_requests = Table(
    # Requests for data outside the catalog (events/uncatalogued.py), to the department named
    # as holding it, with its answer.
    "uncatalogued_requests", metadata,
    Column("request_id", String(200), primary_key=True),
    Column("requester", String(100), nullable=False, index=True),
    Column("holder", String(100), nullable=False, index=True),
    Column("description", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | provided | refused
    Column("reasons", Text),
    Column("entry_id", String(200)),
    _when("requested_at", nullable=False),
    _when("answered_at"),
)

data_conflicts = Table(
    # Conflicting values between two providers' entries (events/conflict.py): negotiated by the
    # providers, or referred to and coordinated by their data authority.
    "data_conflicts", metadata,
    Column("conflict_id", String(200), primary_key=True),
    Column("entry_id", String(200), nullable=False),
    Column("other_entry_id", String(200), nullable=False),
    Column("reported_by", String(100), nullable=False),
    Column("items", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | negotiated | referred | coordinated
    Column("outcome", Text),  # the agreement, the referral's reason, then the authority's decision
    _when("reported_at", nullable=False),
    _when("settled_at"),
)

system_projects = Table(
    # New information systems' projects (events/project.py), with the catalog entries of their
    # data and the data authority's review.
    "system_projects", metadata,
    Column("project_id", String(200), primary_key=True),
    Column("department", String(100), nullable=False, index=True),
    Column("system", String(200), nullable=False),
    Column("entries", Text, nullable=False),  # JSON list of entry ids
    Column("status", String(16), nullable=False),  # submitted | approved | refused
    Column("opinion", Text),
    Column("reviewed_by", String(100)),
    _when("submitted_at", nullable=False),
    _when("reviewed_at"),
)

open_data_applications = Table(
    # Applications for conditionally open data (events/opendata.py), with the provider's
    # assessment and the authority's decision.
    "open_data_applications", metadata,
    Column("application_id", String(200), primary_key=True),
    Column("entry_id", String(200), nullable=False, index=True),
    Column("applicant", String(200), nullable=False),
    Column("applicant_kind", String(16), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("scenario", Text, nullable=False),
    Column("status", String(16), nullable=False),  # submitted | approved | refused
    Column("provider_agrees", Boolean),
    Column("agreement", String(200)),
    Column("reasons", Text),
    Column("submitted_by", String(100), nullable=False),
    _when("submitted_at", nullable=False),
    _when("decided_at"),
)
