"""The pipeline as a value (runtime/system.py, infra/system.py): the topology is derived from what
each stage declares it handles and emits, in one place, and nothing else may write it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from events.registry import all_kinds
from events.topics import Topics
from infra.system import SYSTEM
from processors.deadline_engine import Scheduler
from processors.grant_keeper import GrantKeeper
from projections.apply import handled

ROOT = Path(__file__).resolve().parent.parent
TOPICS = Topics("p")


def test_each_stage_reads_the_topics_of_the_classes_it_handles():
    assert SYSTEM.names == ("validator", "deadlines", "grants", "notary", "projector")
    assert set(SYSTEM.inputs("grants", TOPICS)) == {"p.events.share-request", "p.events.data-access", "p.events.entrustment",
                                                   "p.events.catalog-entry"}
    # The deadline engine acts on usage violations too: it reads the grant keeper's output.
    assert "p.events.usage-supervision" in SYSTEM.inputs("deadlines", TOPICS)
    assert SYSTEM.subscription("validator", TOPICS) == [TOPICS.inbox_pattern]
    assert SYSTEM.inputs("notary", TOPICS) == [t for t in SYSTEM.outputs(TOPICS) if t != TOPICS.trail]
    assert SYSTEM.inputs("projector", TOPICS) == SYSTEM.outputs(TOPICS)


def test_a_stage_is_subscribed_to_what_its_handlers_handle_and_filters_on_it():
    # One handler per event class: the classes are the handlers', and the filter follows them.
    for stage, cls in (("deadlines", Scheduler), ("grants", GrantKeeper)):
        assert set(SYSTEM.stage(stage).handles) == set(cls.handles())
        wanted = SYSTEM.wanted(stage)
        assert all(k.schema_name.encode() in wanted for k in all_kinds() if k.cls in cls.handles())
    assert SYSTEM.wanted("notary") is None and SYSTEM.wanted("validator") is None


def test_each_output_topic_has_one_writer_and_only_writers_sign():
    writers = SYSTEM.writers(TOPICS)
    assert writers[TOPICS.events("deadline")] == {"deadlines"}
    assert writers[TOPICS.events("grant")] == {"grants"}
    assert writers[TOPICS.trail] == {"notary"} and writers[TOPICS.dead_letters] == {"validator"}
    assert all(len(w) == 1 for w in writers.values())
    assert SYSTEM.signing_stages() == ("validator", "deadlines", "grants", "notary")


def test_every_event_a_department_publishes_or_a_stage_emits_has_a_read_model():
    projected = handled()
    missing = sorted(k.event_type for k in all_kinds() if k.cls not in projected)
    # Keys and dismissals are listed from the event log itself (projections/queries.directory,
    # .dismissals); the trail's checkpoints are held by the projector's trail path (projections/trail.py).
    assert missing == ["DepartmentKeyRegistered", "DepartmentKeyRevoked", "MessageDismissed", "TrailCheckpointed"]


def test_the_contract_names_no_stage():
    """events/ is the contract: which stage reads or writes what is the System's alone."""
    names = set(SYSTEM.names)
    for path in (ROOT / "events").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in names, (path.name, node.value)


def test_the_topology_describes_itself():
    text = SYSTEM.describe(TOPICS)
    assert "stage deadlines (consumer group, ticks)" in text and "stage notary (one per deployment)" in text
    assert "writes   p.trail" in text


# -- processes: which stages share an OS process and a consumer --------------------------------

def test_the_default_placement_runs_every_stage_once_in_three_processes():
    placed = SYSTEM.placement()
    assert [p.name for p in placed] == ["validator", "deadlines+grants", "notary+projector"]
    assert sorted(s for p in placed for s in p.stages) == sorted(SYSTEM.names)
    # Empty words: each stage alone, as a deployment that splits them all.
    assert [p.name for p in SYSTEM.placement(" ")] == list(SYSTEM.names)


def test_a_deployment_places_and_scales_its_processes():
    placed = SYSTEM.placement("validator*2;deadlines grants notary+projector")
    assert [(p.name, p.instances) for p in placed] == [
        ("validator", 2), ("deadlines", 1), ("grants", 1), ("notary+projector", 1)]


@pytest.mark.parametrize("words, problem", [
    ("validator deadlines+grants notary", "no process runs the projector stage"),
    ("validator deadlines+grants+validator notary+projector", "the validator stage is placed in two processes"),
    ("validator deadlines+notary grants projector", "one consumer cannot do both"),
    ("validator deadlines+grants notary+projector*2", "run once per deployment"),
    ("validator*0 deadlines+grants notary+projector", "runs at least once"),
    ("validator*two deadlines+grants notary+projector", "is no number"),
    ("validator deadline+grants notary+projector", "no stage 'deadline'"),
])
def test_a_placement_that_cannot_run_is_refused_with_the_reason(words, problem):
    with pytest.raises(ValueError, match=problem):
        SYSTEM.placement(words)


def test_each_stage_of_a_shared_process_is_handed_only_the_topics_it_reads():
    validator, grants, projector = (SYSTEM.reader(n, TOPICS) for n in ("validator", "grants", "projector"))
    assert validator(TOPICS.inbox("catalog-entry")) and validator(TOPICS.inbox("no-such-aggregate"))
    assert not validator(TOPICS.events("catalog-entry"))
    assert grants(TOPICS.events("share-request")) and not grants(TOPICS.trail)
    assert projector(TOPICS.trail) and not projector(TOPICS.inbox("catalog-entry"))
