"""`intelshare erase` on a real exchange: the subject's data key is destroyed, the agency that
received its data is notified, the erasure is in the audit log and found by subject, the
chain still verifies, and a raw byte scan of every topic finds neither the subject id nor a
string only its report's narrative held (issue 13, part B), but for the subject's reference
record until compaction.

One module-scoped exchange with one worker carries every assertion.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest
from kafka import TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from streams.cli.agencies import load_agencies
from streams.core.crypto import SubjectLinker
from streams.core.erasure import KeyLookup
from streams.core.keyfiles import generate_agency_keys, load_pseudonym_secret
from streams.core.purge import ROLL_KEY, STAGES
from streams.core.reference import parse_reference_line
from streams.errors import PipelineBehindError
from streams.kafka.clients import admin_client, consumer, latest_by_key
from streams.kafka.deadletters import dead_letters
from streams.kafka.erasure import commitment_of, erase
from streams.kafka.purge import roll_purged
from streams.kafka.registry import plan_agreements, publish_agreements, publish_reference
from streams.settings import Settings
from tests.factories import incident
from tests.integration.exchange import Exchange, agreement, facility, wait_until

pytestmark = pytest.mark.integration

SUBJECT = "KZ-P-ERASE-1"
CANARY = "canary-5d1f0c7e"
"""A string only the erased subject's narrative holds."""
RECEIVER, BYSTANDER = "e-one", "e-two"
STRANGER = "stranger-7b2e: a report about someone else, for a facility not loaded"

COMPACTED = "intel.ref.subjects"
"""The one topic that still names the subject right after an erasure: its reference record
and the tombstone keyed by its id, until the broker compacts them (``erase --roll``: minutes;
streams.core.erasure)."""


class Erased(NamedTuple):
    """The exchange, and what it held and printed around the erasure."""

    x: Exchange
    before: list[dict[str, Any]]
    """The audit log before the erasure."""
    commitment_before: str | None
    """The subject's commitment on intel.keys.commitments before the erasure, the one
    `audit query --subject --link-key` looks for (tests/integration/test_audit.py runs it)."""
    erase: Any
    """The completed `erase` command."""
    refused: PipelineBehindError
    """What `erase` raised when it ran before the worker had processed the reports."""
    letters: list[dict[str, Any]]
    """The dead letters after the erasure."""
    rolled: Rolled
    """What `erase --roll`'s step on the purged topics did, run after the erasure."""


class Rolled(NamedTuple):
    """The purged topics around :func:`roll_purged` (with a short settle, not the CLI's)."""

    markers: dict[str, dict[int, int]]
    """Per prefixed topic, each partition's marker offset."""
    starts: dict[str, dict[int, int]]
    """Per prefixed topic, each partition's log start offset afterwards."""
    firsts: dict[str, dict[int, tuple[bytes | None, bytes | None]]]
    """Per prefixed topic and partition, the key and value of its first record afterwards."""
    segment_ms: dict[str, dict[str, str]]
    """Per prefixed topic, its own config overrides afterwards."""
    processed: tuple[dict[str, int], dict[str, int]]
    """The agents' processed counts before and after."""
    letters: list[dict[str, Any]]
    """The dead letters afterwards."""
    running: bool
    """Whether the worker still ran afterwards."""


