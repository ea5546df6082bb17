"""One verification path: ``audit verify`` and the oversight page (and its API) agree, even on
a chain signed by a key after its retirement, which the page once called verified."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams import cli
from streams.audit.chain import GENESIS, seal_record
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.index import AuditIndex
from streams.audit.merkle import leaf_hash, tree_hash
from streams.audit.offline import export_trailer
from streams.audit.records import AuditFilter, export_row
from streams.audit.verify import key_hint, verify_log
from streams.cli.common import verification_keys
from streams.core.crypto import key_id
from streams.kafka.auditindex import Round
from streams.settings import Settings
from streams.web import app as web_app
from streams.web.indexpage import chain_status
from streams.web.page import render_page
from tests.factories import NOW

OLD = Ed25519PrivateKey.generate()
NEW = Ed25519PrivateKey.generate()
RETIRED_AT = NOW + timedelta(minutes=1)


def _kid(key: Ed25519PrivateKey) -> str:
    return key_id(key.public_key().public_bytes_raw())


def _pub(path: Path, key: Ed25519PrivateKey) -> None:
    path.write_text(base64.b64encode(key.public_key().public_bytes_raw()).decode() + "\n")


def chain(signers: list[tuple[Ed25519PrivateKey, timedelta]]) -> list[dict[str, Any]]:
    """Records signed by each (key, time after NOW) in turn."""
    out: list[dict[str, Any]] = []
    for i, (key, after) in enumerate(signers):
        pending = {
            "sequence": -1, "disclosure_id": f"d-{i}", "event_id": f"e-{i}",
            "agreement_id": "A", "agreement_version": 1, "recipient": "kz-knb",
            "purpose": "p", "legal_basis": "l", "fields_disclosed": ["event_id"],
            "subjects": [], "payload_sha256": bytes(32), "disclosure_sha256": bytes(32),
            "disclosed_at": NOW + after, "recorded_at": NOW, "prev_hash": b"", "hash": b"",
            "key_id": "", "signature": b"", "subject_links": [],
        }  # fmt: skip
        out.append(
            seal_record(
                pending,
                sequence=i,
                prev_hash=out[-1]["hash"] if out else GENESIS,
                key_id=_kid(key),
                signing_key=key,
                now=NOW + after,
            )
        )
    return out


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An exchange's keys folder after one rotation: the old key published and retired."""
    keys = tmp_path / "keys"
    keys.mkdir()
    _pub(keys / "exchange.pub", NEW)
    _pub(keys / f"exchange.{_kid(OLD)}.pub", OLD)
    (keys / f"exchange.{_kid(OLD)}.retired").write_text(RETIRED_AT.isoformat() + "\n")
    return tmp_path


FORGED = [(OLD, timedelta(0)), (NEW, timedelta(minutes=2)), (OLD, timedelta(minutes=3))]
SOUND = [(OLD, timedelta(0)), (NEW, timedelta(minutes=2))]


def _cli_verify(home: Path, records: list[dict[str, Any]], monkeypatch: Any) -> int:
    export = home / "export.jsonl"
    leaves = [leaf_hash(r["hash"]) for r in records]
    checkpoint = sign_checkpoint(
        tree_size=len(records), root_hash=tree_hash(leaves), head_hash=records[-1]["hash"],
        key_id=_kid(NEW), signing_key=NEW, now=NOW + timedelta(minutes=5),
    )  # fmt: skip  # an export ends with the signed checkpoint over its records
    rows = [*(export_row(r) for r in records), export_trailer(checkpoint)]
    export.write_text("".join(json.dumps(row) + "\n" for row in rows))
    monkeypatch.setenv("INTELSHARE_HOME", str(home))
    return cli.main(["audit", "verify", "--file", str(export)])


def _page_status(home: Path, records: list[dict[str, Any]], monkeypatch: Any) -> Any:
    """The page's status: the oversight index fed ``records`` (what a round reads)."""

    def refresh(settings: Settings, index: AuditIndex, now: Any = None) -> Round:
        return Round(index.add_records(list(enumerate(records)), NOW), 0, None)

    monkeypatch.setattr(web_app, "refresh_index", refresh)
    monkeypatch.setattr(web_app, "published_agreements", lambda settings: {})
    settings = Settings(home=home)
    feed = web_app.IndexFeed(settings, verification_keys(settings, None), home / "i.sqlite", {})
    state = feed.round()
    return state._replace(status=chain_status(state.status))


def test_a_record_signed_after_retirement_is_broken_for_cli_and_page(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The retired key's later signature breaks the chain at that record, for both."""
    records = chain(FORGED)
    assert _cli_verify(home, records, monkeypatch) == 1
    assert "BROKEN at sequence 2" in capsys.readouterr().out
    snapshot = _page_status(home, records, monkeypatch)
    assert not snapshot.status.sound
    assert snapshot.status.broken_at == 2
    assert "retired" in snapshot.status.detail
    page = re.sub("</?bdi>", "", render_page(records, None, snapshot.status, AuditFilter()))
    assert "BROKEN at sequence 2" in page


def test_a_sound_rotation_verifies_for_cli_and_page(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Records signed by the old key before its retirement and the new one after verify."""
    records = chain(SOUND)
    assert _cli_verify(home, records, monkeypatch) == 0
    assert "sound: 2 records" in capsys.readouterr().out
    assert _page_status(home, records, monkeypatch).status.sound


def test_retirement_travels_with_a_given_key_file(home: Path) -> None:
    """An oversight body given the old key file and its .retired file refuses the same."""
    keys = home / "keys"
    given = [str(keys / "exchange.pub"), str(keys / f"exchange.{_kid(OLD)}.pub")]
    status = verify_log(chain(FORGED), None, verification_keys(Settings(home=home), given))
    assert status.broken_at == 2


def test_an_unknown_key_is_named_as_a_key_problem(home: Path) -> None:
    """Checked with only the new key, the old records fail, and the hint says to check keys."""
    given = [str(home / "keys" / "exchange.pub")]
    status = verify_log(chain(SOUND), None, verification_keys(Settings(home=home), given))
    assert status.broken_at == 0
    assert status.key_problem
    assert "--exchange-key" in key_hint(status)
