"""Erasure by key destruction: commitments, subject keys, sealed fields, the erasure record."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.audit.chain import GENESIS, seal_record
from streams.audit.chain import verify_chain as verify
from streams.audit.records import reconcile
from streams.core.codec import Codec
from streams.core.crypto import SubjectLinker
from streams.core.disclosure import disclosure_digest, feed_entry, open_disclosure
from streams.core.erasure import (
    ERASURE,
    MAX_REASON,
    KeyLookup,
    check_erasure,
    commitment,
    erasure_notice,
    erasure_record,
    new_subject_key,
    open_field,
    received,
    seal_field,
)
from streams.errors import DecryptionError, ErasureOrderError, KeyFileError, SignatureError
from streams.formats.stix import bundle_text, report_id
from tests.unit.test_chain import KEY, KEYS, KID, NOW, SCHEMAS, pending

SECRET = bytes(range(32))
SUBJECT = "TJ-P-004211"
WHEN = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_commitment_is_keyed_stable_and_does_not_hold_the_id() -> None:
    """The same key and id give the same commitment; another key gives another, unlinkable
    one; the id appears nowhere in it."""
    key, other = new_subject_key(), new_subject_key()
    assert key != other
    first = commitment(key, SUBJECT)
    assert first == commitment(key, SUBJECT)
    assert re.fullmatch(r"sc-[a-z2-7]{26}", first)
    assert commitment(other, SUBJECT) != first
    assert commitment(key, "TJ-P-004212") != first
    assert SUBJECT.lower() not in first


def test_commitment_known_answer() -> None:
    """A fixed key and id give a fixed commitment and lookup (the constructions cannot drift:
    HMAC-SHA256 over the domain and id, 20 bytes in base32, checked by hand with hmac)."""
    assert commitment(bytes(32), SUBJECT) == "sc-vgu2p5pmknie2ckcn6kib23l7u"
    assert KeyLookup(SECRET)(SUBJECT) == "sk-24yptkraid4tvo354iu6vh33q2"


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_a_subject_key_of_the_wrong_size_is_refused(size: int) -> None:
    """Keys are 32 bytes, made so or refused, never padded or cut."""
    with pytest.raises(KeyFileError):
        commitment(bytes(size), SUBJECT)
    with pytest.raises(KeyFileError):
        new_subject_key(lambda n: bytes(size))


def test_key_lookup_hides_the_id_and_depends_on_the_secret() -> None:
    """The key topic's message key is an HMAC of the id under the exchange's secret."""
    lookup = KeyLookup(SECRET)
    name = lookup(SUBJECT)
    assert re.fullmatch(r"sk-[a-z2-7]{26}", name)
    assert name == KeyLookup(SECRET)(SUBJECT)
    assert name != KeyLookup(bytes(32))(SUBJECT)
    assert repr(lookup) == "KeyLookup()"
    with pytest.raises(KeyFileError):
        KeyLookup(b"short")


def test_a_sealed_field_opens_only_with_its_key_and_context() -> None:
    """The narrative sealed under a subject's key opens with it; with the key destroyed, a
    wrong key, another context or a flipped bit it does not, and the error says nothing."""
    key = new_subject_key()
    sealed = seal_field(key, b"canary-7f3a narrative", "event-1|narrative")
    assert b"canary" not in sealed
    assert open_field(key, sealed, "event-1|narrative") == b"canary-7f3a narrative"
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    for args in (
        (None, sealed, "event-1|narrative"),
        (new_subject_key(), sealed, "event-1|narrative"),
        (key, sealed, "event-2|narrative"),
        (key, flipped, "event-1|narrative"),
        (key, sealed[:12], "event-1|narrative"),
        (b"short", sealed, "event-1|narrative"),
    ):
        with pytest.raises(DecryptionError) as caught:
            open_field(*args)
        assert str(caught.value) == str(DecryptionError())


@pytest.mark.parametrize(
    ("subject", "reason", "named"),
    [
        ("", "court order 12", "--subject"),
        ("TJ P 1", "court order 12", "--subject"),
        ("../../etc", "court order 12", "--subject"),
        ("x" * 65, "court order 12", "--subject"),
        (None, "court order 12", "--subject"),
        (SUBJECT, "", "--reason"),
        (SUBJECT, "   ", "--reason"),
        (SUBJECT, "x" * (MAX_REASON + 1), "--reason"),
        (SUBJECT, "line\nbreak", "--reason"),
        (SUBJECT, "bidi \u202e override", "--reason"),
        (SUBJECT, "nul \x00", "--reason"),
    ],
)
def test_bad_erasure_orders_are_refused_naming_the_option(
    subject: object, reason: object, named: str
) -> None:
    """A malformed, oversized or hostile subject id or reason is refused, naming the option."""
    with pytest.raises(ErasureOrderError, match=named):
        check_erasure(subject, reason)


def test_a_good_erasure_order_passes() -> None:
    """An id as reports write it and a one-line reason pass, the reason trimmed."""
    assert check_erasure(SUBJECT, " order 2026/114 ") == (SUBJECT, "order 2026/114")


def test_erasure_record_names_the_subject_only_by_its_link_and_chains() -> None:
    """The erasure record holds the oversight link (so `audit query --subject X --link-key`
    finds it), never the id; it is chained and signed after disclosures, and the chain still
    verifies after an Avro round trip."""
    link = SubjectLinker(bytes(32))(SUBJECT)
    record = erasure_record(
        subject_link=link,
        recipient="kz-knb",
        reason="court order 12",
        notice_sha256=bytes(32),
        disclosures=["d-0"],
        now=WHEN,
    )
    assert record["kind"] == ERASURE
    assert record["subject_links"] == [link]
    assert SUBJECT not in repr(record)
    again = erasure_record(
        subject_link=link, recipient="kz-knb", reason="x", notice_sha256=b"", disclosures=[],
        now=WHEN,
    )  # fmt: skip
    assert again["disclosure_id"] == record["disclosure_id"]  # same erasure, same id
    other = erasure_record(
        subject_link=link, recipient="kg-gknb", reason="x", notice_sha256=b"", disclosures=[],
        now=WHEN,
    )  # fmt: skip
    assert other["disclosure_id"] != record["disclosure_id"]

    chained = []
    for i, entry in enumerate([pending(0), record, pending(2)]):
        prev = chained[-1]["hash"] if chained else GENESIS
        chained.append(
            seal_record(entry, sequence=i, prev_hash=prev, key_id=KID, signing_key=KEY, now=NOW)
        )
    assert verify(chained, KEYS) == 3
    codec = Codec(SCHEMAS, "intelshare.AuditRecord")
    assert verify([codec.decode(codec.encode(r)) for r in chained], KEYS) == 3
    assert codec.decode(codec.encode(chained[1]))["reason"] == "court order 12"


def _audited(
    ident: str, recipient: str, subjects: list[str], links: list[str], **extra: Any
) -> dict[str, Any]:
    return {
        "disclosure_id": ident, "recipient": recipient, "subjects": subjects,
        "subject_links": links, "kind": "disclosure",
    } | extra  # fmt: skip


def test_received_finds_each_recipient_and_the_form_it_got() -> None:
    """By commitment or by link (older records), each recipient's disclosures about the
    subject and the subject as it received it (pseudonym or id); other subjects, other
    recipients and earlier erasure records are left out."""
    records = [
        _audited("d1", "kz-knb", ["ps-aaa", "ps-bbb"], ["sc-other", "sc-mine"]),
        _audited("d2", "kz-knb", ["ps-bbb"], ["sc-mine"]),
        _audited("d3", "kg-gknb", [SUBJECT], ["sl-mine"]),
        _audited("d4", "tj-gkns", ["ps-zzz"], ["sc-other"]),
        _audited("e1", "kz-knb", [], ["sl-mine"], kind="erasure"),
        _audited("d5", "tj-gkns", [], [], kind=None),
    ]
    found = received(records, {"sc-mine", "sl-mine"})
    assert found == {"kz-knb": (["d1", "d2"], ["ps-bbb"]), "kg-gknb": (["d3"], [SUBJECT])}
    assert received(records, {"sc-none"}) == {}


def test_the_erasure_notice_opens_for_its_agency_only() -> None:
    """The notice is signed like a disclosure and opens with the agency's key: it names the
    subject as the agency received it, the disclosures and the reason; the erasure record
    names the notice by id and digest."""
    agency = X25519PrivateKey.generate()
    notice = erasure_notice(
        subject_link="sl-x", recipient="kz-knb", recipient_public=agency.public_key(),
        recipient_key_id="kid", signing_key=KEY, exchange_key_id=KID, subjects=["ps-bbb"],
        disclosures=["d1"], reason="court order 12", now=WHEN,
    )  # fmt: skip
    payload = open_disclosure(notice, agency, KEYS)
    assert payload == {
        "notice": "erasure",
        "subjects": ["ps-bbb"],
        "disclosures": ["d1"],
        "reason": "court order 12",
        "erased_at": "2026-11-28T12:00:00Z",
    }
    with pytest.raises(DecryptionError):
        open_disclosure(notice, X25519PrivateKey.generate(), KEYS)
    record = erasure_record(
        subject_link="sl-x", recipient="kz-knb", reason="court order 12",
        notice_sha256=disclosure_digest(notice), disclosures=["d1"], now=WHEN,
    )  # fmt: skip
    assert record["disclosure_id"] == notice["disclosure_id"]
    assert reconcile([record | {"sequence": 0}], [notice]) == []
    alone = erasure_record(
        subject_link="sl-x", recipient="", reason="r", notice_sha256=b"", disclosures=[],
        now=WHEN,
    )  # fmt: skip
    assert reconcile([alone | {"sequence": 1}], []) == []  # nobody to tell, no feed expected


@pytest.mark.parametrize(
    ("subject", "reason", "named"),
    [("../../etc/passwd", "order 12", "--subject"), (SUBJECT, "two\nlines", "--reason")],
)
def test_erase_refuses_a_bad_order_before_touching_anything(
    subject: str, reason: str, named: str, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """`intelshare erase` with a hostile id or reason exits non-zero naming the option, before
    it reads a key or connects to the broker (none is configured here)."""
    from streams.cli import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INTELSHARE_HOME", str(tmp_path))
        patch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        code = main(["erase", "--subject", subject, "--reason", reason])
    assert code == 2  # usage
    assert named in capsys.readouterr().err


def test_roll_waits_for_the_longest_of_segment_and_tombstone_lifetime() -> None:
    """`erase --roll` waits long enough for each append to roll the segment and, the second
    time, for the tombstones to be droppable: the catalogue's minute, and a margin."""
    from streams.kafka.erasure import roll_wait

    assert roll_wait() == 65.0