@pytest.fixture(scope="module")
def erased(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Erased]:
    """An exchange that disclosed one report about SUBJECT to RECEIVER twice (under E-1,
    pseudonymised, and E-3, ids in clear), then erased SUBJECT; BYSTANDER received only
    another report. An erasure tried before the worker started was refused. Two dead
    letters: a bystander's report (unknown facility), then bytes naming SUBJECT."""
    x = Exchange(kafka_bootstrap, tmp_path_factory.mktemp("erasure"), dict(os.environ))
    agencies = []
    for agency in (RECEIVER, BYSTANDER):  # one `reference load` registers both (and feeds)
        _, public = generate_agency_keys(x.home / "keys", agency)
        key = public.read_text().strip()
        agencies.append({"type": "agency", "agency_id": agency, "name": agency, "public_key": key})
    person = {"type": "subject", "subject_id": SUBJECT, "risk_level": "HIGH", "rftf": True}
    _set_up(
        x.settings,
        [facility("KZ-F-E1", "KZ"), facility("KZ-F-E2", "KZ"), person, *agencies],
        [
            agreement("E-1", RECEIVER, facilities=["KZ-F-E1"]),
            agreement("E-2", BYSTANDER, facilities=["KZ-F-E2"]),
            agreement("E-3", RECEIVER, facilities=["KZ-F-E1"]) | {"pseudonymise": []},
        ],
    )
    about = incident(
        facility_id="KZ-F-E1",
        subjects=[{"subject_id": SUBJECT, "role": "SUBJECT"}],
        narrative=f"{CANARY}: seen passing material in the library.",
    )
    other = incident(facility_id="KZ-F-E2")
    stranger = incident(facility_id="KZ-F-NONE", narrative=STRANGER)  # a dead letter
    x.submit([about, other, stranger])
    with pytest.raises(PipelineBehindError) as refused:  # in this process: no command start
        erase(x.settings, SUBJECT, "too early", wait=0)
    x.worker.start()
    try:
        wait_until(lambda: len(x.audit(kind="disclosure")) == 3, what="the three disclosures")
        wait_until(lambda: len(x.audit(kind="collection")) == 2, what="two reports collected")
        wait_until(lambda: len(list(dead_letters(x.settings))) == 1, what="a dead letter")
        x.send_raw([f"not avro: {SUBJECT} said {CANARY}".encode()])  # dead-lettered by intake
        wait_until(lambda: len(list(dead_letters(x.settings))) == 2, what="two dead letters")
        before = x.audit()
        found = commitment_of(x.settings, _link(x))
        done = x.cli("erase", "--subject", SUBJECT, "--reason", "court order 2026/114")
        wait_until(lambda: len(x.audit(kind="erasure")) == 1, what="the erasure audited")
        letters = list(dead_letters(x.settings))
        yield Erased(x, before, found, done, refused.value, letters, _roll(x))
    finally:
        x.worker.stop()


OWN_SEGMENT_MS = "3600000"
"""intel.enriched's own segment.ms before the roll: it must get it back."""


def _roll(x: Exchange) -> Rolled:
    """Give intel.enriched a segment.ms of its own, run the roll of the purged topics while
    the worker runs (a marker on each of their partitions: intel.submissions' too), and read
    what it left."""
    names = [x.settings.topic_prefix + s.topic for s in STAGES]
    names.append(x.settings.topic_prefix + "intel.deadletter")
    with admin_client(x.settings) as admin:
        resource = ConfigResource(
            ConfigResourceType.TOPIC, names[2], {"segment.ms": OWN_SEGMENT_MS}
        )
        admin.alter_configs([resource], incremental=True)
    processed = _processed(x)
    markers = roll_purged(x.settings, wait=30, settle=1.5, dead_letters=True)
    wait_until(lambda: _processed(x) == processed, timeout=10, what="status after the roll")
    client = consumer(x.settings, group_id=None)
    try:
        partitions = [TopicPartition(n, p) for n in names for p in markers[n]]
        starts = client.beginning_offsets(partitions)
        client.assign(partitions)
        client.seek_to_beginning()
        firsts: dict[str, dict[int, tuple[bytes | None, bytes | None]]] = {n: {} for n in names}
        for _ in range(40):
            for tp, batch in client.poll(timeout_ms=250).items():
                first = min(batch, key=lambda r: r.offset)
                firsts[tp.topic].setdefault(tp.partition, (first.key, first.value))
            if sum(map(len, firsts.values())) == len(partitions):
                break
    finally:
        client.close()
    with admin_client(x.settings) as admin:
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        own = admin.describe_configs(resources)["topic"]
    return Rolled(
        markers,
        {n: {tp.partition: o for tp, o in starts.items() if tp.topic == n} for n in names},
        firsts,
        {n: {k: e["value"] for k, e in own[n].items()} for n in names},
        (processed, _processed(x)),
        list(dead_letters(x.settings)),
        x.worker.process is not None and x.worker.process.poll() is None,
    )


def _processed(x: Exchange) -> dict[str, int]:
    status = x.worker.status() or {}
    return {k: v for k, v in status.get("processed", {}).items() if k != "sequencer"}


