"""The exchange end to end on a real broker and a real worker process.

One worker serves the module; each test uses its own facilities, agreements and event ids, so
the tests do not see each other's disclosures.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.audit.records import export_row, stats
from streams.core.codec import MAGIC, Codec
from streams.core.report import Tlp, report_to_json, validate_report
from streams.formats.stix import TLP_MARKING_IDS
from streams.kafka.clients import publish, read_topic
from streams.kafka.deadletters import dead_letters
from streams.kafka.submit import Submitter
from tests.factories import NARRATIVES, incident, observation
from tests.integration.exchange import (
    SCHEMAS,
    Exchange,
    agreement,
    facility,
    of_kind,
    wait_until,
)

pytestmark = pytest.mark.integration

AGENCY, OTHER = "a-one", "a-two"


@pytest.fixture(scope="module")
def exchange(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    x = Exchange(kafka_bootstrap, tmp_path_factory.mktemp("exchange"), dict(os.environ))
    x.agency(AGENCY)
    x.agency(OTHER)
    x.reference(
        [facility(f, "KZ") for f in ("KZ-F-F1", "KZ-F-F2", "KZ-F-K", "KZ-F-CAT", "KZ-F-T")]
        + [facility(f, "KZ") for f in ("KZ-F-R", "KZ-F-S", "KZ-F-A", "KZ-F-H", "KZ-F-H2")]
        + [facility(f, "KZ") for f in ("KZ-F-V", "KZ-F-X", "KZ-F-MIN", "KZ-F-DUP", "KZ-F-C2")]
        + [facility("KZ-F-STX", "KZ"), facility("KZ-F-R1", "KZ"), facility("KZ-F-R2", "KZ")]
        + [facility("KG-F-C1", "KG")]
        + [{"type": "subject", "subject_id": "KZ-P-1", "risk_level": "HIGH", "rftf": True}]
    )
    x.worker.start()
    yield x
    x.worker.stop()


def pairs(x: Exchange, agency: str = AGENCY) -> set[tuple[str, str]]:
    return {(d["event_id"], d["agreement_id"]) for d in x.feed(agency)}


def settle(
    x: Exchange, expected: set[tuple[str, str]], agency: str = AGENCY
) -> set[tuple[str, str]]:
    """Wait for ``expected`` on the feed, then a moment longer for anything unexpected."""
    wait_until(lambda: expected <= pairs(x, agency), what=f"disclosures {expected}")
    wait_until(lambda: _drained(x), what="the worker to drain")
    return pairs(x, agency)


def _drained(x: Exchange) -> bool:
    first = x.worker.status()
    time.sleep(1.0)
    return first is not None and first == x.worker.status()


def test_routing_matrix(exchange: Exchange) -> None:
    """Each policy rule discloses the report that meets it and not the one that fails it."""
    now = datetime.now(UTC)
    exchange.agreements(
        [
            agreement("A-COUNTRY", AGENCY, countries=["KG"], facilities=["KG-F-C1", "KZ-F-C2"]),
            agreement("A-FACILITY", AGENCY, facilities=["KZ-F-F1"]),
            agreement("A-KIND", AGENCY, facilities=["KZ-F-K"], kinds=["observation"]),
            agreement("A-CAT", AGENCY, facilities=["KZ-F-CAT"], categories=["EXTREMIST_MATERIAL"]),
            agreement("A-TLP", AGENCY, facilities=["KZ-F-T"], max_tlp="GREEN"),
            agreement("A-RED", AGENCY, facilities=["KZ-F-R"]),
            agreement("A-SRC", AGENCY, facilities=["KZ-F-S"], sources=[1]),
            agreement("A-ASM", AGENCY, facilities=["KZ-F-A"], assessments=["A", "B"]),
            agreement("A-HC", AGENCY, facilities=["KZ-F-H"], handling=["P", "C"]),
            agreement("A-HP", AGENCY, facilities=["KZ-F-H2"]),
            agreement("A-VALID", AGENCY, facilities=["KZ-F-V"]),
            agreement("A-EXPIRED", AGENCY, facilities=["KZ-F-V"])
            | {
                "valid_from": "2025-01-01T00:00:00Z",
                "valid_until": (now - timedelta(days=1)).isoformat(),
            },
            agreement("A-FUTURE", AGENCY, facilities=["KZ-F-V"])
            | {"valid_from": (now + timedelta(days=30)).isoformat()},
        ]
    )
    graded_c = {"source": 2, "assessment": "B", "handling": "C", "conditions": "no onward sharing"}
    cases: dict[str, tuple[dict[str, Any], set[str]]] = {
        "country-yes": (incident(facility_id="KG-F-C1"), {"A-COUNTRY"}),
        "country-no": (incident(facility_id="KZ-F-C2"), set()),
        "facility-yes": (incident(facility_id="KZ-F-F1"), {"A-FACILITY"}),
        "facility-no": (incident(facility_id="KZ-F-F2"), set()),
        "kind-yes": (
            observation(
                facility_id="KZ-F-K",
                tlp="AMBER",
                grading={"source": 2, "assessment": "B", "handling": "P"},
            ),
            {"A-KIND"},
        ),
        "kind-no": (incident(facility_id="KZ-F-K"), set()),
        "cat-yes": (incident(facility_id="KZ-F-CAT", category="EXTREMIST_MATERIAL"), {"A-CAT"}),
        "cat-no": (incident(facility_id="KZ-F-CAT", category="VIOLENCE"), set()),
        "tlp-yes": (incident(facility_id="KZ-F-T", tlp="GREEN"), {"A-TLP"}),
        "tlp-no": (incident(facility_id="KZ-F-T", tlp="AMBER"), set()),
        "red-strict-yes": (incident(facility_id="KZ-F-R", tlp="AMBER+STRICT"), {"A-RED"}),
        "red-no": (incident(facility_id="KZ-F-R", tlp="RED"), set()),
        "source-yes": (
            incident(
                facility_id="KZ-F-S", grading={"source": 1, "assessment": "B", "handling": "P"}
            ),
            {"A-SRC"},
        ),
        "source-no": (incident(facility_id="KZ-F-S"), set()),
        "assess-yes": (incident(facility_id="KZ-F-A"), {"A-ASM"}),
        "assess-no": (
            incident(
                facility_id="KZ-F-A", grading={"source": 2, "assessment": "D", "handling": "P"}
            ),
            set(),
        ),
        "handling-c-yes": (incident(facility_id="KZ-F-H", grading=graded_c), {"A-HC"}),
        "handling-c-no": (incident(facility_id="KZ-F-H2", grading=graded_c), set()),
        "handling-p-yes": (incident(facility_id="KZ-F-H2"), {"A-HP"}),
        "window": (incident(facility_id="KZ-F-V"), {"A-VALID"}),
    }
    sent = exchange.submit([report for report, _ in cases.values()])
    assert len(sent) == len(cases)
    expected = {(r["event_id"], a) for r, agreements in cases.values() for a in agreements}
    got = settle(exchange, expected)
    ours = {p for p in got if p[0] in set(sent)}
    assert ours == expected
    conditions = [d for d in exchange.feed(AGENCY) if d["agreement_id"] == "A-HC"]
    assert conditions[0]["payload"]["handling_conditions"] == "no onward sharing"


def test_revocation_takes_effect_without_restart(exchange: Exchange) -> None:
    """A revoked agreement discloses nothing from the moment it changes; the worker runs on."""
    exchange.agreements([agreement("A-REV", AGENCY, facilities=["KZ-F-X"])])
    before = incident(facility_id="KZ-F-X")
    exchange.submit([before])
    settle(exchange, {(before["event_id"], "A-REV")})
    exchange.agreements(
        [agreement("A-REV", AGENCY, facilities=["KZ-F-X"]) | {"version": 2, "revoked": True}]
    )
    wait_until(lambda: "revoked" in exchange.cli("agreements", "list").stdout, what="revocation")
    time.sleep(1.0)  # the worker's view follows the compacted topic
    after = incident(facility_id="KZ-F-X")
    exchange.submit([after])
    got = settle(exchange, set())
    assert (before["event_id"], "A-REV") in got
    assert not any(e == after["event_id"] for e, _ in got)


def test_minimisation_and_pseudonyms(exchange: Exchange) -> None:
    """Only disclosed fields arrive; pseudonyms are stable for one agency, differ across two."""
    exchange.agreements(
        [
            agreement("A-MIN-1", AGENCY, facilities=["KZ-F-MIN"]),
            agreement("A-MIN-2", OTHER, facilities=["KZ-F-MIN"]),
        ]
    )
    subject = [{"subject_id": "KZ-P-1", "role": "SUBJECT"}]
    first = incident(facility_id="KZ-F-MIN", subjects=subject, narrative="first report")
    second = incident(facility_id="KZ-F-MIN", subjects=subject, narrative="second report")
    exchange.submit([first, second])
    settle(exchange, {(first["event_id"], "A-MIN-1"), (second["event_id"], "A-MIN-1")})
    settle(exchange, {(first["event_id"], "A-MIN-2")}, OTHER)
    mine = {
        d["event_id"]: d["payload"] for d in exchange.feed(AGENCY) if d["agreement_id"] == "A-MIN-1"
    }
    theirs = {
        d["event_id"]: d["payload"] for d in exchange.feed(OTHER) if d["agreement_id"] == "A-MIN-2"
    }
    payload = mine[first["event_id"]]
    listed = {"event_id", "kind", "facility_id", "category", "subjects", "narrative"}
    assert set(payload) == listed | {"tlp"}  # the TLP label always travels
    for withheld in ("unit_id", "grading", "occurred_at", "severity", "indicators"):
        assert withheld not in payload
    alias = payload["subjects"][0]["subject_id"]
    assert alias != "KZ-P-1"
    assert mine[second["event_id"]]["subjects"][0]["subject_id"] == alias
    assert theirs[first["event_id"]]["subjects"][0]["subject_id"] not in (alias, "KZ-P-1")


def test_duplicates_are_not_disclosed_twice(exchange: Exchange) -> None:
    """A resubmitted event id gives no second disclosure; a content duplicate is not disclosed."""
    exchange.agreements([agreement("A-DUP", AGENCY, facilities=["KZ-F-DUP"])])
    original = incident(facility_id="KZ-F-DUP", narrative="the original")
    exchange.submit([original])
    settle(exchange, {(original["event_id"], "A-DUP")})
    exchange.submit([original])
    copy = dict(original, event_id="11111111-2222-4333-8444-" + original["event_id"][-12:])
    exchange.submit([copy])
    got = settle(exchange, set())
    dup_events = [e for e, a in got if a == "A-DUP"]
    assert dup_events == [original["event_id"]]
    disclosures = [d for d in exchange.feed(AGENCY) if d["agreement_id"] == "A-DUP"]
    assert len(disclosures) == 1


def test_bad_input_goes_to_dead_letters_and_the_worker_goes_on(exchange: Exchange) -> None:
    """Random bytes, unknown fingerprint, truncation, bad times, unknown facility: dead letters."""
    exchange.agreements([agreement("A-AFTER", AGENCY, facilities=["KZ-F-F2"])])
    codec = Codec(SCHEMAS, "intelshare.Report")
    good = validate_report(incident(facility_id="KZ-F-F2"), now=datetime.now(UTC))
    valid = codec.encode(good)
    backwards = dict(good, occurred_at=good["reported_at"], reported_at=good["occurred_at"])
    unknown = validate_report(incident(facility_id="ZZ-F-404"), now=datetime.now(UTC))
    before = len(exchange.dead_letters())
    exchange.send_raw(
        [
            os.urandom(64),
            MAGIC + b"\x00" * 8 + valid[10:],
            valid[: len(valid) // 2],
            codec.encode(backwards),
            None,
        ]
    )
    exchange.submit([report_json(unknown)])
    wait_until(lambda: len(exchange.dead_letters()) >= before + 6, what="six dead letters")
    letters = exchange.dead_letters()[before:]
    reasons = " | ".join(f"{d['error']}: {d['reason']}" for d in letters)
    for expected in (
        "NotSingleObjectError",
        "UnknownSchemaError",
        "TruncatedRecordError",
        "occurred_at",
        "ZZ-F-404",
    ):
        assert expected in reasons
    assert all(d["source"].startswith(exchange.settings.topic_prefix) for d in letters)
    after = incident(facility_id="KZ-F-F2", narrative="submitted after the bad input")
    exchange.submit([after])
    settle(exchange, {(after["event_id"], "A-AFTER")})


def report_json(record: dict[str, Any]) -> dict[str, Any]:
    return report_to_json(record)


def test_replay_resends_only_what_now_passes_and_only_once(exchange: Exchange) -> None:
    """A report for an unknown facility stays a dead letter while the facility is unknown
    (replay keeps it and says why, with no second dead letter); once loaded it is replayed
    and disclosed; a second replay does not send it again; `list` shows it replayed."""
    exchange.agreements([agreement("A-REPLAY", AGENCY, facilities=["KZ-F-LATE"])])
    late = incident(facility_id="KZ-F-LATE", narrative="for a facility loaded later")
    before = len(exchange.dead_letters())
    exchange.submit([late])
    wait_until(lambda: len(exchange.dead_letters()) > before, what="the dead letter")
    kept = exchange.cli("deadletter", "replay")
    assert "KZ-F-LATE is still not in the reference data" in kept.stdout
    assert "0 replayed" in kept.stderr
    time.sleep(2)
    assert len(exchange.dead_letters()) == before + 1

    exchange.reference([facility("KZ-F-LATE", "KZ")])
    time.sleep(1)  # the replay reads intel.ref.facilities; the worker follows it too
    done = exchange.cli("deadletter", "replay")
    assert "1 replayed" in done.stderr
    settle(exchange, {(late["event_id"], "A-REPLAY")})
    again = exchange.cli("deadletter", "replay")
    assert "0 replayed" in again.stderr
    assert "replayed before" in again.stdout
    mine = [d for d in exchange.dead_letters() if d["event_id"] == late["event_id"]]
    assert [d["state"] for d in mine] == ["replayed"]
    assert len([d for d in exchange.feed(AGENCY) if d["agreement_id"] == "A-REPLAY"]) == 1


def test_consume_prints_one_stix_bundle_per_disclosure(exchange: Exchange) -> None:
    """consume --format stix21: one STIX bundle per line and per disclosure opened, marked
    with the report's TLP as a TLP 2.0 marking (it travels though this agreement does not list
    tlp), without the fields the agreement does not disclose. (MISP: the same path, unit-tested.)
    Narratives in Kurdish, Russian and Tajik, submitted with `intelshare submit` from a UTF-8
    file, come out of `consume` and its STIX export identical, character for character.
    """
    exchange.agreements([agreement("A-STIX", AGENCY, facilities=["KZ-F-STX"])])
    report = incident(facility_id="KZ-F-STX", tlp="GREEN", unit_id="KZ-PIU-STIXUNIT")
    exchange.submit([report])
    scripts = {
        lang: incident(facility_id="KZ-F-STX", narrative=text) for lang, text in NARRATIVES.items()
    }
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in scripts.values())
    (exchange.home / "scripts.jsonl").write_bytes(lines.encode("utf-8"))
    exchange.cli("submit", str(exchange.home / "scripts.jsonl"))
    settle(exchange, {(r["event_id"], "A-STIX") for r in [report, *scripts.values()]})
    key = str(exchange.home / "keys" / f"{AGENCY}.key")
    done = exchange.cli("consume", "--agency", AGENCY, "--key", key, "--from-beginning",
                        "--format", "stix21")  # fmt: skip
    bundles = [json.loads(line) for line in done.stdout.splitlines()]
    assert f"{len(bundles)} new, 0 refused" in done.stderr
    assert {b["type"] for b in bundles} == {"bundle"}
    (mine,) = [b for b in bundles if report["event_id"] in json.dumps(b)]
    (stix_report,) = [o for o in mine["objects"] if o["type"] == "report"]
    assert stix_report["object_marking_refs"][0] == TLP_MARKING_IDS[Tlp.GREEN]
    assert "KZ-PIU-STIXUNIT" not in json.dumps(mine)  # unit_id is not disclosed
    described = {o["description"] for b in bundles for o in b["objects"] if o["type"] == "report"}
    plain = exchange.cli("consume", "--agency", AGENCY, "--key", key, "--from-beginning")
    narratives = {
        d["payload"]["event_id"]: d["payload"]["narrative"]
        for d in map(json.loads, plain.stdout.splitlines())
    }
    for lang, sent in scripts.items():
        out = narratives[sent["event_id"]]
        assert out.encode("utf-8") == sent["narrative"].encode("utf-8"), lang
        assert sent["narrative"] in described, lang


# --- recall and correction (issue 13): on this module's exchange, whose worker start is the
# expensive part; after the tests above, which compare whole feeds. a-one receives every report
# of KZ-F-R1 and KZ-F-R2, a-two only those of KZ-F-R1 until R-3 opens KZ-F-R2.

RECALL_UNIT = "KZ-PIU-ASTANA"


@pytest.fixture(scope="module")
def recall_reports(exchange: Exchange) -> dict[str, dict[str, Any]]:
    """``both``: disclosed to a-one and a-two; ``one``: to a-one only (agreements R-1, R-2).
    The tests below add the reports they make, to count the disclosures of all at the end."""
    exchange.agreements(
        [
            agreement("R-1", AGENCY, facilities=["KZ-F-R1", "KZ-F-R2"]),
            agreement("R-2", OTHER, facilities=["KZ-F-R1"]),
        ]
    )
    made = {"both": _report("KZ-F-R1"), "one": _report("KZ-F-R2")}
    exchange.submit(list(made.values()))
    events = {r["event_id"] for r in made.values()}
    wait_until(
        lambda: len([r for r in exchange.audit(kind="disclosure") if r["event_id"] in events]) >= 3,
        what="three disclosures",
    )
    return made


def _report(facility_id: str) -> dict[str, Any]:
    """A distinct incident of RECALL_UNIT (distinct narratives: the same content is a
    duplicate)."""
    return incident(facility_id=facility_id, unit_id=RECALL_UNIT, narrative=f"{uuid.uuid4()}")


def _notices(exchange: Exchange, agency: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in exchange.feed(agency) if d.get("type") == kind]


def test_a_recall_reaches_exactly_the_recipients_once(
    exchange: Exchange, recall_reports: dict[str, dict[str, Any]]
) -> None:
    """A recall of the report a-one alone received reaches a-one once, even when asked twice,
    with an audit record of kind recall naming the disclosure; a-two gets nothing. consume
    prints it as its own kind of line (``type``; its STIX form: tests/unit/test_notices.py)."""
    event = recall_reports["one"]["event_id"]
    done = exchange.cli("recall", event, "--reason", "the source withdrew")
    assert done.stdout.strip() == f"recall of {event} sent"
    with Submitter(exchange.settings) as submitter:  # the producer API, and a duplicate
        submitter.recall(event, RECALL_UNIT, "asked again")
    wait_until(lambda: of_kind(exchange.audit(), "recall"), what="the recall's audit record")
    wait_until(lambda: _drained(exchange), what="the worker to drain")
    (disclosed,) = [d for d in exchange.feed(AGENCY) if d["event_id"] == event and "type" not in d]
    (notice,) = _notices(exchange, AGENCY, "recall")
    assert notice["refers_to"] == disclosed["disclosure_id"]
    assert notice["payload"]["reason"] == "the source withdrew"
    assert _notices(exchange, OTHER, "recall") == []
    (record,) = of_kind(exchange.audit(), "recall")
    assert (record["refers_to"], record["recipient"]) == (disclosed["disclosure_id"], AGENCY)
    assert (record["disclosure_id"], record["reason"]) == (
        notice["disclosure_id"],
        "the source withdrew",
    )
    assert [d["type"] for d in exchange.feed(AGENCY) if "type" in d] == ["recall"]  # consume's json


def test_a_recall_by_another_unit_is_refused_naming_the_reason(
    exchange: Exchange, recall_reports: dict[str, dict[str, Any]]
) -> None:
    """The command refuses (exit 1) a recall naming another unit; one sent past it (the
    producer API) is refused by the exchange as a dead letter that says why."""
    event = recall_reports["both"]["event_id"]
    done = exchange.cli(
        "recall", event, "--reason", "not ours", "--unit", "KG-PIU-BISHKEK", ok=False
    )
    assert done.returncode == 1
    assert f"submitted by unit {RECALL_UNIT}, not KG-PIU-BISHKEK" in done.stderr
    with Submitter(exchange.settings) as submitter:
        submitter.recall(event, "KG-PIU-BISHKEK", "not ours either")
    wait_until(
        lambda: any("not KG-PIU-BISHKEK" in d["reason"] for d in dead_letters(exchange.settings)),
        what="the refused recall's dead letter",
    )
    assert _notices(exchange, AGENCY, "recall") == _notices(exchange, AGENCY, "recall")[:1]
    assert _notices(exchange, OTHER, "recall") == []


def test_a_recall_of_an_unknown_event_is_refused(exchange: Exchange) -> None:
    """Exit 1 naming the event; a malformed request is refused before any connection
    (tests/unit/test_notices.py)."""
    unknown = "00000000-0000-4000-8000-000000000000"
    done = exchange.cli("recall", unknown, "--reason", "x", ok=False)
    assert (done.returncode, f"no report with event id {unknown}" in done.stderr) == (1, True)


def test_a_recalled_report_is_not_disclosed_under_a_new_agreement(
    exchange: Exchange, recall_reports: dict[str, dict[str, Any]]
) -> None:
    """After R-3 opens KZ-F-R2 to a-two, a new report there reaches a-two, but the recalled
    one, submitted again, does not."""
    exchange.agreements([agreement("R-3", OTHER, facilities=["KZ-F-R2"])])
    fresh = recall_reports["fresh"] = _report("KZ-F-R2")
    exchange.submit([recall_reports["one"], fresh])
    wait_until(
        lambda: any(d["event_id"] == fresh["event_id"] for d in exchange.feed(OTHER)),
        what="the new report on a-two's feed",
    )
    wait_until(lambda: _drained(exchange), what="the worker to drain")
    assert recall_reports["one"]["event_id"] not in {d["event_id"] for d in exchange.feed(OTHER)}


# --- feedback (issue 13): on the same exchange, among the recall tests (before the correction
# test, whose `audit verify` covers it). The disclosure of ``both`` to a-one is the one a-one
# gives feedback on; RECALL_UNIT wrote the report.

FEEDBACK_NOTE = "led to a cell search"


def _feedback_dead_letter(exchange: Exchange, text: str) -> None:
    wait_until(
        lambda: any(text in d["reason"] for d in dead_letters(exchange.settings)),
        what=f"a dead letter saying {text!r}",
    )


def _forged(exchange: Exchange, disclosure: dict[str, Any], agency: str, key: Any) -> None:
    """Feedback put on intel.feedback past the command (as the command does, or a hostile
    agency would)."""
    from streams.core.feedback import make_feedback

    record = make_feedback(
        disclosure["disclosure_id"], disclosure["event_id"], agency, True, None, key,
        datetime.now(UTC),
    )  # fmt: skip
    value = Codec(SCHEMAS, "intelshare.Feedback").encode(record)
    topic = exchange.settings.topic_prefix + "intel.feedback"
    publish(exchange.settings, topic, [(disclosure["event_id"].encode(), value)])


def _unit_key(exchange: Exchange, unit: str) -> None:
    from streams.core.crypto import parse_x25519_public
    from streams.core.feedback import generate_unit_keys, unit_key_record
    from streams.kafka.feedback import register_unit_key

    _, public = generate_unit_keys(exchange.home / "keys", unit)
    raw = parse_x25519_public(public.read_text().strip()).public_bytes_raw()
    register_unit_key(exchange.settings, unit_key_record(unit, raw, datetime.now(UTC)))


def test_feedback_reaches_only_the_originating_unit(
    exchange: Exchange, recall_reports: dict[str, dict[str, Any]]
) -> None:
    """a-one's feedback on its disclosure reaches RECALL_UNIT once, decrypted by its key only,
    with one audit record of kind feedback that `audit stats` counts; refused, each as a dead
    letter naming why and nothing delivered: feedback while the unit has no key, a second
    feedback, feedback on a-two's disclosure, one signed with a key a-one never registered,
    bytes that are no feedback record;
    the command refuses an id not on the agency's feed (exit 2). The correction test below
    verifies the log with it (one `audit verify` for both)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from streams.core.keyfiles import load_ed25519_private, load_x25519_private
    from streams.kafka.feedback import read_feedback

    event = recall_reports["both"]["event_id"]
    (mine,) = [d for d in exchange.feed(AGENCY) if d["event_id"] == event and "type" not in d]
    (theirs,) = [d for d in exchange.feed(OTHER) if d["event_id"] == event and "type" not in d]
    ident = mine["disclosure_id"]
    signing = load_ed25519_private(exchange.home / "keys" / f"{AGENCY}.sign.key")
    _forged(exchange, mine, AGENCY, signing)  # while the unit has no key
    _feedback_dead_letter(exchange, f"unit {RECALL_UNIT} has no registered key")
    exchange.cli("keys", "generate", "--unit", RECALL_UNIT)
    exchange.cli(
        "units", "register", "--id", RECALL_UNIT, "--public-key", f"{RECALL_UNIT}.unit.pub"
    )
    _unit_key(exchange, "KG-PIU-BISHKEK")  # another unit, through the API (the same steps)
    sent = exchange.cli(
        "feedback", ident, "--agency", AGENCY, "--useful", "yes", "--note", FEEDBACK_NOTE
    )
    assert sent.stdout.strip() == f"feedback on {ident} sent"
    wait_until(lambda: of_kind(exchange.audit(), "feedback"), what="the feedback's audit record")
    _forged(exchange, mine, AGENCY, signing)  # a second one: refused, the first stands
    _feedback_dead_letter(exchange, f"gave feedback on disclosure {ident} already")
    _forged(exchange, theirs, AGENCY, signing)
    _feedback_dead_letter(exchange, f"{theirs['disclosure_id']} of event {event} was not made")
    _forged(exchange, mine, AGENCY, Ed25519PrivateKey.generate())
    topic = exchange.settings.topic_prefix + "intel.feedback"
    publish(exchange.settings, topic, [(b"junk", b"\xc3\x01 not avro")])  # hostile bytes
    _feedback_dead_letter(exchange, f"agency {AGENCY} has no registered receipt key with id")
    _feedback_dead_letter(exchange, "not a feedback record")
    unknown = exchange.cli(
        "feedback", str(uuid.uuid4()), "--useful", "no", "--agency", OTHER, ok=False
    )
    assert (unknown.returncode, "no disclosure" in unknown.stderr) == (2, True)
    # each refusal above was dead-lettered by then, the last one after all the others
    (record,) = of_kind(exchange.audit(), "feedback")
    assert (record["recipient"], record["refers_to"], record["useful"]) == (AGENCY, ident, True)
    listed = exchange.cli("feedback", "list", "--unit", RECALL_UNIT)
    (line,) = listed.stdout.splitlines()
    assert line.split("\t")[:3] == [ident, AGENCY, "useful=yes"]
    assert line.endswith(FEEDBACK_NOTE)
    other = exchange.cli("feedback", "list", "--unit", "KG-PIU-BISHKEK")
    assert other.stdout == ""
    foreign = load_x25519_private(exchange.home / "keys" / "KG-PIU-BISHKEK.unit.key")
    opened = list(read_feedback(exchange.settings, RECALL_UNIT, foreign, exchange.exchange_keys))
    assert [o.payload for o in opened] == [None]  # `feedback list --key` of it exits 1
    shown = exchange.cli("audit", "stats").stdout
    assert f"  {AGENCY:<32} useful 1, not useful 0" in shown.splitlines()


