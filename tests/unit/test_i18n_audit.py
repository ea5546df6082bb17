"""The audit core's details are whole translated sentences: each break of the hash chain, a log
checked against its signed checkpoint, two checkpoints that disagree, a consistency account and
the oversight index's split view are shown in every shipped locale with no English word left
(ids, hashes and numbers apart), while their English text, which tests and the README quote,
stays as it was."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.audit.chain import GENESIS
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.consistency import (
    check_consistency,
    make_consistency_proof,
    require_extension,
)
from streams.audit.index import AuditIndex
from streams.audit.merkle import leaf_hash, tree_hash
from streams.audit.records import export_row
from streams.audit.verify import VerificationKeys, verify_log
from streams.errors import ChainBrokenError, InconsistentLogError
from streams.i18n import localise, use_locale
from tests.factories import NOW
from tests.unit.test_chain import KEY, KEYS, KID, chain, link
from tests.unit.test_chain_edges import broken_at, rehashed
from tests.unit.test_checkpoint import KEY as LOG_KEY
from tests.unit.test_checkpoint import log
from tests.unit.test_offline_export import lines, verify, write

LOCALES = ["ru", "ar", "ckb", "kk", "ky", "tg"]
VERIFY = VerificationKeys(KEYS, {})


def _english(text: str, *kept: str) -> list[str]:
    """The Latin words of ``text`` once ids (``kept``), hashes and timestamps are taken out."""
    for word in (*kept, "prev_hash"):
        text = text.replace(word, "")
    text = re.sub(r"[0-9a-f]{16,}", "", text)
    return re.findall(r"[A-Za-z]{2,}", text)


def _checkpoint(records: list[dict[str, Any]], size: int, root: bytes | None = None) -> Any:
    return sign_checkpoint(
        tree_size=size, root_hash=root or tree_hash([leaf_hash(r["hash"]) for r in records[:size]]),
        head_hash=records[size - 1]["hash"], key_id=KID, signing_key=KEY, now=NOW,
    )  # fmt: skip


def _breaks() -> dict[str, ChainBrokenError]:
    records = chain(3)
    first = records[0]
    return {
        "missing": broken_at([first, records[2]]),
        "repeated": broken_at([first, records[1], first]),
        "inserted": broken_at([first, records[1], link(9, 0, GENESIS)]),
        "prev-hash": broken_at([first, rehashed(records[1], prev_hash=bytes(32))]),
        "content": broken_at([first | {"purpose": "other"}]),
        "signature": broken_at([rehashed(first, purpose="other")]),
        "unknown-key": broken_at([first], keys={}),
        "retired-key": broken_at([first], **{KID: NOW - timedelta(days=1)}),
        "second-record": broken_at([first, link(0, 1, first["hash"])]),
        "malformed": broken_at([first | {"sequence": "0"}]),
    }


@pytest.mark.parametrize("locale", LOCALES)
def test_every_break_of_the_chain_is_told_wholly_in_the_locale(locale: str) -> None:
    """`audit verify` in Russian (and the others) says where and why the chain broke without a
    word of English; the English is the sentence it always was."""
    for kind, error in _breaks().items():
        shown = localise(error, locale)
        assert _english(shown, KID) == [], (kind, shown)
        assert str(error).startswith("audit chain broken at sequence "), str(error)
        assert str(error.sequence) in shown


def test_the_english_of_a_break_is_unchanged() -> None:
    breaks = _breaks()
    assert str(breaks["missing"]) == (
        "audit chain broken at sequence 1: expected sequence 1, found 2: records are missing or "
        "out of order"
    )
    assert breaks["unknown-key"].reason == f"signed with unknown key {KID!r}"
    assert breaks["retired-key"].reason == f"signed with key {KID} after it was retired"


@pytest.mark.parametrize("locale", LOCALES)
def test_a_log_against_its_checkpoint_is_one_translated_sentence(locale: str) -> None:
    """Records cut off the end, or records that no longer give the signed root: the prefix
    naming the checkpoint and the problem are both in the locale."""
    records = chain(4)
    cut = verify_log(records[:3], _checkpoint(records, 4), VERIFY)
    assert cut.detail == (
        "against the checkpoint of 4 records: the log holds only 3: records were removed from "
        "its end"
    )
    moved = verify_log(records, _checkpoint(records, 4, root=bytes(32)), VERIFY)
    assert moved.detail.endswith("the first records do not hash to the signed root")
    sound = verify_log(records, _checkpoint(records, 4), VERIFY)
    for detail in (cut.detail, moved.detail, sound.detail):
        shown = localise(detail, locale)
        assert _english(shown) == [], shown
        assert shown != detail


@pytest.mark.parametrize("locale", LOCALES)
def test_disagreeing_checkpoints_and_a_consistency_account_are_translated(locale: str) -> None:
    """`audit consistency` and `check-proof`: the refusal, with its reason, and the account of
    two checkpoints (sizes, roots, times) that extend one another."""
    records, other = chain(4), [*chain(4)[:1], link(7, 1, GENESIS)]
    with pytest.raises(InconsistentLogError) as caught:
        require_extension(
            _checkpoint(other, 2), _checkpoint(records, 4), [r["hash"] for r in records]
        )
    assert "the checkpoints disagree at size 2" in str(caught.value)
    shown = localise(caught.value, locale)
    assert _english(shown) == [], shown
    proof = make_consistency_proof(
        _checkpoint(records, 2), _checkpoint(records, 4), [r["hash"] for r in records]
    )
    account = check_consistency(proof, KEYS)
    assert account.startswith("the checkpoint of 4 records (root ")
    assert " extends the checkpoint of 2 records (root " in account
    shown = localise(account, locale)
    assert _english(shown) == [], shown


def test_a_split_view_in_the_index_stays_translated_after_reopening(tmp_path: Path) -> None:
    """The index keeps a checkpoint's problem in English in its database; its status is
    translated both when the problem is found and after the index is opened again."""
    records = chain(3)
    path = tmp_path / "index.db"
    index = AuditIndex.open(path, VERIFY)
    index.add_checkpoints([(0, _checkpoint(records, 2))])
    index.add_checkpoints([(1, _checkpoint(records, 2, root=bytes(32)))])
    index.add_records(list(enumerate(records)), NOW)
    for shown in (index.status().detail, AuditIndex.open(path, VERIFY).status().detail):
        assert shown == (
            "against the checkpoint of 2 records: split view: two checkpoints of this size "
            "name different roots"
        )
        assert _english(localise(shown, "ru")) == [], localise(shown, "ru")


@pytest.fixture
def pub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The public key of :func:`tests.unit.test_checkpoint.log`'s exchange, in an empty home."""
    monkeypatch.setenv("INTELSHARE_HOME", str(tmp_path / "home"))
    path = tmp_path / "exchange.pub"
    path.write_text(base64.b64encode(LOG_KEY.public_key().public_bytes_raw()).decode() + "\n")
    return str(path)


def test_audit_verify_file_prints_a_tampered_copy_wholly_in_russian(
    tmp_path: Path, pub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command an oversight body runs on a copy: the changed record and the copy without a
    checkpoint are each named in Russian, with no English word but the command to run."""
    records, checkpoint = log(4)
    changed = [*records[:2], records[2] | {"purpose": "other"}, records[3]]
    copy = tmp_path / "copy.jsonl"
    for rows, english in (
        (lines(changed, checkpoint), "BROKEN at sequence 2: the record's content does not match"),
        ([export_row(r) for r in records], "BROKEN the copy holds records but no signed"),
    ):
        path = write(copy, rows)
        assert english in verify(path, pub, capsys)[1]
        with use_locale("ru"):
            code, out = verify(path, pub, capsys)
        assert code == 1
        shown = out.splitlines()[0]
        assert shown.startswith("НАРУШЕНО"), shown
        assert _english(shown.replace("intelshare audit export", "")) == [], shown