def _set_up(
    settings: Settings, reference: list[dict[str, Any]], agreements: list[dict[str, Any]]
) -> None:
    """What `reference load` and `agreements apply` do, in this process: the CI budget does
    not pay for two more command starts (the other integration tests run the commands)."""
    now = datetime.now(UTC)
    records = [parse_reference_line(line, f"line {n}", now) for n, line in enumerate(reference)]
    publish_reference(settings, [r for r in records if r.kind != "agency"])
    assert load_agencies(settings, [r for r in records if r.kind == "agency"], replace=False) == 0
    plans, errors = plan_agreements(settings, [(a["id"], a) for a in agreements])
    assert not errors, errors
    publish_agreements(settings, [p.agreement for p in plans])


def _secret(x: Exchange) -> bytes:
    return load_pseudonym_secret(x.home / "keys" / "exchange.pseudonym.key")


def _link(x: Exchange) -> str:
    return SubjectLinker.from_secret(_secret(x))(SUBJECT)


def test_audit_records_hold_a_commitment_found_by_subject_until_erasure(erased: Erased) -> None:
    """Before the erasure the disclosures' records name the subject by a commitment (not the
    id, not its exchange-wide link), the one intel.keys.commitments holds for the subject's
    link, through which `audit query --subject --link-key` finds it; where the agreement
    disclosed the id in clear (E-3), the record's `subjects` holds that commitment too."""
    about = {r["agreement_id"]: r for r in erased.before if r["recipient"] == RECEIVER}
    assert sorted(about) == ["E-1", "E-3"]
    (commitment,) = about["E-1"]["subject_links"]
    assert commitment.startswith("sc-")
    assert about["E-3"]["subject_links"] == about["E-3"]["subjects"] == [commitment]
    assert about["E-1"]["subjects"] != [commitment]  # the pseudonym E-1's agency received
    assert _link(erased.x) not in json.dumps([r["subject_links"] for r in erased.before])
    assert SUBJECT not in json.dumps([r["subjects"] for r in erased.before])
    assert erased.commitment_before == commitment


def test_erase_destroys_the_key_and_records_the_erasure(erased: Erased) -> None:
    """`erase` names the agency it notified; the key and the commitment are tombstoned; the
    chain still verifies; `audit query --subject` now shows the erasure record only."""
    *lines, purged = erased.erase.stdout.splitlines()
    assert lines == ["erasure recorded\tdisclosures=2", f"notified\t{RECEIVER}", "key destroyed"]
    assert re.fullmatch(r"purged\tpartitions=([3-9]|1[0-9])\tdead_letters=1", purged), purged
    keys = latest_by_key(erased.x.settings, erased.x.settings.topic_prefix + "intel.keys.subjects")
    assert KeyLookup(_secret(erased.x))(SUBJECT).encode() not in keys
    assert keys  # the bystander's subject keeps its key
    assert commitment_of(erased.x.settings, _link(erased.x)) is None
    verify = erased.x.cli("audit", "verify")
    assert "sound" in verify.stdout
    found = erased.x.cli("audit", "query", "--subject", SUBJECT, "--json")
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert [(r["kind"], r["recipient"], r["reason"]) for r in rows] == [
        ("erasure", RECEIVER, "court order 2026/114")
    ]
    assert SUBJECT not in found.stdout


def test_erase_refuses_before_the_agents_have_processed_the_reports(erased: Erased) -> None:
    """Run before the worker had read the submissions, `erase` refused naming the agent and
    the topic, and did nothing: the reports were disclosed afterwards (not purged unread),
    and the log holds one erasure, the later one (test_erase_destroys_the_key_...)."""
    message = str(erased.refused)
    assert "intake" in message
    assert "intel.submissions" in message
    assert erased.refused.exit_code == 1
    kinds = [r["kind"] for r in erased.before]
    assert (kinds.count("disclosure"), kinds.count("collection"), len(kinds)) == (3, 2, 5)


def test_the_dead_letter_naming_the_subject_goes_and_the_other_stays(erased: Erased) -> None:
    """The bytes naming SUBJECT are no longer a dead letter; the stranger's report, written
    before them, is still one, once, with its origin and reason (copied forward), so
    `deadletter replay` can still resubmit it."""
    (kept,) = erased.letters
    assert STRANGER.encode() in kept["original_value"]
    assert kept["source_topic"].endswith("intel.validated")
    assert "KZ-F-NONE" in kept["reason"]


