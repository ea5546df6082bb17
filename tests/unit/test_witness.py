"""Witnesses: cosign a checkpoint only when the log only grew; verifiers that require their
cosignatures refuse a rewrite signed with the exchange's own key."""

from __future__ import annotations

import base64
import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams import cli
from streams.audit.checkpoint import make_proof, sign_checkpoint
from streams.audit.offline import export_trailer
from streams.audit.verify import VerificationKeys
from streams.audit.witness import (
    WitnessPolicy,
    cosign,
    cosignature_from_json,
    cosignature_json,
    cosigners,
    latest_cosigned,
    of_checkpoint,
    policy_problem,
    to_cosign,
)
from streams.cli import witness as witness_cli
from streams.core.crypto import key_id
from streams.errors import ChainBrokenError, InconsistentLogError, SignatureError
from streams.kafka import auditlog
from streams.kafka.users import Role, grants_for
from tests.factories import NOW
from tests.unit.test_checkpoint import KEY, KEYS, log
from tests.unit.test_consistency import _checkpoint, rewrite
from tests.unit.test_offline_export import lines, write

WITNESS = Ed25519PrivateKey.generate()
WID = key_id(WITNESS.public_key().public_bytes_raw())
TRUST = {WID: WITNESS.public_key()}
EXCHANGE = VerificationKeys(KEYS, {})


def test_a_cosignature_verifies_for_its_checkpoint_only() -> None:
    """A cosignature counts for the size and root it names, with the witness's key; not for
    another root, nor under a key that is not trusted."""
    records, checkpoint = log(6)
    cosignature = cosign(checkpoint, "w-one", WITNESS, NOW)
    assert cosigners(checkpoint, [cosignature], TRUST) == {WID: NOW}
    other = _checkpoint(rewrite(records, 2), 6)
    assert cosigners(other, [cosignature], TRUST) == {}
    assert cosigners(checkpoint, [cosignature], {}) == {}
    forged = dict(cosignature, tree_size=5)
    assert cosigners(_checkpoint(records, 5), [forged], TRUST) == {}
    again = cosignature_from_json(cosignature_json(cosignature), "x")
    assert cosigners(checkpoint, [again], TRUST) == {WID: NOW}


def test_policy_counts_distinct_trusted_witnesses() -> None:
    """Two cosignatures by one witness are one; the latest checkpoint with enough is found."""
    records, latest = log(9)
    older = _checkpoint(records, 5)
    both = [cosign(older, "w-one", WITNESS, NOW), cosign(older, "w-one", WITNESS, NOW)]
    policy = WitnessPolicy(TRUST, 1)
    assert policy_problem(older, both, policy) is None
    problem = policy_problem(latest, both, policy)
    assert problem is not None
    assert "has 0 of the 1 cosignatures required" in problem
    assert latest_cosigned([older, latest], both, policy) == older
    assert latest_cosigned([older, latest], both, WitnessPolicy(TRUST, 2)) is None
    assert of_checkpoint(older, both) == [cosignature_json(c) for c in both]
    assert of_checkpoint(latest, both) == []


def test_the_first_round_cosigns_every_checkpoint_that_matches_the_records() -> None:
    """With nothing kept, every signed checkpoint whose root the records give is cosigned,
    oldest first, a size signed twice once."""
    records, latest = log(10)
    signed = [_checkpoint(records, 4), _checkpoint(records, 7), latest, _checkpoint(records, 7)]
    wanted = to_cosign(None, signed, records, EXCHANGE)
    assert [c["tree_size"] for c in wanted] == [4, 7, 10]


def test_later_rounds_cosign_only_newer_checkpoints() -> None:
    """A kept checkpoint still a prefix of the log: only the newer ones are cosigned; with
    none newer, nothing."""
    records, latest = log(12)
    kept = _checkpoint(records, 7)
    signed = [_checkpoint(records, 3), kept, latest]
    assert [c["tree_size"] for c in to_cosign(kept, signed, records, EXCHANGE)] == [12]
    assert to_cosign(latest, signed, records, EXCHANGE) == []


