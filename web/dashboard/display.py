"""How the dashboard shows each value, one place for each kind: instants on Beijing time, a
limit as its last day, departments by name, codes by their label in the reader's language
(web/i18n.py), identifiers as codes. A column's kind is named once here (`COLUMNS`), and every
list, story and export renders a cell through `cell` or `text`."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from infra import output
from projections.queries import utc
from web import directory, i18n

# Supervisors read times in the platform's zone (the common profile's: Beijing time) whatever
# zone the server runs in; the zone is said once on every page rather than after every time.
ZONE = output.platform_zone()

# What each column holds, for every view that has it (projections/views.py).
COLUMNS: dict[str, str] = {
    **dict.fromkeys(("status",), "status"),
    **dict.fromkeys(("kind",), "kind"),
    **dict.fromkeys(("action",), "action"),
    **dict.fromkeys(("path",), "path"),
    **dict.fromkeys(("outcome",), "Outcome"),
    **dict.fromkeys(("share_type",), "ShareType"),
    **dict.fromkeys(("rejected_event_type", "event_type"), "event"),
    **dict.fromkeys(("rule",), "rule"),
    **dict.fromkeys(("violations",), "violations"),
    **dict.fromkeys(("party", "requester", "provider", "grantee", "department", "attempted_by_department",
                     "reporter", "actor_department", "recipient", "claimed_department"), "department"),
    **dict.fromkeys(("next_actor", "escalated_to"), "actor"),
    **dict.fromkeys(("due_at", "valid_until", "previous_due_at"), "due"),
    **dict.fromkeys(("recorded_at", "reported_at", "resolved_at", "submitted_at", "listed_at", "occurred_at",
                     "opened_at", "updated_at", "registered_at", "closed_at", "decided_at", "warned_at",
                     "warn_at", "met_at", "signed_at", "expired_at"), "instant"),
    **dict.fromkeys(("article",), "article"),
    **dict.fromkeys(("items", "records", "fields"), "list"),
    **dict.fromkeys(("provisional", "due_provisional"), "flag"),
    **dict.fromkeys(("policy_id", "formula"), "code"),
    **dict.fromkeys(("request_id", "entry_id", "objection_id", "subject_id", "access_id", "deadline_id",
                     "grant_id", "aggregate_id", "id", "source"), "code"),
    **dict.fromkeys(("score",), "score"),
    **dict.fromkeys(("period",), "code"),
}


# A column whose codes come from more than one list: the first list that has the code names it
# (an objection's kind is a problem's, a deadline's the duty's).
CONTEXTS = {"kind": ("kind", "ProblemKind"), "Outcome": ("Outcome", "DisputeOutcome")}


def labelled(contexts: tuple[str, ...], value, jurisdiction: str | None = None) -> str:
    """A code's label from the first of `contexts` whose catalog has it."""
    language = i18n.current()
    context = next((c for c in contexts if i18n.has_label(language, c, str(value))), contexts[0])
    return i18n.label(context, value, jurisdiction)


def local_time(value: datetime | str | None) -> str:
    """`2026-11-21 14:05` on Beijing time, for an instant (aware, naive UTC from SQLite, or ISO
    text); a dash for none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc(value).astimezone(ZONE).strftime("%Y-%m-%d %H:%M")


def last_day(due_at: datetime | str | None) -> str:
    """A limit as the day it falls on (a limit ends at the start of the next day, Beijing time:
    the last day to act is the day before that instant)."""
    if due_at is None or due_at == "":
        return "—"
    if isinstance(due_at, str):
        due_at = datetime.fromisoformat(due_at)
    day = (utc(due_at).astimezone(ZONE) - timedelta(microseconds=1)).date()
    return i18n.gettext("by %(month)s/%(day)s/%(year)s") % {"year": day.year, "month": day.month, "day": day.day}


def department_name(department: str | None) -> str:
    """The department's name from the directory (its id where the directory does not list it)."""
    if not department:
        return "—"
    found = directory.current().get(department)
    return found.name if found else department


def _authority_of(policy_id: str) -> str | None:
    return next((d.id for d in directory.current().values() if d.authority and d.policy_id == policy_id), None)


def actor(value: str | None) -> Markup:
    """Who acts next on a request: a department, or the role the projection names."""
    if not value:
        return Markup("—")
    if value.startswith("data authority (") and value.endswith(")"):
        found = _authority_of(value[len("data authority ("):-1])
        return department(found) if found else Markup(escape(i18n.label("actor", "data authority")))
    if value == "requester (may dispute)":
        return Markup(escape(i18n.label("actor", value)))
    if value == "leadership group":
        return Markup(escape(i18n.label("actor", value)))
    return department(value)


def person(name: str | None, role: str | None = None) -> Markup:
    """Who acted: a person's name as given (a name, not translated), or govshare's own stage."""
    if role == "SYSTEM":
        return Markup(escape(i18n.label("stage", name)))
    return Markup(f'<span class="name" translate="no">{escape(name or "—")}</span>')


def department(value: str | None) -> Markup:
    """A department by name, its id beside it, leading to its scorecard."""
    if not value:
        return Markup("—")
    if value not in directory.current():  # a party outside the directory (a third party): its name as given
        return Markup(f'<span class="name" translate="no">{escape(value)}</span>')
    return Markup(f'<a class="department" href="/dashboard/scorecards/{escape(value)}">{escape(department_name(value))}</a>'
                  f' <code class="id">{escape(value)}</code>')


def score_text(score: float | None) -> str:
    """A score as people write it (100, 47.5); a dash where nothing weighed was due."""
    return "—" if score is None else f"{round(score, 1):g}"


def _listed(value) -> list:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return list(value or [])


