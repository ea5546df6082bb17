"""Agreement history: each disclosure re-checked against the agreement version it names, kept
after later versions change the agreement."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from streams import cli
from streams.audit.chain import GENESIS, seal_record
from streams.audit.recheck import breach, recheck
from streams.cli import verify
from streams.core.policy import Agreement
from streams.kafka import registry
from streams.kafka.registry import AppliedVersion
from tests.factories import NOW
from tests.unit.core import make_agreement
from tests.unit.test_checkpoint import KEY, KID

V1 = make_agreement(version=1, valid_from="2026-01-01T00:00:00Z")
V2 = make_agreement(
    version=2,
    valid_from="2026-01-01T00:00:00Z",
    disclose=["event_id", "kind", "category"],
    pseudonymise=[],
)
VERSIONS = {(V1.id, 1): V1, (V2.id, 2): V2}


def record(i: int, agreement: Agreement, fields: list[str], **changes: Any) -> dict[str, Any]:
    """An audit record as the exchange writes it for a disclosure under ``agreement``."""
    return {
        "sequence": i, "disclosure_id": f"d-{i}", "event_id": f"e-{i}",
        "agreement_id": agreement.id, "agreement_version": agreement.version,
        "recipient": agreement.recipient, "purpose": agreement.purpose,
        "legal_basis": agreement.legal_basis, "fields_disclosed": fields, "subjects": [],
        "payload_sha256": bytes(32), "disclosure_sha256": bytes(32), "disclosed_at": NOW,
        "recorded_at": NOW, "prev_hash": b"", "hash": b"", "key_id": "", "signature": b"",
        "subject_links": [],
    } | changes  # fmt: skip


def test_a_disclosure_under_v1_still_verifies_after_v2_narrows_disclose() -> None:
    """The narrative went out under v1, which listed it; v2 no longer does, and that does
    not make the v1 disclosure a breach."""
    under_v1 = record(0, V1, ["event_id", "narrative"])
    assert breach(under_v1, V1) is None
    assert recheck([under_v1], VERSIONS) == (1, 0, None, "")


def test_a_record_claiming_v2_allowed_a_field_it_did_not_fails() -> None:
    """A forged record naming v2 for a disclosure of the narrative: named at its sequence."""
    records = [record(0, V1, ["event_id", "narrative"]), record(1, V2, ["event_id", "narrative"])]
    outcome = recheck(records, VERSIONS)
    assert outcome.breached_at == 1
    assert outcome.reason == (
        "disclosed narrative, which KZ-KNB-2026-01 v2 does not list in disclose"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"recipient": "kg-gknb"}, "went to kg-gknb, but KZ-KNB-2026-01 v1 names kz-knb"),
        ({"purpose": "curiosity"}, "another purpose or legal basis"),
        ({"disclosed_at": NOW.replace(year=2027)}, "outside the validity"),
    ],
    ids=["recipient", "purpose", "expired"],
)
def test_each_term_of_the_version_is_rechecked(changes: dict[str, Any], expected: str) -> None:
    """Recipient, purpose and legal basis, and the validity window are the version's."""
    problem = breach(record(0, V1, ["event_id"], **changes), V1)
    assert problem is not None
    assert expected in problem


def test_a_revoked_version_allowed_nothing() -> None:
    """A disclosure naming the version that revoked the agreement is a breach."""
    revoked = make_agreement(version=4, revoked=True)
    assert "revoked" in (breach(record(0, revoked, ["event_id"]), revoked) or "")


def test_versions_the_history_lacks_are_counted_not_failed() -> None:
    """A record naming a version applied before the history was kept is not re-checked."""
    outcome = recheck([record(0, make_agreement(version=7), ["event_id"])], VERSIONS)
    assert (outcome.checked, outcome.unknown, outcome.breached_at) == (0, 1, None)


def _applied(monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
    history = [AppliedVersion(V1, NOW), AppliedVersion(V2, NOW + timedelta(days=30))]
    monkeypatch.setattr(module, "agreement_history", lambda settings: history)


def test_agreements_history_prints_every_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line per version, oldest first, the older superseded; an unknown id exits 1."""
    _applied(monkeypatch, registry)  # `agreements history` imports it when it runs
    assert cli.main(["agreements", "history", "KZ-KNB-2026-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["v1", "v2"]
    assert "superseded" in lines[0]
    assert "disclose event_id,kind,category" in lines[1]
    assert cli.main(["agreements", "history", "NO-SUCH"]) == 1
    assert "no version of agreement NO-SUCH" in capsys.readouterr().err


def test_audit_verify_names_the_first_disclosure_its_version_did_not_allow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Online, a soundly signed chain with a record its agreement version did not allow is
    BROKEN at that record's sequence."""
    records: list[dict[str, Any]] = []
    for i, (version, fields) in enumerate([(V1, ["narrative"]), (V2, ["kind", "narrative"])]):
        prev = records[-1]["hash"] if records else GENESIS
        records.append(
            seal_record(
                record(i, version, fields),
                sequence=i,
                prev_hash=prev,
                key_id=KID,
                signing_key=KEY,
                now=NOW,
            )
        )
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "exchange.pub").write_text(
        base64.b64encode(KEY.public_key().public_bytes_raw()).decode()
    )
    monkeypatch.setenv("INTELSHARE_HOME", str(tmp_path))
    _applied(monkeypatch, verify)
    monkeypatch.setattr(verify, "published_agreements", lambda settings: {V2.id: V2})
    monkeypatch.setattr(verify, "checkpoints", lambda settings: [])
    monkeypatch.setattr(verify, "audit_records", lambda settings: records)
    assert cli.main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("BROKEN at sequence 1: disclosure d-1 disclosed narrative")
