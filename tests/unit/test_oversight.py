"""The oversight page, without a broker: chain status, filters, escaping, chart, cache."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.audit.chain import GENESIS, seal_record
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.merkle import leaf_hash, tree_hash
from streams.audit.records import AuditFilter, parse_filter
from streams.audit.verify import VerificationKeys, verify_log
from streams.core.crypto import key_id
from streams.errors import ConfigError
from streams.web.app import Snapshot, SnapshotCache
from streams.web.page import (
    chart_svg,
    disclosure_row,
    render_page,
)
from tests.factories import NOW

KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key().public_bytes_raw())
KEYS = {KID: KEY.public_key()}
VERIFY = VerificationKeys(KEYS, {})


def records(recipients: list[str]) -> list[dict[str, Any]]:
    """A sound chain with one disclosure per entry of ``recipients``, a minute apart."""
    chain: list[dict[str, Any]] = []
    for i, recipient in enumerate(recipients):
        pending = {
            "sequence": -1, "disclosure_id": f"d-{i}", "event_id": f"e-{i}",
            "agreement_id": f"A-{recipient}", "agreement_version": 2, "recipient": recipient,
            "purpose": "prevention", "legal_basis": "statute, art. 1",
            "fields_disclosed": ["event_id", "category"], "subjects": [f"ps-{i % 2}"],
            "payload_sha256": bytes(32), "disclosure_sha256": bytes(32),
            "disclosed_at": NOW + timedelta(minutes=i), "recorded_at": NOW, "prev_hash": b"",
            "hash": b"", "key_id": "", "signature": b"",
        }  # fmt: skip
        chain.append(
            seal_record(
                pending,
                sequence=i,
                prev_hash=chain[-1]["hash"] if chain else GENESIS,
                key_id=KID,
                signing_key=KEY,
                now=NOW,
            )
        )
    return chain


def checkpoint(chain: list[dict[str, Any]]) -> dict[str, Any]:
    return sign_checkpoint(
        tree_size=len(chain),
        root_hash=tree_hash([leaf_hash(r["hash"]) for r in chain]),
        head_hash=chain[-1]["hash"],
        key_id=KID,
        signing_key=KEY,
        now=NOW,
    )


def test_sound_chain_is_verified_against_its_checkpoint() -> None:
    """A sound log under a matching checkpoint is reported verified with its record count."""
    chain = records(["a", "b", "a"])
    status = verify_log(chain, checkpoint(chain), VERIFY)
    assert status.sound
    assert status.records == 3


def test_changed_record_is_reported_by_sequence() -> None:
    """A record changed after signing is reported with its sequence number."""
    chain = records(["a", "b", "a", "b"])
    chain[2] = dict(chain[2], recipient="c")
    status = verify_log(chain, None, VERIFY)
    assert not status.sound
    assert status.broken_at == 2


def test_cut_tail_is_found_against_the_checkpoint() -> None:
    """Records removed from the end are caught by the checkpoint, not by the chain."""
    chain = records(["a", "b", "a"])
    status = verify_log(chain[:2], checkpoint(chain), VERIFY)
    assert not status.sound
    assert "checkpoint" in status.detail


def test_filters_from_query_ignore_empty_values_and_refuse_bad_times() -> None:
    """Empty fields mean no filter; a time without a zone is a ConfigError."""
    wanted = parse_filter({"recipient": "a", "agreement": "", "since": "2026-11-01T00:00Z"})
    assert wanted.recipient == "a"
    assert wanted.agreement is None
    assert wanted.since is not None
    with pytest.raises(ConfigError, match="time zone"):
        parse_filter({"until": "2026-11-01T00:00"})


def test_page_counts_filters_and_shows_no_payload() -> None:
    """Counts are over the whole log; the table holds only the filtered disclosures."""
    chain = records(["a", "b", "a"])
    page = render_page(chain, checkpoint(chain), verify_log(chain, None, VERIFY), AuditFilter("a"))
    assert '<span id="total">3</span>' in page
    assert '<span id="shown">2</span>' in page
    assert page.count('<tr class="disclosure">') == 2
    assert '<td class="key">b</td><td class="count">1</td>' in page
    assert "A-a v2" in page
    assert "payload" not in page.lower().replace("/api/disclosures", "")


def test_everything_from_the_log_is_escaped() -> None:
    """A hostile value in the log appears as text, never as markup."""
    chain = records(["<script>alert(1)</script>"])
    page = render_page(chain, None, verify_log(chain, None, VERIFY), AuditFilter())
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_chart_has_a_bar_per_series_and_a_legend_with_totals() -> None:
    """Each series gets bars and a legend entry naming its total."""
    chain = records(["a", "b", "a"])
    svg = chart_svg("t", [(r["disclosed_at"], r["recipient"]) for r in chain])
    assert svg.startswith("<svg")
    assert svg.count("<rect") == 3 + 2  # three one-minute bars, two legend swatches
    assert "a: 2</text>" in svg
    assert "b: 1</text>" in svg
    assert "bars of 1 min" in svg
    assert chart_svg("empty", []).startswith("<svg")


def test_chart_of_a_long_span_uses_wider_bars() -> None:
    """Disclosures over months are drawn in bars of days, at most 30 of them."""
    points = [(NOW + timedelta(days=d), "a") for d in range(0, 120, 3)]
    svg = chart_svg("t", points)
    assert "bars of 7 d" in svg
    assert svg.count("<rect") <= 30 + 1


def test_row_has_a_received_column_and_no_digest() -> None:
    """The API row names agreement and basis, leaves receipt empty, and carries no digests."""
    row = disclosure_row(records(["a"])[0])
    assert row["received"] is None
    assert row["legal_basis"] == "statute, art. 1"
    assert "payload_sha256" not in row


def test_cache_reads_again_only_when_stale() -> None:
    """Requests within the interval share one read of the log."""
    reads: list[int] = []
    now = [0.0]

    def read() -> Snapshot:
        reads.append(1)
        return Snapshot([], None, verify_log([], None, VERIFY), {})

    async def scenario() -> None:
        cache = SnapshotCache(read, ttl=3.0, clock=lambda: now[0])
        await cache.get()
        now[0] = 2.0
        await cache.get()
        now[0] = 3.5
        await cache.get()

    asyncio.run(scenario())
    assert len(reads) == 2