def cell(column: str, value, row: dict | None = None) -> Markup:
    """One table cell's content for `column` (escaped: titles and reasons come from publishers)."""
    kind = COLUMNS.get(column)
    if value is None or value == "" or value == []:
        return Markup("—")
    if kind == "status":
        overdue = bool(row and row.get("overdue"))
        badge = f' <span class="tag overdue">{escape(i18n.label("status", "breached"))}</span>' if overdue else ""
        return Markup(f'<span class="tag {escape(value)}">{escape(i18n.label("status", value))}</span>{badge}')
    if kind in ("kind", "action", "path", "Outcome", "ShareType", "event", "rule"):
        jurisdiction = row.get("policy_id") if row and kind == "ShareType" else None
        return Markup(f'<span class="label">{escape(labelled(CONTEXTS.get(kind, (kind,)), value, jurisdiction))}</span>')
    if kind == "violations":
        return Markup("、".join(escape(i18n.label("violation", v)) for v in _listed(value)))
    if kind == "department":
        return department(value)
    if kind == "actor":
        return actor(value)
    if kind == "due":
        return Markup(f'<span class="due">{escape(last_day(value))}</span>')
    if kind == "instant":
        return Markup(f'<span class="time">{escape(local_time(value))}</span>')
    if kind == "article":
        return Markup(f'<code class="article">{escape(value)}</code>')
    if kind == "list":
        return Markup("、".join(f'<code class="id">{escape(v)}</code>' for v in _listed(value)))
    if kind == "flag":
        return Markup(escape(i18n.gettext("provisional") if value else "—"))
    if kind == "score":
        return Markup(escape(score_text(value)))
    if kind == "code":
        return Markup(f'<code class="id">{escape(value)}</code>')
    return Markup(escape(value))


def text(column: str, value, row: dict | None = None) -> str:
    """A cell as plain text (a CSV export): labels and names, not codes; instants on Beijing
    time with the zone, as a spreadsheet has no page to say it."""
    kind = COLUMNS.get(column)
    if value is None or value == "":
        return ""
    if kind in ("status", "kind", "action", "path", "Outcome", "ShareType", "event", "rule"):
        return labelled(CONTEXTS.get(kind, (kind,)), value)
    if kind == "violations":
        return "、".join(i18n.label("violation", v) for v in _listed(value))
    if kind == "department":
        return f"{department_name(value)} ({value})"
    if kind == "actor":
        return str(actor(value).striptags())
    if kind == "due":
        return last_day(value)
    if kind == "instant":
        return local_time(value) + " +08:00"
    if kind == "list":
        return "、".join(str(v) for v in _listed(value))
    if kind == "score":
        return score_text(value)
    return str(value)


def pretty(value) -> str:
    """A value as JSON with its Chinese as written (not \\u escapes), for a detail shown raw."""
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


# What a payload field holds, where it is a code with a label (events/*.py's enums): the
# contexts to look in, first one that has the code (an objection's kind is a problem's, a
# deadline's the duty's).
FIELDS = {"share_type": ("ShareType",), "method": ("ShareMethod",), "share_methods": ("ShareMethod",),
          "outcome": ("Outcome", "DisputeOutcome"), "kind": ("ProblemKind", "kind", "LegalBasisKind"),
          "trigger": ("ChangeTrigger",),
          "channel": ("Channel",), "open_type": ("OpenType",), "base_resource": ("BaseResource",),
          "day_kind": ("DayKind",), "violations": ("violation",), "role": ("Role",), "roles": ("Role",),
          "subject_type": ("aggregate",), "rule": ("rule",), "rejected_event_type": ("event",),
          "rejected_aggregate_type": ("aggregate",)}
# Fields whose values are identifiers, hashes or keys: shown as codes, never translated.
CODES = {"escalates", "fulfilled_by", "origin", "leaf_hash", "root_hash", "chain_head", "signature", "public_key",
         "code", "attempted_key_id", "data_version", "records", "fields", "items", "removed", "data_type",
         "security_level"}


def field(name: str, value) -> Markup:
    """One field of an event's payload, labelled in the story: codes by their label, instants on
    Beijing time, nested records as fields of their own, lists joined, identifiers as codes."""
    if isinstance(value, dict):
        inner = "".join(f"<dt>{escape(i18n.label('field', k))}</dt><dd>{field(k, v)}</dd>"
                        for k, v in value.items() if v not in (None, "", [], {}))
        return Markup(f'<dl class="fields nested">{inner}</dl>')
    if isinstance(value, (list, tuple)):
        return Markup("；".join(str(field(name, v)) for v in value))
    if name in FIELDS:
        return Markup(escape(labelled(FIELDS[name], value)))
    if name in CODES or name.endswith("_id"):
        return Markup(f'<code class="id">{escape(value)}</code>')
    if isinstance(value, bool):
        return Markup(escape(i18n.gettext("yes") if value else i18n.gettext("no")))
    if name in COLUMNS:
        return cell(name, value)
    if isinstance(value, datetime) or (isinstance(value, str) and _instant(value)):
        return Markup(f'<span class="time">{escape(local_time(value))}</span>')
    return Markup(escape(value))


def _instant(text: str) -> bool:
    if len(text) < 19 or text[4] != "-" or "T" not in text:
        return False
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def version_note(note: str | None) -> Markup:
    """Why a catalog entry's version was made, as the projection notes it: nothing more to say
    for a registration (its event says it), the revision approved, or the provider's reason."""
    if not note or note == "registered":
        return Markup("")
    if note.startswith("revision ") and note.endswith(" approved"):
        revision = note[len("revision "):-len(" approved")]
        return Markup(f'{escape(i18n.gettext("revision approved"))} <code class="id">{escape(revision)}</code>')
    return Markup(escape(note))