def test_the_erasure_notice_reads_as_its_own_kind_in_json_and_stix() -> None:
    """`consume` prints an erasure notice with "type": "erasure" (its kind is signed: changed
    to "disclosure" it no longer verifies), and as STIX a note on each report concerned."""
    agency = X25519PrivateKey.generate()
    notice = erasure_notice(
        subject_link="sl-x", recipient="kz-knb", recipient_public=agency.public_key(),
        recipient_key_id="kid", signing_key=KEY, exchange_key_id=KID, subjects=["ps-bbb"],
        disclosures=["d1", "d2"], reason="court order 12", now=WHEN,
    )  # fmt: skip
    entry = feed_entry(notice, open_disclosure(notice, agency, KEYS))
    assert entry["type"] == "erasure"
    with pytest.raises(SignatureError):
        open_disclosure(notice | {"kind": "disclosure"}, agency, KEYS)
    codec = Codec(SCHEMAS, "intelshare.Disclosure")
    assert codec.decode(codec.encode(notice))["kind"] == "erasure"
    bundle = json.loads(bundle_text(entry))
    (note,) = [o for o in bundle["objects"] if o["type"] == "note"]
    assert note["abstract"] == "erasure"
    assert "ps-bbb" in note["content"]
    assert "court order 12" in note["content"]
    assert note["object_refs"] == [report_id("d1"), report_id("d2")]
