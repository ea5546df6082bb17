"""A witness on a real broker catches an insider's rewrite that the exchange's key alone hides.

No worker: the log is written as the sequencer writes it (records sealed and a checkpoint
signed with the exchange's key), then rewritten the way an insider holding that key could
(the topic emptied, record 3 changed, the chain and a new checkpoint re-signed).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from kafka import TopicPartition

from streams.audit.chain import GENESIS, seal_record
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.merkle import leaf_hash, tree_hash
from streams.core.codec import Codec
from streams.core.crypto import key_id
from streams.core.keyfiles import generate_signing_key, load_ed25519_private
from streams.kafka.clients import admin_client, publish, read_topic
from tests.factories import NOW
from tests.integration.exchange import SCHEMAS, Exchange

pytestmark = pytest.mark.integration


def _pending(i: int, recipient: str = "w-agency") -> dict[str, Any]:
    return {
        "sequence": -1, "disclosure_id": f"d-{i}", "event_id": f"e-{i}", "agreement_id": "W-1",
        "agreement_version": 1, "recipient": recipient, "purpose": "p", "legal_basis": "l",
        "fields_disclosed": ["event_id"], "subjects": [], "payload_sha256": bytes(32),
        "disclosure_sha256": bytes(32), "disclosed_at": NOW, "recorded_at": NOW,
        "prev_hash": b"", "hash": b"", "key_id": "", "signature": b"", "subject_links": [],
    }  # fmt: skip


def _write_log(x: Exchange, count: int, changed: int | None = None) -> dict[str, Any]:
    """Seal ``count`` records (record ``changed`` for another recipient) onto intel.audit and
    sign a checkpoint over them, with the exchange's key; returns the checkpoint."""
    key = load_ed25519_private(x.home / "keys" / "exchange.key")
    kid = key_id(key.public_key().public_bytes_raw())
    records: list[dict[str, Any]] = []
    for i in range(count):
        pending = _pending(i, "elsewhere" if i == changed else "w-agency")
        prev = records[-1]["hash"] if records else GENESIS
        records.append(
            seal_record(pending, sequence=i, prev_hash=prev, key_id=kid, signing_key=key, now=NOW)
        )
    checkpoint = sign_checkpoint(
        tree_size=count, root_hash=tree_hash([leaf_hash(r["hash"]) for r in records]),
        head_hash=records[-1]["hash"], key_id=kid, signing_key=key, now=NOW,
    )  # fmt: skip
    prefix = x.settings.topic_prefix
    audit = Codec(SCHEMAS, "intelshare.AuditRecord")
    publish(x.settings, prefix + "intel.audit", [(b"d", audit.encode(r)) for r in records])
    codec = Codec(SCHEMAS, "intelshare.Checkpoint")
    publish(x.settings, prefix + "intel.audit.checkpoints", [(b"c", codec.encode(checkpoint))])
    return checkpoint


def _empty_audit_topic(x: Exchange) -> None:
    topic = x.settings.topic_prefix + "intel.audit"
    end = len(read_topic(x.settings, topic))
    with admin_client(x.settings) as admin:
        admin.delete_records({TopicPartition(topic, 0): end}, timeout_ms=10_000)


def test_witness_refuses_an_insider_rewrite(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The witness cosigns the honest log; after the rewrite it refuses (exit 1, sizes and
    roots, state kept), `audit consistency 8 12` names size 8, an inclusion proof against the
    uncosigned checkpoint fails --min-cosignatures 1, and `audit verify` with the witness's key
    says BROKEN although every record and checkpoint carries a valid exchange signature."""
    x = Exchange(kafka_bootstrap, tmp_path_factory.mktemp("witness"), dict(os.environ))
    keys, state = x.home / "keys", x.home / "witness-state"
    generate_signing_key(keys, "w-one.witness")  # as `keys generate --witness w-one` does
    witness = ("witness", "run", "--key", str(keys / "w-one.witness.key"),
               "--state", str(state), "--once")  # fmt: skip
    require = ("--witness-key", str(keys / "w-one.witness.pub"), "--min-cosignatures", "1")
    honest = _write_log(x, 8)
    assert "cosigned 1: up to the checkpoint of 8 records" in x.cli(*witness).stdout
    kept = (state / "state.json").read_text()

    _empty_audit_topic(x)
    rewritten = _write_log(x, 12, changed=3)
    refused = x.cli(*witness, ok=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "REFUSED: the checkpoints disagree at size 8" in refused.stdout
    assert honest["root_hash"].hex() in refused.stdout
    assert rewritten["root_hash"].hex() in refused.stdout
    assert (state / "state.json").read_text() == kept

    consistency = x.cli("audit", "consistency", "8", "12", ok=False)
    assert consistency.returncode == 1
    assert "NOT CONSISTENT: the checkpoints disagree at size 8" in consistency.stdout

    proof = tmp_path_factory.mktemp("proof") / "proof.json"
    x.cli("audit", "prove", "d-3", "--out", str(proof))
    assert json.loads(proof.read_text())["cosignatures"] == []
    checked = x.cli("audit", "check-proof", str(proof), *require, ok=False)
    assert checked.returncode == 1
    assert "has 0 of the 1 cosignatures required" in checked.stdout

    verified = x.cli("audit", "verify", *require, ok=False)
    assert verified.returncode == 1
    assert "BROKEN against the cosigned checkpoint of 8 records" in verified.stdout