def test_an_insider_rewrite_is_refused_naming_sizes_and_roots() -> None:
    """Record 3 changed, chain and a new checkpoint re-signed with the exchange's key: the
    witness that kept the checkpoint of 8 refuses, naming 8 and 12 and both roots."""
    records, _ = log(8)
    kept = _checkpoint(records, 8)
    rewritten = rewrite(records, 3, extra=4)
    new = _checkpoint(rewritten, 12)
    with pytest.raises(InconsistentLogError) as caught:
        to_cosign(kept, [kept, new], rewritten, EXCHANGE)
    error = caught.value
    assert (error.old_size, error.new_size) == (8, 12)
    assert (error.old_root, error.new_root) == (kept["root_hash"], new["root_hash"])
    assert "now hash to" in error.reason


def test_a_split_view_and_a_shrunk_log_are_refused() -> None:
    """A second checkpoint of the kept size with another root, a newer one whose root is not
    the records', or a log shorter than the kept checkpoint: each refused."""
    records, latest = log(10)
    kept = _checkpoint(records, 6)
    other = _checkpoint(rewrite(records, 1), 6)
    with pytest.raises(InconsistentLogError, match="give root"):
        to_cosign(kept, [kept, other, latest], records, EXCHANGE)
    rogue = _checkpoint(rewrite(records, 8), 10)
    with pytest.raises(InconsistentLogError, match="give root"):
        to_cosign(kept, [kept, rogue], records, EXCHANGE)
    with pytest.raises(InconsistentLogError, match="the log's end was cut off"):
        to_cosign(kept, [_checkpoint(records, 4)], records[:4], EXCHANGE)
    with pytest.raises(InconsistentLogError, match="fewer than the 6 records"):
        to_cosign(kept, [kept], records[:4], EXCHANGE)
    with pytest.raises(InconsistentLogError, match="more records than the log holds"):
        to_cosign(None, [latest], records[:8], EXCHANGE)


def test_a_checkpoint_or_record_the_exchange_did_not_sign_is_refused() -> None:
    """A checkpoint under another key, or a record whose content changed without re-signing,
    is refused before anything is cosigned."""
    records, latest = log(5)
    stranger = Ed25519PrivateKey.generate()
    forged = sign_checkpoint(
        tree_size=5, root_hash=latest["root_hash"], head_hash=latest["head_hash"],
        key_id=latest["key_id"], signing_key=stranger, now=NOW,
    )  # fmt: skip
    with pytest.raises(SignatureError):
        to_cosign(None, [forged], records, EXCHANGE)
    altered = [*records[:2], dict(records[2], recipient="x"), *records[3:]]
    with pytest.raises(ChainBrokenError):
        to_cosign(None, [latest], altered, EXCHANGE)


def test_witness_may_read_the_log_and_write_only_cosignatures() -> None:
    """The witness role reads intel.audit and its checkpoints and writes only cosignatures;
    the oversight role reads cosignatures."""
    grants = grants_for(Role.WITNESS, "w-one", "p.")
    topics: dict[str, set[str]] = {}
    for grant in grants:
        assert grant.resource == "topic"
        assert not grant.prefixed
        topics.setdefault(grant.name, set()).add(grant.operation)
    assert topics == {
        "p.intel.audit": {"read", "describe"},
        "p.intel.audit.checkpoints": {"read", "describe"},
        "p.intel.audit.cosignatures": {"write", "describe"},
    }
    oversight = grants_for(Role.OVERSIGHT, "body", "p.")
    assert {g.operation for g in oversight if g.name == "p.intel.audit.cosignatures"} == {
        "read", "describe"
    }  # fmt: skip


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home whose keys folder holds the exchange's public key and a witness's pair."""
    monkeypatch.setenv("INTELSHARE_HOME", str(tmp_path))
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "exchange.pub").write_text(
        base64.b64encode(KEY.public_key().public_bytes_raw()).decode() + "\n"
    )
    assert cli.main(["keys", "generate", "--witness", "w-one"]) == 0
    return folder


def test_keys_generate_witness_writes_a_private_pair(keys: Path) -> None:
    """NAME.witness.key is mode 0600 and never overwritten; bad names are refused."""
    assert stat.S_IMODE((keys / "w-one.witness.key").stat().st_mode) == 0o600
    assert (keys / "w-one.witness.pub").is_file()
    assert cli.main(["keys", "generate", "--witness", "w-one"]) == 2
    assert cli.main(["keys", "generate", "--witness", "../w"]) == 2
    assert cli.main(["keys", "generate", "--witness", "exchange-w"]) == 2


def _fake_log(
    monkeypatch: pytest.MonkeyPatch, records: list[dict[str, Any]], signed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Stand in for the broker: the records and checkpoints read, the cosignatures written."""
    written: list[dict[str, Any]] = []
    monkeypatch.setattr(auditlog, "audit_records", lambda settings: records)
    monkeypatch.setattr(auditlog, "checkpoints", lambda settings: signed)
    monkeypatch.setattr(
        auditlog, "publish_cosignatures", lambda settings, items: written.extend(items)
    )
    return written