def test_a_correction_reaches_the_recipients(
    exchange: Exchange, recall_reports: dict[str, dict[str, Any]]
) -> None:
    """A report with ``corrects`` is disclosed as any report, and each agency that received the
    report it corrects gets one correction notice naming both; the log verifies and counts every
    kind."""
    original = recall_reports["both"]["event_id"]
    correction = recall_reports["correction"] = _report("KZ-F-R1") | {"corrects": original}
    exchange.submit([correction])
    wait_until(
        lambda: len(of_kind(exchange.audit(), "correction")) >= 2, what="two correction records"
    )
    for agency in (AGENCY, OTHER):
        assert correction["event_id"] in {d["event_id"] for d in exchange.feed(agency)}
        (notice,) = _notices(exchange, agency, "correction")
        assert notice["event_id"] == original
        assert notice["payload"]["corrected_by"] == correction["event_id"]
    verified = exchange.cli("audit", "verify", ok=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    events = {r["event_id"] for r in recall_reports.values()}
    figures = stats(r for r in exchange.audit() if r["event_id"] in events)  # `audit stats`
    kinds = figures["per_kind"]
    assert (kinds["recall"], kinds["correction"], kinds["feedback"]) == (1, 2, 1)  # feedback above
    assert kinds["disclosure"] == figures["disclosures"] == 7  # nothing disclosed twice
    # issue 13: every report collected once; the correction altered the report it corrects
    assert kinds["collection"] == len(events)
    (altered,) = of_kind(exchange.audit(), "alteration")
    assert (altered["event_id"], altered["refers_to"]) == (original, correction["event_id"])


def test_reports_of_two_units_on_one_subject_are_recorded_as_combined(exchange: Exchange) -> None:
    """Enrich links a report to another unit's earlier report on the same subject: route
    records that combination once, naming the earlier event; the first report has none."""
    subject = f"KZ-P-{uuid.uuid4().int % 10**9}"
    first, second = (
        incident(facility_id="KZ-F-C2", unit_id=unit, subjects=[{"subject_id": subject,
                 "role": "SUBJECT"}], narrative=f"combined {uuid.uuid4()}")
        for unit in ("KZ-PIU-COMBINE-A", "KZ-PIU-COMBINE-B")
    )  # fmt: skip
    exchange.submit([first])
    wait_until(
        lambda: any(r["event_id"] == first["event_id"] for r in exchange.audit(kind="collection")),
        what="the first report's collection",
    )
    exchange.submit([second])
    wait_until(
        lambda: of_kind(_events(exchange, second), "combination"), what="the combination record"
    )
    (combined,) = of_kind(_events(exchange, second), "combination")
    assert combined["fields_disclosed"] == [first["event_id"]]
    assert combined["recipient"] == ""
    assert subject not in json.dumps(export_row(combined))  # named by its commitment only
    assert [r["kind"] for r in _events(exchange, first)].count("combination") == 0
    for report in (first, second):
        assert [r["kind"] for r in _events(exchange, report)].count("collection") == 1


def _events(exchange: Exchange, report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in exchange.audit() if r["event_id"] == report["event_id"]]


def test_receipts_are_recorded_as_consultations_once_and_bad_ones_are_dead_letters(
    exchange: Exchange, recall_reports: dict[str, dict[str, Any]]
) -> None:
    """`consume` sends a signed receipt for each disclosure it opens: the worker records it as
    a consultation by that agency of that disclosure. The same receipt sent again is one
    record; bytes that are no receipt, a receipt under another disclosure's key and a forged
    signature are dead letters naming why, and the worker goes on; `audit verify` passes."""
    report = recall_reports["receipted"] = _report("KZ-F-R2")  # to AGENCY alone
    exchange.submit([report])
    wait_until(
        lambda: report["event_id"] in {d["event_id"] for d in exchange.feed(AGENCY)},
        what="the disclosure",
    )
    (disclosure,) = [d for d in exchange.feed(AGENCY) if d["event_id"] == report["event_id"]]
    ident = disclosure["disclosure_id"]
    key = str(exchange.home / "keys" / f"{AGENCY}.key")
    exchange.cli("consume", "--agency", AGENCY, "--key", key, "--from-beginning")

    def consulted() -> list[dict[str, Any]]:
        return [r for r in exchange.audit(kind="consultation") if r["refers_to"] == ident]

    wait_until(lambda: consulted(), what="the consultation record")
    (record,) = consulted()
    assert (record["recipient"], record["event_id"], record["agreement_id"]) == (AGENCY, "", "")

    topic = exchange.settings.topic_prefix + "intel.receipts"
    (sent,) = [r for r in read_topic(exchange.settings, topic) if r.key == ident.encode()][:1]
    codec = Codec(SCHEMAS, "intelshare.Receipt")
    forged = codec.encode(dict(codec.decode(sent.value), signature=bytes(64)))
    before = len(exchange.dead_letters())
    publish(
        exchange.settings,
        topic,
        [
            (sent.key, sent.value),  # the same receipt again
            (sent.key, b"not a receipt " + os.urandom(32)),
            (b"00000000-0000-4000-8000-000000000000", sent.value),  # another disclosure's key
            (sent.key, forged),
        ],
    )
    wait_until(lambda: len(exchange.dead_letters()) >= before + 3, what="three dead letters")
    letters = exchange.dead_letters()[before:]
    assert {d["error"] for d in letters} == {"ReceiptInvalidError"}
    reasons = " | ".join(d["reason"] for d in letters)
    for expected in ("not a consultation receipt", "differs from the message key", "registered"):
        assert expected in reasons
    wait_until(lambda: _drained(exchange), what="the worker to drain")
    assert len(consulted()) == 1  # the repeated receipt made no second record
    verified = exchange.cli("audit", "verify", ok=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