def test_the_receiving_agency_alone_gets_a_notice(erased: Erased) -> None:
    """The agency that received the subject's data reads one erasure notice naming the subject
    as it received it (its pseudonym under E-1, the id under E-3) and both disclosures; the
    bystander gets none."""
    entries = erased.x.feed(RECEIVER)  # as `consume` prints them, verified and decrypted
    disclosures = [e for e in entries if "type" not in e]
    notices = [e["payload"] for e in entries if e.get("type") == "erasure"]
    assert len(notices) == 1
    received = {s["subject_id"] for d in disclosures for s in d["payload"]["subjects"]}
    assert SUBJECT in received
    assert len(received) == 2
    assert set(notices[0]["subjects"]) == received
    assert sorted(notices[0]["disclosures"]) == sorted(d["disclosure_id"] for d in disclosures)
    assert all("type" not in e for e in erased.x.feed(BYSTANDER))


def test_no_topic_holds_the_subject_or_narrative_in_clear(erased: Erased) -> None:
    """A raw byte scan of every topic of the exchange the broker lists (keys, values, headers,
    aborted records too) finds neither the id nor the canary: not between the agents (purged),
    in enrich's state changelog (keyed by HMAC), the audit log, its pending entries, the feeds
    or the key topics; only the reference record, until compaction (COMPACTED)."""
    prefix = erased.x.settings.topic_prefix
    with admin_client(erased.x.settings) as admin:
        names = sorted(
            n for n in admin.list_topics() if n.startswith((prefix, f"changelog__{prefix}"))
        )
    holding = set()
    for record in _every_record(erased.x.settings, names):
        raw = b"".join(
            [record.key or b"", record.value or b""] + [v or b"" for _, v in record.headers or ()]
        )
        if SUBJECT.encode() in raw or CANARY.encode() in raw:
            holding.add(record.topic.removeprefix(prefix))
    listed = {n.removeprefix(prefix) for n in names}
    assert {f"intel.feed.{RECEIVER}", "intel.audit", "intel.submissions"} <= listed
    assert any("enrich" in n for n in listed if n.startswith("changelog__")), listed
    assert holding == {COMPACTED}


def _every_record(settings: Settings, names: list[str]) -> list[Any]:
    """Every record of every topic of ``names``, uncommitted ones too (read_uncommitted: an
    aborted transaction's records are on the broker's disks as well), with one consumer."""
    client = consumer(settings, group_id=None, isolation_level="read_uncommitted")
    try:
        partitions = [
            TopicPartition(name, p) for name in names for p in client.partitions_for_topic(name)
        ]
        client.assign(partitions)
        client.seek_to_beginning()
        ends = client.end_offsets(partitions)
        records: list[Any] = []
        while any(client.position(tp) < end for tp, end in ends.items()):
            for batch in client.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        client.close()


def test_the_roll_leaves_every_purged_partition_starting_at_its_marker(erased: Erased) -> None:
    """After `erase --roll`'s step on the purged topics, every partition of intel.submissions,
    intel.validated, intel.enriched and intel.deadletter starts at its roll marker (a
    tombstone of ROLL_KEY), so the purged records all sit in closed segments below the log
    start, which the broker deletes; each topic's segment.ms is as it was (intel.enriched's
    own, none on the others), its other overrides kept."""
    rolled = erased.rolled
    assert set(rolled.markers) == set(rolled.starts)
    for topic, markers in rolled.markers.items():
        one = topic.endswith(("intel.validated", "intel.deadletter"))
        assert len(markers) == (1 if one else 12), topic
        assert rolled.starts[topic] == markers, topic
        assert set(rolled.firsts[topic].values()) == {(ROLL_KEY, None)}, topic
    own = {t.removeprefix(erased.x.settings.topic_prefix): c for t, c in rolled.segment_ms.items()}
    assert own["intel.enriched"]["segment.ms"] == OWN_SEGMENT_MS
    assert "segment.ms" not in own["intel.submissions"]
    assert "segment.ms" not in own["intel.validated"]
    assert "segment.ms" not in own["intel.deadletter"]
    assert all("retention.ms" in c for c in own.values()), own


def test_the_agents_skip_the_markers_while_running(erased: Erased) -> None:
    """The markers reach intake, enrich and route while the worker runs: none is processed
    (counted) or dead-lettered, and the worker still runs; the dead letter kept at the
    erasure is still there, once (copied past the marker on intel.deadletter)."""
    rolled = erased.rolled
    assert rolled.running
    before, after = rolled.processed
    assert before == after
    assert {"intake", "enrich", "route"} <= set(after)
    assert rolled.letters == erased.letters