def test_witness_run_cosigns_then_refuses_a_rewrite_and_keeps_its_state(
    keys: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Round one cosigns and keeps the checkpoint; after an insider rewrite the next round
    writes nothing, keeps the state and exits 1 naming both sizes and roots."""
    records, kept = log(8)
    run = ["witness", "run", "--key", str(keys / "w-one.witness.key"),
           "--state", str(tmp_path / "state"), "--once"]  # fmt: skip
    written = _fake_log(monkeypatch, records, [kept])
    assert cli.main(run) == 0
    assert [c["tree_size"] for c in written] == [8]
    assert "cosigned 1: up to the checkpoint of 8 records" in capsys.readouterr().out
    state = (tmp_path / "state" / "state.json").read_text()
    assert json.loads(state)["checkpoint"]["tree_size"] == 8

    rewritten = rewrite(records, 3, extra=4)
    new = _checkpoint(rewritten, 12)
    written = _fake_log(monkeypatch, rewritten, [kept, new])
    assert cli.main(run) == 1
    out = capsys.readouterr()
    assert written == []
    assert "REFUSED: the checkpoints disagree at size 8" in out.out
    assert new["root_hash"].hex() in out.out
    assert kept["root_hash"].hex() in out.out
    assert '"witness_refused"' in out.err
    assert (tmp_path / "state" / "state.json").read_text() == state


def _cosigned_proof(keys: Path, tmp_path: Path, cosigned: bool) -> Path:
    records, checkpoint = log(6)
    proof = make_proof(records[2], [r["hash"] for r in records], checkpoint)
    witness = witness_cli.load_ed25519_private(keys / "w-one.witness.key")
    proof["cosignatures"] = (
        of_checkpoint(checkpoint, [cosign(checkpoint, "w-one", witness, NOW)]) if cosigned else []
    )
    path = tmp_path / f"proof-{cosigned}.json"
    path.write_text(json.dumps(proof))
    return path


@pytest.mark.parametrize("cosigned", [True, False])
def test_check_proof_requires_cosignatures_when_asked(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], cosigned: bool
) -> None:
    """--min-cosignatures 1 with a witness key: a cosigned proof passes, one without fails
    (exit 1); without the options the uncosigned proof still passes."""
    proof = str(_cosigned_proof(keys, tmp_path, cosigned))
    wkey = str(keys / "w-one.witness.pub")
    code = cli.main(
        ["audit", "check-proof", proof, "--witness-key", wkey, "--min-cosignatures", "1"]
    )
    out = capsys.readouterr().out
    assert code == (0 if cosigned else 1), out
    assert ("cosigned by 1" in out) if cosigned else ("has 0 of the 1 cosignatures" in out)
    assert cli.main(["audit", "check-proof", proof]) == 0


def test_min_cosignatures_without_enough_witness_keys_is_a_usage_error(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Requiring more cosignatures than witness keys given cannot pass: exit 2, say why."""
    proof = str(_cosigned_proof(keys, tmp_path, True))
    assert cli.main(["audit", "check-proof", proof, "--min-cosignatures", "1"]) == 2
    assert "give at least as many witness public keys" in capsys.readouterr().err


def test_verify_file_requires_the_export_s_cosignatures_when_asked(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export whose checkpoint line carries the witness's cosignature verifies with
    --witness-key; the same export without it fails, naming the cosignatures missing."""
    records, checkpoint = log(7)
    witness = witness_cli.load_ed25519_private(keys / "w-one.witness.key")
    signed = lines(records, checkpoint)
    signed[-1] = export_trailer(
        checkpoint, of_checkpoint(checkpoint, [cosign(checkpoint, "w-one", witness, NOW)])
    )
    wkey = str(keys / "w-one.witness.pub")
    good = write(tmp_path / "good.jsonl", signed)
    assert cli.main(["audit", "verify", "--file", good, "--witness-key", wkey]) == 0
    assert "sound: 7 records" in capsys.readouterr().out
    bare = write(tmp_path / "bare.jsonl", lines(records, checkpoint))
    assert cli.main(["audit", "verify", "--file", bare, "--witness-key", wkey]) == 1
    assert "BROKEN: the checkpoint of 7 records has 0 of the 1" in capsys.readouterr().out


def _online_log(
    keys: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """What online ``audit verify`` reads, patched: a log of 9 records whose latest signed
    checkpoint covers all 9, and a checkpoint of the first 6 cosigned by witness w-one; no
    agreements, receipts or readable feeds. The records and the cosigned checkpoint."""
    from streams.cli import verify

    records, latest = log(9)
    cosigned = _checkpoint(records, 6)
    witness = witness_cli.load_ed25519_private(keys / "w-one.witness.key")
    monkeypatch.setattr(verify, "cosignatures", lambda s: [cosign(cosigned, "w-one", witness, NOW)])
    monkeypatch.setattr(verify, "checkpoints", lambda s: [cosigned, latest])
    monkeypatch.setattr(verify, "agreement_history", lambda s: [])
    monkeypatch.setattr(verify, "published_agreements", lambda s: {})
    monkeypatch.setattr(verify, "feed_disclosures", lambda s, recipients: None)
    monkeypatch.setattr(verify, "receipts", lambda s: ([], {}))
    monkeypatch.setattr(verify, "audit_records", lambda s: records)
    return records, cosigned


def test_online_verify_checks_the_log_against_the_latest_cosigned_checkpoint(
    keys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a witness key, verify names the cosigned checkpoint the log agrees with; with the
    log rewritten under it, BROKEN against that checkpoint."""
    from streams.cli import verify

    records, cosigned = _online_log(keys, monkeypatch)
    run = ["audit", "verify", "--witness-key", str(keys / "w-one.witness.pub")]
    assert cli.main(run) == 0
    out = capsys.readouterr().out
    assert "9 under the latest signed checkpoint" in out
    assert "6 under a checkpoint cosigned by 1 witness(es) given" in out

    rewritten = rewrite(records, 2)
    monkeypatch.setattr(verify, "audit_records", lambda s: rewritten)
    monkeypatch.setattr(verify, "checkpoints", lambda s: [cosigned, _checkpoint(rewritten, 9)])
    assert cli.main(run) == 1
    assert "BROKEN against the cosigned checkpoint of 6 records" in capsys.readouterr().out


def test_the_oversight_page_shows_each_trusted_witness_s_last_cosignature() -> None:
    """The page lists each witness given with the largest size it cosigned and when; a
    cosignature under an untrusted key or with a bad signature is not counted."""
    from streams.audit.records import AuditFilter
    from streams.audit.verify import verify_log
    from streams.audit.witness import witness_views
    from streams.web.page import render_page

    records, latest = log(6)
    stranger = Ed25519PrivateKey.generate()
    cosignatures = [
        cosign(_checkpoint(records, 3), "w-one", WITNESS, NOW),
        cosign(latest, "w-one", WITNESS, NOW),
        dict(cosign(latest, "w-one", WITNESS, NOW), tree_size=60),  # altered: does not verify
        cosign(latest, "w-two", stranger, NOW),  # not a witness given
    ]
    views = witness_views(cosignatures, TRUST)
    assert [(v.witness, v.tree_size) for v in views] == [("w-one", 6)]
    status = verify_log(records, latest, EXCHANGE)
    page = render_page(records, latest, status, AuditFilter(), witnesses=views)
    page = re.sub(r"</?bdi>|<time [^>]*>|</time>", "", page)
    assert f"w-one (key {WID}): cosigned 6 records at 2026-11-26T12:00:00Z" in page
    assert "none of the witnesses given" in render_page(
        records, latest, status, AuditFilter(), witnesses=[]
    )
    assert 'id="witnesses"' not in render_page(records, latest, status, AuditFilter())


def test_a_witness_state_and_a_cosigned_export_carry_into_a_consistency_proof(
    keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The witness's state.json serves as OLD; NEW's export carries the witness's cosignature
    into the consistency proof, which check-proof then accepts with --witness-key; that proof
    in turn serves as OLD for the next review."""
    records, latest = log(11)
    _fake_log(monkeypatch, records[:5], [_checkpoint(records, 5)])
    state = tmp_path / "state"
    key = str(keys / "w-one.witness.key")
    assert cli.main(["witness", "run", "--key", key, "--state", str(state), "--once"]) == 0
    witness = witness_cli.load_ed25519_private(keys / "w-one.witness.key")
    cosigned = of_checkpoint(latest, [cosign(latest, "w-one", witness, NOW)])
    new = write(
        tmp_path / "new.jsonl", [*lines(records, None)[:-1], export_trailer(latest, cosigned)]
    )
    proof = tmp_path / "consistency.json"
    assert (
        cli.main(["audit", "consistency", str(state / "state.json"), new, "--out", str(proof)]) == 0
    )
    wkey = str(keys / "w-one.witness.pub")
    assert cli.main(["audit", "check-proof", str(proof), "--witness-key", wkey]) == 0
    assert "cosigned by 1 or more" in capsys.readouterr().out
    assert cli.main(["audit", "consistency", str(proof), new]) == 0
    assert "the checkpoint of 11 records" in capsys.readouterr().out


SUMMARY_WORDS = re.compile(
    r"\b(sound|records?|chain|verified|under|signed|checkpoint|cosigned|witness|re-checked|"
    r"agreement|feeds?|reconciled|credential|operator|proven)\b"
)
"""The English words of `audit verify`'s and `audit check-proof`'s summaries: none may be
left in a translated one (the summary is assembled from whole translated clauses)."""


@pytest.mark.parametrize("locale", ["en", "ru", "ar", "ckb", "kk", "ky", "tg"])
def test_the_online_summary_is_whole_in_each_language(
    keys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], locale: str
) -> None:
    """`audit verify` with a witness key: in English the summary reads as it always has; in
    each shipped language every clause is translated (no English word is left), with the
    counts and the topic name kept."""
    from streams.i18n import use_locale

    _online_log(keys, monkeypatch)
    with use_locale(locale):
        assert cli.main(["audit", "verify", "--witness-key", str(keys / "w-one.witness.pub")]) == 0
    out, err = capsys.readouterr()
    if locale == "en":
        assert out == (
            "sound: 9 records, chain verified, 9 under the latest signed checkpoint, 6 under a "
            "checkpoint cosigned by 1 witness(es) given, 0 re-checked against their agreement "
            "version; the feeds were not reconciled: this credential may not read them (the "
            "exchange's operator can)\n"
        )
        assert err.startswith("note: 9 records name agreement versions that are not on")
        return
    assert not SUMMARY_WORDS.search(out), out
    assert not SUMMARY_WORDS.search(err.replace("intel.agreements.history", "")), err
    assert "9" in out
    assert "6" in out
    assert "intel.agreements.history" in err


@pytest.mark.parametrize("locale", ["ru", "ar", "ckb", "kk", "ky", "tg"])
def test_a_cosigned_proof_is_reported_whole_in_each_language(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], locale: str
) -> None:
    """`audit check-proof` with the cosignatures required: "proven: ..., cosigned by 1 or
    more of the witnesses given" is one translated message, not English glued on."""
    from streams.i18n import use_locale

    proof = str(_cosigned_proof(keys, tmp_path, True))
    wkey = str(keys / "w-one.witness.pub")
    with use_locale(locale):
        code = cli.main(
            ["audit", "check-proof", proof, "--witness-key", wkey, "--min-cosignatures", "1"]
        )
    out = capsys.readouterr().out
    assert code == 0, out
    tail = out.split("records", 1)[-1]  # the account itself comes from the core, in English
    assert not re.search(r"\b(proven|cosigned|witnesses|given)\b", out.split(":", 1)[0] + tail)
