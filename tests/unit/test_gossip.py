"""Receipts that gossip: each names the signed checkpoint the agency verified, so the log an
agency was shown can be compared with the log oversight reads."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.audit.receipts import make_receipt, received_times, split_views
from streams.core.codec import record_codec
from streams.kafka import consume
from streams.settings import PROJECT_ROOT, Settings
from tests.factories import NOW
from tests.unit.test_checkpoint import log
from tests.unit.test_consistency import _checkpoint, rewrite

AGENCY = Ed25519PrivateKey.generate()
REGISTERED = {"kz-knb": AGENCY.public_key().public_bytes_raw()}


def test_a_receipt_names_its_checkpoint_under_its_signature() -> None:
    """The size and root are signed: changing either breaks the receipt; a receipt naming no
    checkpoint is signed as before (v1 receipts still verify)."""
    _, checkpoint = log(5)
    receipt = make_receipt("d-1", "kz-knb", AGENCY, NOW, checkpoint)
    assert (receipt["checkpoint_size"], receipt["checkpoint_root"]) == (
        5, checkpoint["root_hash"]
    )  # fmt: skip
    assert received_times([receipt], REGISTERED) == {"d-1": NOW}
    assert received_times([dict(receipt, checkpoint_size=4)], REGISTERED) == {}
    assert received_times([dict(receipt, checkpoint_root=bytes(32))], REGISTERED) == {}
    plain = make_receipt("d-2", "kz-knb", AGENCY, NOW)
    assert plain["checkpoint_size"] == 0
    assert received_times([plain], REGISTERED) == {"d-2": NOW}


def test_receipts_round_trip_through_avro_v2_and_v1_still_reads() -> None:
    """A v2 receipt survives its codec; a v1 receipt reads with checkpoint_size 0 and still
    verifies."""
    codec = record_codec(PROJECT_ROOT / "schemas", "Receipt")
    _, checkpoint = log(3)
    receipt = make_receipt("d-1", "kz-knb", AGENCY, NOW, checkpoint)
    assert codec.decode(codec.encode(receipt)) == receipt
    from streams.core.codec import Codec
    from streams.core.schemas import SchemaSet

    old = Codec(SchemaSet.from_directory(PROJECT_ROOT / "schemas"), "intelshare.Receipt", version=1)
    plain = make_receipt("d-2", "kz-knb", AGENCY, NOW)
    v1 = {k: v for k, v in plain.items() if not k.startswith("checkpoint_")}
    read = codec.decode(old.encode(v1))
    assert read["checkpoint_size"] == 0
    assert received_times([read], REGISTERED) == {"d-2": NOW}


def test_a_split_view_is_exposed_by_a_receipt() -> None:
    """An agency shown a rewritten log (its checkpoint of 6 has another root) or a longer one
    than oversight reads: each named; receipts agreeing with the log, or unverified, are not."""
    records, _ = log(10)
    hashes = [r["hash"] for r in records]
    honest = make_receipt("d-1", "kz-knb", AGENCY, NOW, _checkpoint(records, 6))
    forked = make_receipt("d-2", "kz-knb", AGENCY, NOW, _checkpoint(rewrite(records, 2), 6))
    longer = make_receipt("d-3", "kz-knb", AGENCY, NOW, _checkpoint(rewrite(records, 9, 3), 13))
    stranger = make_receipt("d-4", "kz-knb", Ed25519PrivateKey.generate(), NOW, _checkpoint(
        rewrite(records, 2), 6
    ))  # fmt: skip
    found = split_views([honest, forked, longer, stranger], REGISTERED, hashes)
    assert len(found) == 2
    assert found[0].startswith("agency kz-knb opened disclosure d-2 having verified a checkpoint")
    assert "the log's first 6 records hash to" in found[0]
    assert "split view" in found[0]
    assert "the log holds only 10 records" in found[1]


def test_the_receipt_sender_names_a_verified_checkpoint_or_none(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint a receipt names must verify with the exchange keys at hand; one that
    does not (or none readable) leaves the receipt naming none."""
    import base64

    from tests.unit.test_checkpoint import KEY

    _, checkpoint = log(4)
    keys = tmp_path / "keys"
    keys.mkdir()
    settings = Settings(home=tmp_path)
    monkeypatch.setattr(consume, "latest_checkpoint", lambda s: checkpoint)
    assert consume.seen_checkpoint(settings) is None  # no exchange key: not verified
    (keys / "exchange.pub").write_text(
        base64.b64encode(KEY.public_key().public_bytes_raw()).decode()
    )
    assert consume.seen_checkpoint(settings) == checkpoint
    monkeypatch.setattr(consume, "latest_checkpoint", lambda s: dict(checkpoint, tree_size=9))
    assert consume.seen_checkpoint(settings) is None


def test_audit_verify_says_broken_when_a_receipt_shows_a_split_view(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Online, a sound chain with a receipt naming another root at a size: BROKEN, exit 1."""
    import base64

    from streams import cli
    from streams.cli import verify
    from tests.unit.test_checkpoint import KEY

    records, latest = log(8)
    forked = make_receipt("d-2", "kz-knb", AGENCY, NOW, _checkpoint(rewrite(records, 1), 5))
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "exchange.pub").write_text(
        base64.b64encode(KEY.public_key().public_bytes_raw()).decode()
    )
    monkeypatch.setenv("INTELSHARE_HOME", str(tmp_path))
    monkeypatch.setattr(verify, "audit_records", lambda s: records)
    monkeypatch.setattr(verify, "checkpoints", lambda s: [latest])
    monkeypatch.setattr(verify, "agreement_history", lambda s: [])
    monkeypatch.setattr(verify, "published_agreements", lambda s: {})
    monkeypatch.setattr(verify, "receipts", lambda s: ([forked], REGISTERED))
    assert cli.main(["audit", "verify"]) == 1
    assert "BROKEN: agency kz-knb opened disclosure d-2" in capsys.readouterr().out
