"""Oversight logic: reconciliation, filters, statistics, and export rows that round-trip."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from streams.audit.chain import GENESIS, seal_record, verify_chain
from streams.audit.records import (
    AuditFilter,
    export_row,
    import_row,
    matches,
    reconcile,
    stats,
    to_csv,
)
from streams.core.crypto import key_id
from streams.core.disclosure import build_disclosure
from tests.factories import NOW
from tests.unit.core import enriched, make_agreement

KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key().public_bytes_raw())


def run(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """n disclosures and their chained audit records, as the exchange makes them."""
    feed, audit, head = [], [], GENESIS
    for i in range(n):
        disclosure, pending = build_disclosure(
            enriched(narrative=f"report {i}"), make_agreement(id=f"A-{i % 2}"),
            recipient_public=X25519PrivateKey.generate().public_key(), recipient_key_id="k",
            signing_key=KEY, exchange_key_id=KID, pseudonym_secret=bytes(32),
            now=NOW + timedelta(days=i % 3),
        )  # fmt: skip
        record = seal_record(
            pending, sequence=i, prev_hash=head, key_id=KID, signing_key=KEY, now=NOW
        )
        head = record["hash"]
        feed.append(disclosure)
        audit.append(record)
    return feed, audit


def test_matching_log_and_feeds_reconcile() -> None:
    """Every feed message audited once and nothing else: no discrepancy."""
    feed, audit = run(6)
    assert reconcile(audit, feed) == []


def test_missing_extra_duplicate_and_altered_feed_messages() -> None:
    """Each kind of disagreement is named with its sequence (None for an unaudited message)."""
    feed, audit = run(6)
    rogue = dict(feed[0], disclosure_id="rogue")
    altered = dict(feed[2], ciphertext=b"\x00" + feed[2]["ciphertext"][1:])
    found = reconcile(audit, [feed[0], feed[0], altered, feed[3], feed[4], feed[5], rogue])
    assert [(d.sequence, d.disclosure_id, d.reason) for d in found] == [
        (0, feed[0]["disclosure_id"], "is on the feed more than once"),
        (1, feed[1]["disclosure_id"], "is audited but missing from the feed of kz-knb"),
        (2, feed[2]["disclosure_id"], "differs on the feed from what its audit record names"),
        (None, "rogue", "is on the feed of kz-knb but has no audit record"),
    ]


def test_filters() -> None:
    """Each filter narrows the records; unset filters match everything."""
    _, audit = run(6)
    assert all(matches(r, AuditFilter()) for r in audit)
    assert [r["sequence"] for r in audit if matches(r, AuditFilter(agreement="A-1"))] == [1, 3, 5]
    day = AuditFilter(since=NOW + timedelta(days=1), until=NOW + timedelta(days=2))
    assert [r["sequence"] for r in audit if matches(r, day)] == [1, 4]
    assert not any(matches(r, AuditFilter(subject="TJ-P-004211")) for r in audit)  # pseudonymised
    alias = audit[0]["subjects"][0]
    assert all(matches(r, AuditFilter(subject=alias)) for r in audit)


def test_stats() -> None:
    """Counts per recipient, agreement and day add up to the total."""
    _, audit = run(6)
    figures = stats(audit)
    assert figures["disclosures"] == 6
    assert figures["per_agreement"] == {"A-0 v3": 3, "A-1 v3": 3}
    assert sum(figures["per_day"].values()) == 6


def test_export_rows_round_trip_and_still_verify() -> None:
    """An exported and re-imported log verifies with only the public key."""
    _, audit = run(5)
    rows = [export_row(r) for r in audit]
    back = [import_row(row, f"line {i}") for i, row in enumerate(rows, 1)]
    assert verify_chain(back, {KID: KEY.public_key()}) == 5


def test_csv_has_a_header_and_a_row_per_record() -> None:
    """CSV export: one header line, one line per record."""
    _, audit = run(3)
    lines = to_csv(export_row(r) for r in audit).splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("sequence,disclosure_id")
